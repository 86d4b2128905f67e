"""Requests of one key that arrive together are counted one after the other: no more of them pass than the rate
allows, whether the counts live in the process (`local`) or in the database, shared by every process and server.

The cache's reads are slowed down, as a loaded database's are, so that requests arriving together would all read
the key's history before any of them wrote it back, were the count not held from the read to the write."""

import time

import pytest
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.management import call_command
from django.db import connection

from tests.api.test_throttling import DATABASE_CACHES
from tests.concurrency import run_concurrently
from tests.conftest import API

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
LIMIT = 3


def slow_reads(monkeypatch, backend) -> None:
    read = backend.get

    def slow_read(self, *args, **kwargs):
        value = read(self, *args, **kwargs)
        time.sleep(0.05)
        return value

    monkeypatch.setattr(backend, "get", slow_read)


def statuses_of_requests_arriving_together(plaintext: str) -> list[int]:
    statuses = []
    errors = run_concurrently(lambda client, index: statuses.append(client.get(f"{API}/devices").status_code),
                              plaintext, THREADS)  # fmt: skip
    assert not errors, errors
    return sorted(statuses)


def test_requests_arriving_together_in_one_process_pass_no_more_than_the_rate(api_key, settings, monkeypatch):
    settings.DEVMANAGER_THROTTLE_RATE = f"{LIMIT}/minute"
    slow_reads(monkeypatch, LocMemCache)

    statuses = statuses_of_requests_arriving_together(api_key())

    assert statuses == [200] * LIMIT + [429] * (THREADS - LIMIT)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent connections need PostgreSQL")
def test_requests_arriving_together_counted_in_the_database_pass_no_more_than_the_rate(api_key, settings, monkeypatch):
    settings.CACHES = DATABASE_CACHES
    call_command("createcachetable", verbosity=0)
    caches["throttle"].clear()
    settings.DEVMANAGER_THROTTLE_RATE = f"{LIMIT}/minute"
    slow_reads(monkeypatch, DatabaseCache)

    statuses = statuses_of_requests_arriving_together(api_key())

    assert statuses == [200] * LIMIT + [429] * (THREADS - LIMIT)
