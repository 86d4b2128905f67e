"""Writes to network adapters; the device's row lock serialises them per device, and each change gives the device a new
ETag and `updated_timestamp` (its adapters are part of it)."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from devices.changes import Change, publish
from devices.services import device_lock, device_touch
from devmanager.errors import Conflict, Invalid, NotFound

from .models import MAX_ADAPTERS_PER_DEVICE, AdapterType, NetworkAdapter


def _save(adapter: NetworkAdapter) -> None:
    try:
        with transaction.atomic():
            adapter.save()
    except IntegrityError as exc:  # the unique index settles concurrent creates
        field = AdapterType(adapter.type).identifier_field
        raise Conflict(f"Another adapter already has {field} {getattr(adapter, field)}.") from exc


@transaction.atomic
def adapter_create(*, device_id: str, type: str, actor: str = "", **fields) -> NetworkAdapter:
    device = device_lock(device_id=device_id)
    if device.adapters.count() >= MAX_ADAPTERS_PER_DEVICE:
        raise Conflict(f"A device has at most {MAX_ADAPTERS_PER_DEVICE} network adapters.")
    identifier = AdapterType(type).identifier_field
    if NetworkAdapter.objects.filter(**{identifier: fields[identifier]}).exists():
        raise Conflict(f"Another adapter already has {identifier} {fields[identifier]}.")
    now = timezone.now()  # one reading: a new adapter's updated_at equals its created_at, as for devices and groups
    adapter = NetworkAdapter(device=device, type=type, created_at=now, updated_at=now, **fields)
    _save(adapter)
    device_touch(device=device)
    publish([Change("device.adapter.added", device.pk, actor, adapter=adapter, at=now, dms=device.dms_owner)])
    return adapter


@transaction.atomic
def adapter_update(
    *, adapter: NetworkAdapter, type: str | None = None, if_match: str | None = None, actor: str = "", **fields
) -> NetworkAdapter:
    """Update the non-identifying fields; the type and the identifier never change (the same value is a no-op)."""
    device = device_lock(device_id=adapter.device_id, if_match=if_match)
    try:
        adapter = NetworkAdapter.objects.get(pk=adapter.pk)
    except NetworkAdapter.DoesNotExist as exc:  # deleted since the caller looked it up
        raise NotFound(f"No network adapter {adapter.pk}.") from exc
    if type is not None and type != adapter.type:
        raise Invalid({"type": ["an adapter's type cannot change"]})
    identifier = AdapterType(adapter.type).identifier_field
    if identifier in fields and str(fields.pop(identifier)) != str(getattr(adapter, identifier)):
        raise Invalid({identifier: ["an adapter's identifier cannot change"]})
    changed = {name: value for name, value in fields.items() if getattr(adapter, name) != value}
    if changed:
        changes = {name: (getattr(adapter, name), value) for name, value in changed.items()}
        for name, value in changed.items():
            setattr(adapter, name, value)
        adapter.updated_at = timezone.now()
        _save(adapter)
        device_touch(device=device)
        publish(
            [Change("device.adapter.updated", device.pk, actor, adapter=adapter, changes=changes, dms=device.dms_owner)]
        )
    return adapter


@transaction.atomic
def adapter_delete(*, adapter: NetworkAdapter, if_match: str | None = None, actor: str = "") -> None:
    device = device_lock(device_id=adapter.device_id, if_match=if_match)
    deleted, _ = NetworkAdapter.objects.filter(pk=adapter.pk).delete()
    if deleted:
        device_touch(device=device)
        publish([Change("device.adapter.removed", device.pk, actor, adapter=adapter, dms=device.dms_owner)])
