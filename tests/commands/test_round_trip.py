import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from adapters.models import NetworkAdapter
from devices import services
from devices.models import Device, DeviceEvent
from tests.commands.conftest import database_state, jsonl
from tests.factories import DeviceFactory, NetworkAdapterFactory, imei_from
from transfer.importing import BatchWriter

ROOT = Path(__file__).resolve().parents[2]


def wipe() -> None:
    Device.objects.all().delete()  # events and adapters cascade


def fleet() -> None:
    """Devices in every state an export has to carry: identity slots, decommissioned, adapters, awkward text."""
    DeviceFactory(id="plain", tags=[], metadata={}, alias="", icon="", icon_color="", dms_owner="")
    DeviceFactory(id="tagged", tags=["a;b", " padded", "[x", "Ünï"], alias='quote " and, comma', metadata={
        "nested": {"list": [1, 2.5, None, True, "é\n"]}, "big": 12345678901234567890})  # fmt: skip
    DeviceFactory(id="provisioned")
    services.device_set_identity_slot(device_id="provisioned", source="t", status="RENEWAL_WINDOW", active_version=3,
                                      type="TOKEN", versions={"3": {"k": "v"}})  # fmt: skip
    DeviceFactory(id="retired")
    services.device_set_identity_slot(device_id="retired", source="t", status="ACTIVE", active_version=0, type="X509")
    services.device_decommission(device_id="retired", source="t")
    adapters = DeviceFactory(id="adapters")
    NetworkAdapterFactory(device=adapters, type="cellular")
    NetworkAdapterFactory(device=adapters, type="lora")
    NetworkAdapterFactory(device=adapters, type="generic")


def devices_as_stored() -> dict:
    """Every device field an export carries (not `version`, the ETag's counter, nor the history), and adapters."""
    state = database_state()
    devices = {device_id: {**device, "version": None} for device_id, device in state["devices"].items()}
    adapters = (state["adapters"], state["dvn_uuids"])
    return {"devices": devices, "adapters": adapters}


@pytest.mark.django_db
@pytest.mark.parametrize("format", ["jsonl", "csv"])
def test_an_export_imports_back_into_an_empty_database_unchanged(tmp_path, format):
    fleet()
    before = devices_as_stored()
    path = tmp_path / f"devices.{format}"
    call_command("export_devices", format=format, output=str(path), stderr=io.StringIO())
    wipe()

    call_command("import_devices", str(path), stdout=io.StringIO())

    assert devices_as_stored() == before
    assert DeviceEvent.objects.count() == Device.objects.count()  # a CREATED event each, at its creation time
    again = tmp_path / f"again.{format}"
    call_command("export_devices", format=format, output=str(again), stderr=io.StringIO())
    assert again.read_text() == path.read_text()


def rows(count: int) -> str:
    """Devices with explicit creation times, so that two imports of them are equal to the microsecond."""
    return jsonl(*(row(n) for n in range(count)))


def row(n: int) -> dict:
    created = f"2024-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
    return {"id": f"d-{n:05d}", "tags": ["t"], "metadata": {"n": n}, "imei": imei_from(f"35{n:012d}"),
            "creation_timestamp": created}  # fmt: skip


class InterruptedInTheSecondBatch(BatchWriter):
    """Writes half of the second batch (lines 101 to 200), then is interrupted, as by Ctrl-C."""

    def write(self, rows):
        if rows[0].line == 101:
            super().write(rows[:50])
            raise KeyboardInterrupt
        return super().write(rows)


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_import_run_again_ends_as_an_uninterrupted_one(tmp_path):
    path = tmp_path / "devices.jsonl"
    path.write_text(rows(250))
    call_command("import_devices", str(path), batch_size=100, stdout=io.StringIO())
    uninterrupted = database_state()
    wipe()

    with pytest.raises(Exception, match="every row up to line 100 is written") as raised:
        call_command("import_devices", str(path), batch_size=100, stdout=io.StringIO(),
                     batch_writer_class=InterruptedInTheSecondBatch)  # fmt: skip
    assert raised.value.returncode == 130
    assert Device.objects.count() == 100 and NetworkAdapter.objects.count() == 100  # whole batches only

    call_command("import_devices", str(path), batch_size=100, mode="skip", stdout=io.StringIO())

    assert database_state() == uninterrupted


@pytest.mark.django_db(transaction=True)
def test_an_import_killed_by_a_signal_run_again_ends_as_an_uninterrupted_one(tmp_path):
    """A real process, killed (SIGKILL) in the middle of its batches: the database keeps whole batches only."""
    if connection.vendor != "postgresql":
        pytest.skip("another process cannot reach the test's in-memory SQLite database")
    path = tmp_path / "devices.jsonl"
    path.write_text(rows(6000))
    call_command("import_devices", str(path), stdout=io.StringIO())
    uninterrupted = database_state()
    wipe()
    settings = connection.settings_dict
    url = (
        f"postgres://{settings['USER']}:{settings['PASSWORD']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    )
    command = [sys.executable, "manage.py", "import_devices", str(path), "--batch-size", "20"]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while Device.objects.count() < 100 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while processes_running(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_running(path), "the validating processes outlived the import"
    written = Device.objects.count()
    assert 0 < written < 6000, "killed before it started, or after it ended"
    assert written % 20 == 0 and DeviceEvent.objects.count() == written == NetworkAdapter.objects.count()

    call_command("import_devices", str(path), mode="skip", stdout=io.StringIO())

    assert database_state() == uninterrupted


def processes_running(path: Path) -> list[str]:
    """The processes whose command line names this file (the killed import's validating processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and str(path).encode() in (entry / "cmdline").read_bytes():
                found.append(entry.name)
    return found


def test_export_output_is_valid_json_lines_for_other_tools(tmp_path, db):
    fleet()
    path = tmp_path / "devices.jsonl"
    call_command("export_devices", output=str(path), stderr=io.StringIO())

    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == [
        "plain", "tagged", "provisioned", "retired", "adapters",
    ]  # fmt: skip
