"""Two connections write consecutive batches at once (PostgreSQL, outside a transaction): the outcome must be that
of writing the batches one after the other. These tests commit (transaction=True), as an import does."""

import threading
import time

import pytest
from django.db import connection

from adapters.models import NetworkAdapter
from devices.models import Device
from tests.commands.conftest import jsonl
from tests.factories import imei_from
from transfer.importing import writing

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="one writer elsewhere"),
]


def test_writes_are_concurrent_outside_a_transaction(run_import, monkeypatch):
    threads = set()
    write_batch = writing._write_batch

    def recording(*args):
        threads.add(threading.current_thread().name)
        return write_batch(*args)

    monkeypatch.setattr(writing, "_write_batch", recording)
    run_import(jsonl(*({"id": f"d-{n}"} for n in range(40))), batch_size=5)

    assert len(threads) == writing.WRITERS and Device.objects.count() == 40


def test_the_earlier_of_two_rows_with_one_id_lands_whichever_batch_is_written_first(run_import):
    # Every id comes twice, in consecutive batches of two rows: a writer must wait for the batch before its own.
    rows = [{"id": f"d-{n // 4}-{n % 2}", "alias": f"line {n + 1}"} for n in range(200)]

    run = run_import(jsonl(*rows), batch_size=2)

    assert run.failed_lines == [n + 1 for n in range(200) if n % 4 >= 2]
    assert all("already exists" in failure["reason"] for failure in run.failures)
    assert dict(Device.objects.values_list("id", "alias")) == {
        row["id"]: row["alias"] for n, row in enumerate(rows) if n % 4 < 2
    }


def test_the_earlier_of_two_rows_with_one_imei_gets_the_adapter(run_import):
    rows = [{"id": f"d-{n}", "imei": imei_from(f"35{n // 2:012d}")} for n in range(100)]  # pairs share an IMEI

    run = run_import(jsonl(*rows), batch_size=1)

    assert run.failed_lines == list(range(2, 101, 2))
    assert sorted(NetworkAdapter.objects.values_list("device_id", flat=True)) == sorted(
        f"d-{n}" for n in range(0, 100, 2)
    )
    assert Device.objects.count() == 50


def test_a_failing_batch_rolls_back_the_later_one_written_meanwhile(run_import, monkeypatch):
    write_batch, calls = writing._write_batch, []

    def failing_second(batch, *args):
        calls.append(batch[0].line)
        outcomes = write_batch(batch, *args)
        if batch[0].line == 11:
            time.sleep(0.5)  # the next batch is written meanwhile, and waits for this one to commit
            raise RuntimeError("the disk is full")
        return outcomes

    monkeypatch.setattr(writing, "_write_batch", failing_second)
    with pytest.raises(RuntimeError, match="the disk is full"):
        run_import(jsonl(*({"id": f"d-{n}"} for n in range(1, 101))), batch_size=10)

    assert 21 in calls  # the third batch was written meanwhile, then rolled back
    assert sorted(Device.objects.values_list("id", flat=True)) == sorted(f"d-{n}" for n in range(1, 11))


def test_an_upsert_writes_one_batch_at_a_time(run_import, monkeypatch):
    threads = set()
    write_batch = writing._write_batch

    def recording(*args):
        threads.add(threading.current_thread().name)
        return write_batch(*args)

    monkeypatch.setattr(writing, "_write_batch", recording)
    run_import(jsonl(*({"id": f"d-{n}"} for n in range(40))), batch_size=5, mode="upsert")

    assert threads == {threading.main_thread().name} and Device.objects.count() == 40
