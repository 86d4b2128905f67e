"""Writes to devices. The API, the admin and the management commands all go through these."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import NotFound

from devmanager.api.exceptions import Conflict, PreconditionFailed

from .choices import DEFAULT_SLOT, DeviceStatus, EventType, SlotStatus
from .models import Device, DeviceEvent, DeviceTag

ONE_MICROSECOND = timedelta(microseconds=1)


def if_match_satisfied(if_match: str | None, etag: str) -> bool:
    """RFC 9110 If-Match with strong comparison: `*`, or a list of entity tags one of which is current."""
    if if_match is None:
        return True
    candidates = [candidate.strip() for candidate in if_match.split(",")]
    return "*" in candidates or etag in candidates


def device_lock(*, device_id: str, if_match: str | None = None) -> Device:
    """Lock the device's row for the rest of the transaction, so writes to one device are serialised."""
    try:
        device = Device.objects.select_for_update().get(pk=device_id)
    except Device.DoesNotExist as exc:  # deleted since the caller looked it up
        raise NotFound(f"No device {device_id!r}.") from exc
    if not if_match_satisfied(if_match, device.etag):
        raise PreconditionFailed()
    return device


def device_record_event(*, device: Device, type: str, description: str, source: str) -> DeviceEvent:
    """Append an event; equal clock readings are bumped so a device's timestamps strictly increase.

    The caller holds the device's row lock (or has just created it), so no other writer races for the slot.
    """
    timestamp = timezone.now()
    latest = device.events.order_by("-timestamp").values_list("timestamp", flat=True).first()
    if latest is not None and timestamp <= latest:
        timestamp = latest + ONE_MICROSECOND
    return DeviceEvent.objects.create(
        device=device, timestamp=timestamp, type=type, description=description, source=source
    )


def _touch(device: Device, now: datetime | None = None) -> None:
    device.version += 1
    device.updated_timestamp = now or timezone.now()


def device_set_tag_rows(*, device: Device, tags: list[str]) -> None:
    DeviceTag.objects.filter(device=device).delete()
    DeviceTag.objects.bulk_create(DeviceTag(device=device, value=tag, value_lower=tag.lower()) for tag in tags)


@transaction.atomic
def device_create(
    *,
    id: str,
    source: str,
    alias: str = "",
    tags: list[str] | None = None,
    metadata: dict | None = None,
    dms_owner: str = "",
    icon: str = "",
    icon_color: str = "",
) -> Device:
    """Create a `NO_IDENTITY` device with its `CREATED` event; 409 when the id is taken."""
    now = timezone.now()
    device = Device(
        id=id,
        alias=alias,
        tags=list(tags or []),
        metadata=metadata or {},
        dms_owner=dms_owner,
        icon=icon,
        icon_color=icon_color,
        creation_timestamp=now,
        updated_timestamp=now,
    )
    try:
        with transaction.atomic():
            device.save(force_insert=True)
    except IntegrityError as exc:
        raise Conflict(f"A device with id {id!r} already exists.") from exc
    device_set_tag_rows(device=device, tags=device.tags)
    device_record_event(device=device, type=EventType.CREATED, description="Device created", source=source)
    return device


@transaction.atomic
def device_decommission(*, device_id: str, source: str, if_match: str | None = None) -> Device:
    """Final: status DECOMMISSIONED, a live identity slot REVOKED, one event. Repeating it changes nothing."""
    device = device_lock(device_id=device_id, if_match=if_match)
    if device.status == DeviceStatus.DECOMMISSIONED:
        return device
    identity = device.slots.get(DEFAULT_SLOT)
    if identity and identity.get("status") not in (SlotStatus.EXPIRED, SlotStatus.REVOKED):
        identity["status"] = SlotStatus.REVOKED
    device.status = DeviceStatus.DECOMMISSIONED
    _touch(device)
    device.save(update_fields=["status", "slots", "version", "updated_timestamp"])
    device_record_event(
        device=device, type=EventType.DECOMMISSIONED, description="Device decommissioned", source=source
    )
    return device


@transaction.atomic
def device_delete(*, device_id: str, force: bool = False, if_match: str | None = None) -> None:
    """Delete a device with its history; only a decommissioned one unless forced."""
    device = device_lock(device_id=device_id, if_match=if_match)
    if device.status != DeviceStatus.DECOMMISSIONED and not force:
        raise Conflict(f"Device {device.id!r} is {device.status}; decommission it first or delete with ?force=true.")
    device.delete()
