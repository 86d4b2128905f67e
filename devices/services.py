"""Writes to devices. The API, the admin and the management commands all go through these."""

import copy
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import jsonpatch
import jsonpointer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from devmanager.access import check_dms_allowed
from devmanager.bulk import filter_in
from devmanager.errors import Conflict, DomainError, Invalid, NotFound, PreconditionFailed
from devmanager.timestamps import format_timestamp

from .batch import DeviceUpdate, devices_bulk_save, devices_bulk_update, latest_events
from .changes import Change, publish
from .choices import DEFAULT_SLOT, DeviceStatus, EventType, SlotStatus
from .domain import (
    EVENT_COLUMNS,
    METADATA_REPLACED,
    created_event_values,
    event_values,
    field_changes,
    new_device_columns,
    same_json,
)
from .models import Device, DeviceEvent
from .validators import json_size, metadata_problem


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
    """Append an event after the device's latest one (`next_event_timestamp`). The caller holds the device's row
    lock (or has just created it), so no other writer races for the slot."""
    latest = device.events.order_by("-timestamp").values_list("timestamp", flat=True).first()
    values = event_values(device_id=device.pk, type=type, description=description, source=source,
                          at=timezone.now(), latest=latest)  # fmt: skip
    return DeviceEvent.objects.create(**dict(zip(EVENT_COLUMNS, values, strict=True)))


def device_touch(*, device: Device) -> Device:
    """Record a change of the device's representation kept outside its row (one of its adapters): a new ETag and
    `updated_timestamp`, so that `If-Match` catches a stale write. The caller holds the device's row lock."""
    device.touch()
    device.save(update_fields=["version", "updated_timestamp"])
    return device


@transaction.atomic
def device_create(*, id: str, source: str, **fields) -> Device:
    """Create a `NO_IDENTITY` device with its `CREATED` event; 409 when the id is taken. `fields` are those of
    `POST /devices` (alias, tags, metadata, dms_owner, icon, icon_color: see `new_device_columns`)."""
    check_dms_allowed(fields.get("dms_owner", ""))
    now = timezone.now()
    device = Device(**new_device_columns(id=id, created=now, **fields))
    try:
        with transaction.atomic():
            device.save(force_insert=True)
    except IntegrityError as exc:
        raise Conflict(f"A device with id {id!r} already exists.") from exc
    event = created_event_values(device_id=device.pk, at=now, source=source)
    DeviceEvent.objects.create(**dict(zip(EVENT_COLUMNS, event, strict=True)))
    publish([Change("device.created", device.pk, source, device=device, at=now)])
    return device


@transaction.atomic
def device_update(*, device_id: str, source: str, fields: dict, if_match: str | None = None) -> Device:
    """Set any of the editable fields (`domain.EDITABLE_FIELDS`: `PATCH` and `PUT /devices/{id}`, the admin's form):
    one `UPDATED` event naming those that change and `device.updated` in the feed; nothing when none changes."""
    device = device_lock(device_id=device_id, if_match=if_match)
    if changes := field_changes(device, fields):
        devices_bulk_update(updates=[DeviceUpdate(device, changes)], at=timezone.now(), source=source)
    return device


@transaction.atomic
def device_decommission(*, device_id: str, source: str, if_match: str | None = None) -> Device:
    """Final: status DECOMMISSIONED, a live identity slot REVOKED, one event. Repeating it changes nothing."""
    device = device_lock(device_id=device_id, if_match=if_match)
    _decommission([device], source)
    return device


def _decommission(devices: list[Device], source: str) -> None:
    """Decommission the devices (locked by the caller) that are not yet: each a `DECOMMISSIONED` event, and in the
    feed the slot's `device.identity.updated` if it was revoked, `device.status.updated`, `device.decommissioned`."""
    devices = [device for device in devices if device.status != DeviceStatus.DECOMMISSIONED]
    at, latest = timezone.now(), latest_events([device.pk for device in devices])
    events, changes = [], []
    for device in devices:
        old_status, identity = device.status, device.slots.get(DEFAULT_SLOT)
        if identity and identity.get("status") not in (SlotStatus.EXPIRED, SlotStatus.REVOKED):
            old_identity = copy.deepcopy(identity)
            identity["status"] = SlotStatus.REVOKED
            changes.append(Change("device.identity.updated", device.pk, source, device=device, at=at,
                                  changes={"identity": (old_identity, identity)}))  # fmt: skip
        device.status = DeviceStatus.DECOMMISSIONED
        device.touch(at)
        events.append(event_values(device_id=device.pk, type=EventType.DECOMMISSIONED, source=source, at=at,
                                   description="Device decommissioned", latest=latest.get(device.pk)))  # fmt: skip
        changes += [
            Change("device.status.updated", device.pk, source, device=device, at=at,
                   changes={"status": (old_status, device.status)}),
            Change("device.decommissioned", device.pk, source, device=device, at=at),
        ]  # fmt: skip
    devices_bulk_save(devices=devices, fields=["status", "slots", "version", "updated_timestamp"], events=events)
    publish(changes)


@transaction.atomic
def device_delete(*, device_id: str, source: str = "", force: bool = False, if_match: str | None = None) -> None:
    """Delete a device with its history; only a decommissioned one unless forced. The feed keeps its events."""
    device = device_lock(device_id=device_id, if_match=if_match)
    if refusal := deletion_refusal(device, force):
        raise Conflict(refusal)
    _delete([device], source)


def deletion_refusal(device: Device, force: bool = False) -> str | None:
    """Why the device may not be deleted (only a decommissioned one may, unless forced); None when it may."""
    if device.status != DeviceStatus.DECOMMISSIONED and not force:
        return f"Device {device.id!r} is {device.status}; decommission it first or delete with force."
    return None


def _delete(devices: list[Device], source: str) -> None:
    """Delete the devices (locked by the caller), each a `device.deleted` event showing it as it was."""
    publish([Change("device.deleted", device.pk, source, device=device) for device in devices])
    Device.objects.filter(pk__in=[device.pk for device in devices]).delete()


SLOT_STATUS_ALIASES = {"RENEWAL_PENDING": SlotStatus.RENEWAL_WINDOW, "EXPIRING_SOON": SlotStatus.ABOUT_TO_EXPIRE}


@transaction.atomic
def device_set_identity_slot(
    *,
    device_id: str,
    source: str,
    status: str,
    active_version: int,
    type: str,
    versions: dict | None = None,
    expiration_date: datetime | None = None,
    if_match: str | None = None,
) -> Device:
    """Set the identity slot; the device's status follows it. Every change records one event of the slot: PROVISIONED
    (the first slot), RENEWED (active_version grows) or IDENTITY-UPDATED (any other field but the status), and then
    STATUS-UPDATED when the status changes."""
    device = device_lock(device_id=device_id, if_match=if_match)
    if refusal := slot_change_refusal(device):
        raise Conflict(refusal)
    return _set_identity_slot(
        device,
        source=source,
        status=status,
        active_version=active_version,
        type=type,
        versions=versions,
        expiration_date=expiration_date,
    )


def _set_identity_slot(
    device: Device,
    *,
    source: str,
    status: str,
    active_version: int,
    type: str,
    versions: dict | None,
    expiration_date: datetime | None,
) -> Device:
    """`device_set_identity_slot` on the device its caller locked and found free to change."""
    previous = device.slots.get(DEFAULT_SLOT)
    slot = {
        "status": status,
        "active_version": active_version,
        "type": type,
        "versions": {**(previous or {}).get("versions", {}), **(versions or {})},
        "expiration_date": _format_expiration(expiration_date),
    }
    if same_json(slot, previous):
        return device  # nothing changes: no write, no event

    old_status = device.status
    changes = [
        Change("device.identity.updated", device.pk, source, device=device, changes={"identity": (previous, slot)})
    ]
    if status != old_status:
        changes.append(Change("device.status.updated", device.pk, source, device=device,
                              changes={"status": (old_status, status)}))  # fmt: skip
    device.slots = {**device.slots, DEFAULT_SLOT: slot}
    device.status = status
    device.identity_expires_at = expiration_date
    device.touch()
    device.save(update_fields=["slots", "status", "identity_expires_at", "version", "updated_timestamp"])
    if slot_event := _slot_event(previous, slot):
        device_record_event(device=device, type=slot_event[0], description=slot_event[1], source=source)
    if status != old_status:
        description = f"Status changed from {old_status} to {status}"
        device_record_event(device=device, type=EventType.STATUS_UPDATED, description=description, source=source)
    publish(changes)
    return device


def slot_change_refusal(device: Device) -> str | None:
    """Why the device's identity slot may not change (a decommissioned device's is final); None when it may."""
    if device.status == DeviceStatus.DECOMMISSIONED:
        return f"Device {device.id!r} is decommissioned; its identity slot can no longer change."
    return None


def renewal_refusal(device: Device) -> str | None:
    """Why the device's identity slot may not be renewed (`slot_change_refusal`, or no slot); None when it may."""
    if refusal := slot_change_refusal(device):
        return refusal
    return None if device.identity else f"Device {device.id!r} has no identity slot to renew."


@transaction.atomic
def device_renew_identity_slot(
    *, device_id: str, source: str, expiration_date: datetime | None = None, if_match: str | None = None
) -> Device:
    """Renew the identity slot, as a `PUT .../idslot` naming the next version would: `active_version` + 1 becomes
    the active version, the slot (so the device) ACTIVE, with the new expiration date (None: none). Its events are
    that service's: RENEWED, then STATUS-UPDATED if the status changes. A device without a slot has nothing to
    renew; a decommissioned one refuses, as every slot update does."""
    device = device_lock(device_id=device_id, if_match=if_match)
    if refusal := renewal_refusal(device):
        raise Conflict(refusal)
    slot = device.identity
    return _set_identity_slot(
        device,
        source=source,
        status=SlotStatus.ACTIVE,
        active_version=slot["active_version"] + 1,
        type=slot["type"],
        versions=None,
        expiration_date=expiration_date,
    )


def _slot_event(previous: dict | None, slot: dict) -> tuple[str, str] | None:
    """The (type, description) of the event a new identity slot records, beside a change of status: PROVISIONED,
    RENEWED, IDENTITY-UPDATED naming the fields, or None when only the status changed."""
    if previous is None:
        return EventType.PROVISIONED, f"Identity slot provisioned ({slot['type']}, version {slot['active_version']})"
    if slot["active_version"] > previous.get("active_version", -1):
        return (
            EventType.RENEWED,
            f"Identity renewed: version {previous.get('active_version')} -> {slot['active_version']}",
        )
    changed = [name for name in slot if name != "status" and not same_json(slot[name], previous.get(name))]
    return (EventType.IDENTITY_UPDATED, f"Identity slot updated: {', '.join(changed)}") if changed else None


def _format_expiration(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


@transaction.atomic
def device_replace_metadata(*, device_id: str, metadata: dict, source: str, if_match: str | None = None) -> Device:
    device = device_lock(device_id=device_id, if_match=if_match)
    return _store_metadata(device, metadata, source, METADATA_REPLACED)


@transaction.atomic
def device_apply_metadata_patch(
    *, device_id: str, operations: list[dict], source: str, if_match: str | None = None
) -> Device:
    """Apply an RFC 6902 patch wholly or not at all; 409 when a `test` fails or a path is missing."""
    device = device_lock(device_id=device_id, if_match=if_match)
    return _store_metadata(device, patched_metadata(device.metadata, operations), source, _patched(operations))


def _patched(operations: list[dict]) -> str:
    return f"Metadata patched ({len(operations)} operation(s))"


def patched_metadata(metadata: dict, operations: list[dict]) -> dict:
    """The metadata with the patch applied (the stored document is left as it is); Conflict when a `test` fails
    or a path is missing, Invalid when the result is not storable metadata."""
    patched, copied = copy.deepcopy(metadata), 0
    for index, operation in enumerate(operations):
        if operation["op"] == "copy":
            # The one operation that can grow the document beyond what the body carries: a few dozen copies of
            # the root into itself would exhaust memory long before the size check below, so copies are capped.
            copied += _copied_size(patched, operation["from"])
            limit = settings.DEVMANAGER_METADATA_MAX_BYTES
            if copied > limit:
                raise Invalid({"patches": {index: [f"the patch copies more than {limit} bytes in all"]}})
        try:
            patched = jsonpatch.apply_patch(patched, [operation], in_place=True)
        # The library's messages quote the stored document and Python types: the answer speaks of the patch only.
        except jsonpatch.JsonPatchTestFailed as exc:
            path = _shown(operation["path"])
            raise Conflict(f"patches[{index}]: test failed: the metadata at {path} differs from value") from exc
        # The serializer has checked each operation's shape, so InvalidJsonPatch here depends on the document:
        # replace at an array's "-", the nonexistent element after its last one, i.e. a missing path.
        except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException, jsonpatch.InvalidJsonPatch) as exc:
            raise Conflict(f"patches[{index}]: {_missing_location(patched, operation)}") from exc
    if problem := metadata_problem(patched):
        raise Invalid({"metadata": [problem]})
    return patched


def _shown(pointer: str) -> str:
    return repr(pointer if len(pointer) <= 200 else pointer[:200] + "...")


def _missing_location(document, operation: dict) -> str:
    """Why an operation that failed does not apply: the location it reads, or the one it writes to, is not there."""
    if operation["op"] in ("move", "copy") and not _resolves(document, operation["from"]):
        return f"from {_shown(operation['from'])} names no value in the metadata"
    if operation["op"] in ("add", "move", "copy"):
        return f"path {_shown(operation['path'])}: no object or array in the metadata can take it"
    return f"path {_shown(operation['path'])} names no value in the metadata"


def _resolves(document, pointer: str) -> bool:
    try:
        value = jsonpointer.resolve_pointer(document, pointer)
    except (jsonpointer.JsonPointerException, TypeError):
        return False
    return not isinstance(value, jsonpointer.EndOfList)


def _copied_size(document, pointer: str) -> int:
    """The serialised size of the value a copy operation duplicates; 0 when there is none (the copy then fails)."""
    try:
        value = jsonpointer.resolve_pointer(document, pointer)
    except jsonpointer.JsonPointerException:
        return 0
    return 0 if isinstance(value, jsonpointer.EndOfList) else json_size(value)


def _store_metadata(device: Device, metadata: dict, source: str, description: str) -> Device:
    if changes := field_changes(device, {"metadata": metadata}):
        devices_bulk_update(updates=[DeviceUpdate(device, changes)], at=timezone.now(), source=source,
                            metadata_description=description)  # fmt: skip
    return device


# The order in which time moves an identity towards expiry; refresh_device_status only moves devices forward.
EXPIRY_PROGRESSION = [
    DeviceStatus.ACTIVE,
    DeviceStatus.RENEWAL_WINDOW,
    DeviceStatus.ABOUT_TO_EXPIRE,
    DeviceStatus.EXPIRED,
]


def _due_status(expires_at: datetime, now: datetime, renewal_window: timedelta, about_to_expire: timedelta):
    if expires_at <= now:
        return DeviceStatus.EXPIRED
    if expires_at <= now + about_to_expire:
        return DeviceStatus.ABOUT_TO_EXPIRE
    if expires_at <= now + renewal_window:
        return DeviceStatus.RENEWAL_WINDOW
    return None


@transaction.atomic
def devices_refresh_status_batch(
    *,
    now: datetime,
    renewal_window: timedelta,
    about_to_expire: timedelta,
    after_id: str = "",
    batch_size: int = 1000,
    source: str = "command:refresh_device_status",
) -> tuple[int, str | None]:
    """Move one batch of due devices (ids after `after_id`) to the status their expiry calls for.

    Returns (devices moved, last id examined or None when done). Rows locked by a concurrent writer are skipped
    and picked up by the next run; each move is one STATUS-UPDATED event.
    """
    candidates = list(
        Device.objects.select_for_update(skip_locked=True)
        .filter(
            pk__gt=after_id,
            status__in=EXPIRY_PROGRESSION[:-1],
            identity_expires_at__lte=now + renewal_window,
        )
        .order_by("pk")[:batch_size]
    )
    if not candidates:
        return 0, None
    moved = []
    for device in candidates:
        target = _due_status(device.identity_expires_at, now, renewal_window, about_to_expire)
        if target and EXPIRY_PROGRESSION.index(target) > EXPIRY_PROGRESSION.index(device.status):
            moved.append((device, device.status, target))
    # `now` judges expiry for the whole run; a write is stamped when it is made, so that a long run never dates it
    # before changes made meanwhile (a client polling `updated_timestamp[af]:...` would miss it).
    written_at = max(now, timezone.now())
    latest = latest_events([device.pk for device, _, _ in moved])
    events, changes = [], []
    for device, old, new in moved:
        old_identity = copy.deepcopy(device.slots[DEFAULT_SLOT])
        device.status = new
        device.slots[DEFAULT_SLOT]["status"] = new
        device.touch(written_at)
        expiry = _format_expiration(device.identity_expires_at)
        events.append(event_values(device_id=device.pk, type=EventType.STATUS_UPDATED, source=source, at=written_at,
                                   description=f"Status changed from {old} to {new} (identity expires {expiry})",
                                   latest=latest.get(device.pk)))  # fmt: skip
        changes += [
            Change("device.identity.updated", device.pk, source, device=device, at=written_at,
                   changes={"identity": (old_identity, device.slots[DEFAULT_SLOT])}),
            Change("device.status.updated", device.pk, source, device=device, at=written_at,
                   changes={"status": (old, new)}),
        ]  # fmt: skip
    fields = ["status", "slots", "version", "updated_timestamp"]
    devices_bulk_save(devices=[device for device, _, _ in moved], fields=fields, events=events)
    publish(changes)
    return len(moved), candidates[-1].pk


# --- Many devices at once: the fleet actions' batches (contract, section 9) ---------------------------------------
# Each applies to every device of a batch what the single-device service above applies to one, with the same rules
# and events, in one transaction: a device already as asked succeeds and records nothing; a device the rule refuses
# fails alone, with the reason.


@dataclass(frozen=True)
class Outcome:
    device_id: str
    error: str = ""  # why the device was left as it was; empty when it was changed, or already was as asked


def devices_lock(device_ids: list[str], queryset=None) -> list[Device]:
    """Lock the rows of the devices that exist among these, in id order (so that two batches never wait for each
    other in a cycle), for the rest of the transaction."""
    queryset = Device.objects.all() if queryset is None else queryset
    return list(filter_in(queryset.select_for_update(), "id", device_ids).order_by("pk"))


@transaction.atomic
def devices_set_fields(
    *,
    device_ids: list[str],
    fields: Collection[str],
    fields_of: Callable[[Device], dict],
    source: str,
    metadata_description: str = METADATA_REPLACED,
) -> list[Outcome]:
    """Set editable fields (or the metadata) on each device as `device_update` (or `_store_metadata`) does:
    `fields_of(device)` gives its values of some of `fields`, or raises a DomainError that fails the device alone.
    The JSON documents outside `fields` are read as their stored text, which the events' data holds as it is: a
    batch does not decode and encode again a thousand devices' metadata and slots that it leaves unchanged."""
    devices = devices_lock(device_ids, Device.objects.documents_as_text(decoded=fields))
    outcomes, updates, declared = _missing(device_ids, devices), [], set(fields)
    for device in devices:
        try:
            values = fields_of(device)
            if not values.keys() <= declared:  # a field read as text would be read again, a query per device
                raise ValueError(f"fields_of gave {sorted(values)}, beyond {sorted(fields)}")
            changes = field_changes(device, values)
        except DomainError as exc:
            outcomes.append(Outcome(device.pk, exc.message))
            continue
        if changes:
            updates.append(DeviceUpdate(device, changes))
        outcomes.append(Outcome(device.pk))
    devices_bulk_update(updates=updates, at=timezone.now(), source=source, metadata_description=metadata_description)
    return outcomes


def devices_patch_metadata(*, device_ids: list[str], operations: list[dict], source: str) -> list[Outcome]:
    """Apply an RFC 6902 patch to each device's metadata on its own, as `device_apply_metadata_patch` does; a device
    whose metadata the patch does not apply to (a failed `test`, a missing path, too large) fails alone."""
    return devices_set_fields(
        device_ids=device_ids,
        fields=("metadata",),
        fields_of=lambda device: {"metadata": patched_metadata(device.metadata, operations)},
        source=source,
        metadata_description=_patched(operations),
    )


@transaction.atomic
def devices_decommission(*, device_ids: list[str], source: str) -> list[Outcome]:
    devices = devices_lock(device_ids)
    _decommission(devices, source)
    return _missing(device_ids, devices) + [Outcome(device.pk) for device in devices]


@transaction.atomic
def devices_delete(*, device_ids: list[str], force: bool, source: str) -> list[Outcome]:
    """Delete each device as `device_delete` does; one that is gone already is as asked."""
    devices = devices_lock(device_ids)
    refused = {device.pk: refusal for device in devices if (refusal := deletion_refusal(device, force))}
    _delete([device for device in devices if device.pk not in refused], source)
    return [Outcome(device_id, refused.get(device_id, "")) for device_id in device_ids]


def _missing(device_ids: list[str], devices: list[Device]) -> list[Outcome]:
    found = {device.pk for device in devices}
    return [Outcome(device_id, "the device no longer exists") for device_id in device_ids if device_id not in found]
