"""Long polling (`wait=`, contract section 7): with nothing after the position, the request is held until an event
commits or the time is up, holding no database connection while it waits."""

import threading
import time

import pytest
from django.conf import settings
from django.db import connection, connections
from rest_framework.test import APIClient

from devices import services
from tests.conftest import API, assert_error

EVENTS = f"{API}/events"


def client_for(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


@pytest.mark.django_db
def test_nothing_new_answers_an_empty_page_when_the_time_is_up(api_client):
    services.device_create(id="d-1", source="test")
    bookmark = api_client.get(EVENTS).json()["next"]
    started = time.monotonic()

    page = api_client.get(EVENTS, {"bookmark": bookmark, "wait": "1"}).json()

    assert page["list"] == [] and page["next"]
    assert time.monotonic() - started >= 0.9


@pytest.mark.django_db
@pytest.mark.parametrize("wait", ["31", "-1", "1.5", "soon"])
def test_wait_out_of_range_is_400(api_client, wait):
    assert_error(api_client.get(EVENTS, {"wait": wait}), 400, "validation_error", "wait")


@pytest.mark.django_db(transaction=True)
def test_a_waiting_request_answers_when_an_event_commits(api_key):
    client = client_for(api_key())
    bookmark = client.get(EVENTS).json()["next"]
    answers = []

    def follow():
        try:
            answers.append(client.get(EVENTS, {"bookmark": bookmark, "wait": "20"}).json())
        finally:
            connections.close_all()

    follower = threading.Thread(target=follow)
    started = time.monotonic()
    follower.start()
    time.sleep(0.5)
    services.device_create(id="late", source="test")
    follower.join(timeout=30)

    assert [event["subject"] for event in answers[0]["list"]] == ["late"]
    assert time.monotonic() - started < 15  # woken by the commit, not by the time running out


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's connections")
def test_waiting_requests_hold_no_database_connection(api_key):
    plaintext = api_key()
    bookmark = client_for(plaintext).get(EVENTS).json()["next"]
    waiters = 12

    def follow():
        try:
            client_for(plaintext).get(EVENTS, {"bookmark": bookmark, "wait": "5"})
        finally:
            connections.close_all()

    threads = [threading.Thread(target=follow) for _ in range(waiters)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)  # all of them waiting by now
    # Behind PgBouncer its pool keeps server sessions open, idle, whoever waits: those in use are what counts.
    in_use = " AND state <> 'idle'" if settings.DATABASE_POOLER else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database(){in_use}")
        held = cursor.fetchone()[0]
    services.device_create(id="wake-up", source="test")
    for thread in threads:
        thread.join(timeout=30)

    assert held <= 3  # this test's, the process's listener, and perhaps one request between two looks
