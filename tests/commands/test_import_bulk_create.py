"""How an import COPYs a batch of new devices on PostgreSQL (transfer.importing.BatchWriter): at once, a conflict
rolling the batch back to be judged row by row, and without foreign-key checks when the database role may skip
them. These tests commit (transaction=True): the checks would run at commit."""

import pytest
from django.db import connection, transaction

from adapters.models import NetworkAdapter
from devices.models import Device, DeviceEvent
from devmanager import bulk
from tests.commands.conftest import jsonl
from tests.factories import DeviceFactory, NetworkAdapterFactory, imei_from
from transfer.importing import BatchWriter

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY and session_replication_role are PostgreSQL's"),
]


def key_share_locked_devices() -> int:
    """Devices whose row a foreign-key check locked (FOR KEY SHARE leaves the checking transaction in xmax)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM devices_device WHERE xmax::text <> '0'")
        return cursor.fetchone()[0]


def rows(count: int) -> str:
    return jsonl(*({"id": f"d-{n}", "imei": imei_from(f"35{n:012d}")} for n in range(count)))


def test_reference_checks_are_skipped_when_the_role_may(run_import):
    assert bulk.may_skip_reference_checks()  # the suite connects as a superuser

    run = run_import(rows(30), batch_size=10)

    assert run.error is None and Device.objects.count() == 30
    assert DeviceEvent.objects.filter(device__isnull=False).count() == 30
    assert NetworkAdapter.objects.filter(device__isnull=False).count() == 30
    assert key_share_locked_devices() == 0


class CheckingReferences(BatchWriter):
    """A batch writer as for a role that may not skip the foreign-key checks."""

    def __init__(self, **kwargs):
        super().__init__(check_references=True, **kwargs)


def test_reference_checks_run_when_the_role_may_not(run_import):
    run = run_import(rows(30), batch_size=10, batch_writer_class=CheckingReferences)

    assert run.error is None and Device.objects.count() == 30
    assert key_share_locked_devices() == 30  # each device's event and adapter were checked against it


def test_a_role_without_the_privilege_may_not_skip_reference_checks():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE ROLE devmanager_plain_role NOLOGIN")
        cursor.execute("SET LOCAL ROLE devmanager_plain_role")
        assert not bulk.may_skip_reference_checks()
        transaction.set_rollback(True)


def test_reference_checks_are_back_on_after_the_copy_in_the_same_transaction(run_import):
    # Inside a transaction the import writes on this connection, and the setting would last until the commit.
    with transaction.atomic(), connection.cursor() as cursor:
        run = run_import(rows(5), batch_size=5)
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"
    assert run.error is None and Device.objects.count() == 5


def test_a_conflict_late_in_a_batch_rolls_the_copy_back_and_later_batches_are_checked_first(run_import):
    DeviceFactory(id="d-9")  # the last row of the first batch
    NetworkAdapterFactory(device=DeviceFactory(id="other"), imei=imei_from("35000000000015"))  # in the second
    checked_first = []

    class Recording(BatchWriter):
        def create_prepared(self, rows):
            checked_first.append(self.check_first)
            return super().create_prepared(rows)

    run = run_import(rows(30), batch_size=10, mode="skip", batch_writer_class=Recording)

    assert run.failed_lines == [16]
    assert "another device's adapter has imei" in run.reason(16)
    assert Device.objects.filter(id__startswith="d-").count() == 29  # d-9 skipped, d-15 failed
    assert DeviceEvent.objects.filter(device__id__startswith="d-").count() == 29  # 28 imported, and d-9's own
    assert checked_first[0] is False and checked_first[-1] is True


def test_a_role_granted_set_on_session_replication_role_may_skip_reference_checks():
    if connection.pg_version < 150000:
        pytest.skip("GRANT SET ON PARAMETER is PostgreSQL 15's")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE ROLE devmanager_granted_role NOLOGIN")
        cursor.execute("GRANT SET ON PARAMETER session_replication_role TO devmanager_granted_role")
        cursor.execute("SET LOCAL ROLE devmanager_granted_role")
        assert bulk.may_skip_reference_checks()
        transaction.set_rollback(True)
