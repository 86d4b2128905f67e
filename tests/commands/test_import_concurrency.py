"""Two connections write consecutive batches at once (PostgreSQL, outside a transaction): the outcome must be that
of writing the batches one after the other. These tests commit (transaction=True), as an import does."""

import threading

import pytest
from django.db import connection

from adapters.models import NetworkAdapter
from devices.models import Device
from tests.commands.conftest import jsonl
from tests.factories import imei_from
from transfer.importing import BatchWriter
from transfer.importing.ordered_writes import WRITERS

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="one writer elsewhere"),
]


def thread_recording(threads: set) -> type[BatchWriter]:
    """A batch writer that records the threads that write."""

    class ThreadRecording(BatchWriter):
        def write(self, rows):
            threads.add(threading.current_thread().name)
            return super().write(rows)

    return ThreadRecording


def test_writes_are_concurrent_outside_a_transaction(run_import):
    threads = set()

    run_import(
        jsonl(*({"id": f"d-{n}"} for n in range(40))), batch_size=5, batch_writer_class=thread_recording(threads)
    )

    assert len(threads) == WRITERS and Device.objects.count() == 40


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


def test_a_failing_batch_rolls_back_the_later_one_written_meanwhile(run_import):
    third_written = threading.Event()

    class FailingSecondBatch(BatchWriter):
        """The second batch (lines 11 to 20) fails once the third is written and waits for it to commit."""

        def write(self, rows):
            outcomes = super().write(rows)
            if rows[0].line == 21:
                third_written.set()
            if rows[0].line == 11:
                assert third_written.wait(timeout=60), "the third batch was never written meanwhile"
                raise RuntimeError("the disk is full")
            return outcomes

    with pytest.raises(RuntimeError, match="the disk is full"):
        run_import(jsonl(*({"id": f"d-{n}"} for n in range(1, 101))), batch_size=10,
                   batch_writer_class=FailingSecondBatch)  # fmt: skip

    assert sorted(Device.objects.values_list("id", flat=True)) == sorted(f"d-{n}" for n in range(1, 11))


def test_an_upsert_writes_one_batch_at_a_time(run_import):
    threads = set()

    run_import(jsonl(*({"id": f"d-{n}"} for n in range(40))), batch_size=5, mode="upsert",
               batch_writer_class=thread_recording(threads))  # fmt: skip

    assert threads == {threading.main_thread().name} and Device.objects.count() == 40
