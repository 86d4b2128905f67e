"""The write door for batches of devices: `seed_devices`, `import_devices` and `refresh_device_status` write the
device and event tables through here only (COPY on PostgreSQL, bulk_create and bulk_update elsewhere), with rows
made by the same builders as a single device's (devices.domain). The caller holds the transaction."""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, models

from devmanager.bulk import copy_json, copy_lines, copy_rows, copy_text

from .changes import Change, EncodedChanges, encode_created, publish, publish_encoded
from .domain import DEVICE_COLUMNS, EVENT_COLUMNS, created_event_values, tag_terms, updated_event_values
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


def device_copy_lines(device: dict, source: str) -> tuple[str, str, str]:
    """A new device (a row from `new_device_columns`) and its CREATED event as lines of COPY's text format, built by
    hand: the hot loop of an import of millions, where encoding value by value (psycopg's write_row) costs twice as
    much; and its `device.created` change, encoded (`encode_created`)."""
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
    _, at, type, description, source = created_event_values(device_id=device["id"], at=device["creation_timestamp"],
                                                             source=source)  # fmt: skip
    event_line = "\t".join((device_id, at.isoformat(), type, description, copy_text(source)))
    return device_line, event_line, encode_created(device)


@dataclass
class DeviceUpdate:
    """The fields of a stored device whose values an import changes (`fields` may be empty: the device only gained
    adapters, which changes its representation all the same)."""

    device: Device
    fields: dict


def devices_bulk_update(*, updates: list[DeviceUpdate], at: datetime, source: str) -> None:
    """Apply the fields to the devices (locked by the caller), each a new version and `updated_timestamp`, and one
    `METADATA-UPDATED` event naming the fields for each device whose fields changed."""
    latest = latest_events([update.device.pk for update in updates if update.fields])
    events, changes = [], []
    for update in updates:
        device = update.device
        changes += _update_changes(device, update.fields, source, at)
        for name, value in update.fields.items():
            setattr(device, name, value)
        if "tags" in update.fields:
            device.tag_terms = tag_terms(device.tags)
        device.touch(at)
        if update.fields:
            events.append(updated_event_values(device_id=device.pk, changed=list(update.fields), source=source, at=at,
                                               latest=latest.get(device.pk)))  # fmt: skip
    fields = [
        "alias",
        "tags",
        "tag_terms",
        "metadata",
        "dms_owner",
        "icon",
        "icon_color",
        "version",
        "updated_timestamp",
    ]
    devices_bulk_save(devices=[update.device for update in updates], fields=fields, events=events)
    publish(changes)


def _update_changes(device: Device, fields: dict, source: str, at: datetime) -> list[Change]:
    """The feed's events of an import's update (`fields` are those whose values change): `device.metadata.updated`
    for the metadata, `device.updated` for the other fields."""
    changed = {name: (getattr(device, name), value) for name, value in fields.items()}
    metadata = {name: values for name, values in changed.items() if name == "metadata"}
    others = {name: values for name, values in changed.items() if name != "metadata"}
    return [
        Change(type, device.pk, source, device=device, changes=values, at=at)
        for type, values in (("device.updated", others), ("device.metadata.updated", metadata))
        if values
    ]


def devices_bulk_save(*, devices: list[Device], fields: list[str], events: list[tuple]) -> None:
    """Save these fields of devices the caller changed and touched, and their events (rows of `event_values`)."""
    Device.objects.bulk_update(devices, fields, batch_size=1000)
    DeviceEvent.objects.bulk_create(DeviceEvent(**dict(zip(EVENT_COLUMNS, event, strict=True))) for event in events)


def latest_events(device_ids: list[str]) -> dict:
    """Each device's latest event timestamp, for the devices that have one."""
    return dict(
        DeviceEvent.objects.filter(device_id__in=device_ids)
        .values("device_id")
        .annotate(latest=models.Max("timestamp"))
        .values_list("device_id", "latest")
    )
