"""The write door for batches of devices: new devices with their CREATED events, written at once (COPY on
PostgreSQL, bulk_create elsewhere). `seed_devices` and `import_devices` write the device table through here only;
the rows come from the same builders as a single device's (`devices.domain`)."""

from django.db import connection

from devmanager.bulk import copy_json, copy_lines, copy_rows, copy_text

from .choices import EventType
from .models import Device, DeviceEvent

DEVICE_COLUMNS = [
    "id", "alias", "tags", "tag_terms", "status", "icon", "icon_color", "dms_owner", "metadata", "slots",
    "identity_expires_at", "version", "creation_timestamp", "updated_timestamp",
]  # fmt: skip
EVENT_COLUMNS = ["device_id", "timestamp", "type", "description", "source"]


def devices_bulk_insert(*, devices: list[dict], source: str) -> None:
    """Insert new devices (dicts of all `DEVICE_COLUMNS`) with their `CREATED` events, stamped at their creation."""
    if connection.vendor == "postgresql":
        _copy_devices(devices, source)
        return
    copy_rows(Device, DEVICE_COLUMNS, ([device[column] for column in DEVICE_COLUMNS] for device in devices))
    events = [(device["id"], device["creation_timestamp"], EventType.CREATED, "Device created", source)
              for device in devices]  # fmt: skip
    copy_rows(DeviceEvent, EVENT_COLUMNS, events)


def _copy_devices(devices: list[dict], source: str) -> None:
    lines = [device_copy_lines(device, source) for device in devices]
    copy_lines(Device, DEVICE_COLUMNS, [device_line for device_line, _ in lines])
    copy_lines(DeviceEvent, EVENT_COLUMNS, [event_line for _, event_line in lines])


def device_copy_lines(device: dict, source: str) -> tuple[str, str]:
    """A new device (a dict of all `DEVICE_COLUMNS`) and its CREATED event as lines of COPY's text format, built by
    hand: the hot loop of an import of millions, where encoding value by value (psycopg's write_row) costs twice as
    much."""
    device_id, created = copy_text(device["id"]), device["creation_timestamp"].isoformat()
    expires = device["identity_expires_at"]
    device_line = "\t".join(
        (
            device_id,
            copy_text(device["alias"]),
            copy_json(device["tags"]),
            copy_json(device["tag_terms"]),
            device["status"],
            copy_text(device["icon"]),
            copy_text(device["icon_color"]),
            copy_text(device["dms_owner"]),
            copy_json(device["metadata"]),
            copy_json(device["slots"]),
            "\\N" if expires is None else expires.isoformat(),
            str(device["version"]),
            created,
            device["updated_timestamp"].isoformat(),
        )
    )
    return device_line, f"{device_id}\t{created}\t{EventType.CREATED}\tDevice created\t{copy_text(source)}"
