import io
import json
from dataclasses import dataclass, field

import pytest
from django.core.management import CommandError, call_command

from adapters.models import NetworkAdapter
from devices.models import Device, DeviceEvent

DEVICE_FIELDS = [
    "id", "alias", "tags", "tag_terms", "status", "icon", "icon_color", "dms_owner", "metadata", "slots",
    "identity_expires_at", "version", "creation_timestamp", "updated_timestamp",
]  # fmt: skip


@dataclass
class Run:
    out: str
    error: CommandError | None
    failures: list[dict] = field(default_factory=list)  # the --errors file, one object a failed row

    @property
    def failed_lines(self) -> list[int]:
        return [failure["line"] for failure in self.failures]

    def reason(self, line: int) -> str:
        return next(failure["reason"] for failure in self.failures if failure["line"] == line)


@pytest.fixture
def run_import(tmp_path):
    """`run_import(content, suffix=".jsonl", **options)`: import_devices on a file of that content (or on standard
    input with `path="-"`), with --errors; returns what it printed, the CommandError it raised and the failures."""
    counter = iter(range(1_000_000))

    def run(content, suffix: str = ".jsonl", path: str | None = None, **options) -> Run:
        n = next(counter)
        data = content.encode() if isinstance(content, str) else content
        if path is None:
            path = tmp_path / f"input-{n}{suffix}"
            path.write_bytes(data)
        else:
            options["stdin"] = io.BytesIO(data)
        errors = tmp_path / f"errors-{n}.jsonl"
        out, error = io.StringIO(), None
        try:
            call_command("import_devices", str(path), errors=str(errors), stdout=out, stderr=io.StringIO(), **options)
        except CommandError as exc:
            error = exc
        failures = [json.loads(line) for line in errors.read_text().splitlines()] if errors.exists() else []
        return Run(out.getvalue(), error, failures)

    return run


def jsonl(*rows) -> str:
    """JSON Lines of the rows; a str row is written as it is (a malformed line)."""
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


def database_state() -> dict:
    """Everything an import writes, comparable between two runs (adapters without their generated ids)."""
    devices = {device["id"]: device for device in Device.objects.values(*DEVICE_FIELDS)}
    events = sorted(DeviceEvent.objects.values_list("device_id", "timestamp", "type", "description", "source"))
    adapters = sorted(
        NetworkAdapter.objects.values_list(
            "device_id", "type", "imei", "iccid", "imsi", "msisdn", "dev_eui", "join_eui", "activation", "description"
        ),
        key=str,
    )
    dvn_uuids = sorted(str(value) for value in NetworkAdapter.objects.values_list("dvn_uuid", flat=True) if value)
    return {"devices": devices, "events": events, "adapters": adapters, "dvn_uuids": dvn_uuids}
