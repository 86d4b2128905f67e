"""The write door for batches of devices: `seed_devices`, `import_devices` and `refresh_device_status` write the
device and event tables through here only (COPY on PostgreSQL, bulk_create and bulk_update elsewhere), with rows
made by the same builders as a single device's (devices.domain). The caller holds the transaction."""

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

import orjson
from django.db import connection, models

from devmanager.bulk import binary_fields, copy_json, copy_lines, copy_rows, copy_text, filter_in, update_rows
from devmanager.strictjson import JsonText, jsonb_text
from devmanager.timestamps import format_timestamp

from .changes import Change, EncodedChanges, device_data, publish, publish_encoded
from .choices import DEFAULT_SLOT
from .domain import (
    DEVICE_COLUMNS,
    EVENT_COLUMNS,
    METADATA_REPLACED,
    apply_fields,
    created_event_values,
    update_event_values,
)
from .models import Device, DeviceEvent


def devices_bulk_insert(*, devices: list[dict], source: str) -> None:
    """Insert new devices (rows from `new_device_columns`) with their `CREATED` events, in history and feed."""
    if connection.vendor == "postgresql":
        lines = [device_copy_lines(device, source) for device in devices]
        devices_copy_encoded(*zip(*lines, strict=True), source=source)
        return
    copy_rows(Device, DEVICE_COLUMNS, ([device[column] for column in DEVICE_COLUMNS] for device in devices))
    events = [created_event_values(device_id=device["id"], at=device["creation_timestamp"], source=source)
              for device in devices]  # fmt: skip
    copy_rows(DeviceEvent, EVENT_COLUMNS, events)
    # The feed's time is when the change is made (an import may carry devices created long ago).
    publish([Change("device.created", device["id"], source, device=Device(**device)) for device in devices])


def devices_copy_encoded(device_lines, event_lines, feed_lines, *, source: str) -> None:
    """Insert new devices, their CREATED events and their `device.created` changes, encoded by `device_copy_lines`
    (PostgreSQL), perhaps in another process: an import's validating processes encode them a batch ahead."""
    copy_lines(Device, DEVICE_COLUMNS, list(device_lines))
    copy_lines(DeviceEvent, EVENT_COLUMNS, list(event_lines))
    publish_encoded(EncodedChanges("device.created", source, list(feed_lines)))


def device_copy_lines(device: dict, source: str) -> tuple[str, str, bytes]:
    """A new device (a row from `new_device_columns`) and its CREATED event as lines of COPY's text format, built by
    hand: the hot loop of an import of millions, where encoding value by value (psycopg's write_row) costs twice as
    much; and its `device.created` change, encoded from the same pieces (`encode_created`)."""
    device_id = copy_text(device["id"])
    created, updated = device["creation_timestamp"].isoformat(), device["updated_timestamp"].isoformat()
    expires = device["identity_expires_at"]
    tags, metadata, slots = _json_text(device["tags"]), _json_text(device["metadata"]), _json_text(device["slots"])
    device_line = "\t".join(
        (
            device_id,
            copy_text(device["alias"]),
            copy_text(tags),
            copy_json(device["tag_terms"]),
            device["status"],
            copy_text(device["icon"]),
            copy_text(device["icon_color"]),
            copy_text(device["dms_owner"]),
            copy_text(metadata),
            copy_text(slots),
            "\\N" if expires is None else expires.isoformat(),
            str(device["version"]),
            created,
            updated,
        )
    )
    event_line = event_copy_line(
        created_event_values(device_id=device["id"], at=device["creation_timestamp"], source=source)
    )
    times = _api_timestamp(created, device["creation_timestamp"]), _api_timestamp(updated, device["updated_timestamp"])
    return device_line, event_line, encode_created(device, (tags, metadata, slots), times)


def event_copy_line(values: tuple) -> str:
    """An event's row (`domain.event_values`) as a line of COPY's text format, built by hand (psycopg's write_row
    costs twice as much)."""
    device_id, at, type, description, source = values
    return "\t".join((copy_text(device_id), at.isoformat(), type, copy_text(description), copy_text(source)))


def encode_created(device: dict, documents: tuple[str, str, str], times: tuple[str, str]) -> bytes:
    """A new device's `device.created` subject, DMS and data, encoded for `EncodedChanges`: `device_data`'s document
    written by hand from the row's values and the text its COPY line holds (the JSON `documents`: tags, metadata and
    slots; the creation and update `times` as the API writes them), at a third of the cost of building the device's
    snapshot and serialising its documents again (tests/events/test_feed_import.py checks that the two agree)."""
    tags, metadata, slots = documents
    identity = device["slots"].get(DEFAULT_SLOT)
    snapshot = {
        "id": device["id"],
        "alias": device["alias"],
        "tags": orjson.Fragment(tags),
        "status": device["status"],
        "icon": device["icon"],
        "icon_color": device["icon_color"],
        "creation_timestamp": times[0],
        "updated_timestamp": times[1],
        "metadata": orjson.Fragment(metadata),
        "dms_owner": device["dms_owner"],
        "identity": identity,
        "slots": orjson.Fragment(slots),
    }
    try:
        data = orjson.dumps({"device": snapshot})
    except TypeError:  # what orjson refuses in the identity (an integer beyond 64 bits): the json module's way
        data = jsonb_text(device_data(SimpleNamespace(**device, pk=device["id"], identity=identity)))
    return binary_fields(device["id"], device["dms_owner"], data)


def _json_text(value) -> str:
    """A JSON column's value as its text (a plain `str`, which orjson takes as a fragment, where a subclass not)."""
    return str(value) if isinstance(value, JsonText) else jsonb_text(value)


def _api_timestamp(iso: str, value: datetime) -> str:
    """`format_timestamp(value)`, from `value.isoformat()`: the same text but for its offset when the time is UTC
    with microseconds (the usual case), at half the cost."""
    return iso[:-6] + "Z" if len(iso) == 32 and iso.endswith("+00:00") else format_timestamp(value)


@dataclass
class DeviceUpdate:
    """The fields of a stored device that an import changes, as `domain.field_changes` gives them (may be empty: the
    device only gained adapters, which changes its representation all the same)."""

    device: Device
    changes: dict


def devices_bulk_update(
    *, updates: list[DeviceUpdate], at: datetime, source: str, metadata_description: str = METADATA_REPLACED
) -> None:
    """Apply the changes to the devices (locked by the caller), each a new version and `updated_timestamp`, with the
    events a single device's change records (`domain.update_event_values`: `UPDATED`, `METADATA-UPDATED`) and the
    feed's `device.updated` and `device.metadata.updated`."""
    latest = latest_events([update.device.pk for update in updates if update.changes])
    events, changes, columns = [], [], {"version": None, "updated_timestamp": None}
    for update in updates:
        device = update.device
        changes += _update_changes(device, update.changes, source, at)
        apply_fields(device, update.changes, at)
        events += update_event_values(
            device_id=device.pk,
            changes=update.changes,
            source=source,
            at=at,
            latest=latest.get(device.pk),
            metadata_description=metadata_description,
        )
        columns.update(dict.fromkeys(update.changes))
        if "tags" in update.changes:
            columns["tag_terms"] = None
    devices_bulk_save(devices=[update.device for update in updates], fields=list(columns), events=events)
    publish(changes)


def _update_changes(device: Device, changes: dict, source: str, at: datetime) -> list[Change]:
    """The feed's events of a change of fields: `device.updated` for the editable ones, `device.metadata.updated`
    for the metadata."""
    metadata = {name: values for name, values in changes.items() if name == "metadata"}
    others = {name: values for name, values in changes.items() if name != "metadata"}
    return [
        Change(type, device.pk, source, device=device, changes=values, at=at)
        for type, values in (("device.updated", others), ("device.metadata.updated", metadata))
        if values
    ]


def devices_bulk_save(*, devices: list[Device], fields: list[str], events: list[tuple]) -> None:
    """Save these fields of devices the caller changed and touched, and their events (rows of `event_values`)."""
    update_rows(devices, fields)
    if connection.vendor == "postgresql":
        copy_lines(DeviceEvent, EVENT_COLUMNS, [event_copy_line(event) for event in events])
    else:
        copy_rows(DeviceEvent, EVENT_COLUMNS, events)


def latest_events(device_ids: list[str]) -> dict:
    """Each device's latest event timestamp, for the devices that have one."""
    return dict(
        filter_in(DeviceEvent.objects, "device", device_ids)
        .values("device_id")
        .annotate(latest=models.Max("timestamp"))
        .values_list("device_id", "latest")
    )
