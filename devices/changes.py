"""Changes leave the write door: every write of a device, its adapters or the group tree tells the listeners that
apps above `devices` register (`events`: the fleet feed), inside the write's transaction, so that a change and its
record commit or roll back together.

A batch path that encodes rows ahead in other processes (the import) publishes `EncodedChanges`; one that must
choose the moment its changes are recorded (the import's batches, which commit in input order) holds them with
`changes_held()` and releases them when its turn comes."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from devmanager.strictjson import JsonText, parse_json


@dataclass(frozen=True)
class Change:
    """One change, as the feed names it (`device.created`, `group.updated`, ...). `subject` is the device's id (for
    a device or one of its adapters) or the group's; `device`, `adapter` and `group` are the objects after the change
    (before it, for a deletion); `changes` maps each changed field to its (old, new) values."""

    type: str
    subject: str
    actor: str
    device: object = None
    adapter: object = None
    group: object = None
    changes: dict = field(default_factory=dict)
    at: datetime = field(default_factory=timezone.now)
    dms: str | None = None  # the device's DMS, for a change of one of its adapters given without the device

    def dms_columns(self) -> tuple[str | None, str | None]:
        """The DMS of the change's device (after the change; before it, for a deletion), and its DMS before the
        change when the change moved it: who may see the change. (None, None) for a group's change."""
        if self.device is None:
            return self.dms, None
        moved = self.changes.get("dms_owner")
        return self.device.dms_owner, (moved[0] if moved else None)


@dataclass(frozen=True)
class EncodedChanges:
    """Changes of one type by one actor whose subject and data are already encoded: an import's new devices
    (`devices.batch.encode_created`) and adapters (`adapters.api.serializers.encode_added`)."""

    type: str
    actor: str
    lines: list[bytes]  # each the subject, the DMS (the device's) and the data, as fields of COPY's binary format


@dataclass(frozen=True)
class ChangeListener:
    record: Callable[[list[Change]], None]
    record_encoded: Callable[[EncodedChanges], None]


CHANGE_LISTENERS: list[ChangeListener] = []
_held = threading.local()


def register_change_listener(record, record_encoded) -> None:
    """From an app's `AppConfig.ready()`: `record(changes)` is called with the changes of each write, in order, and
    `record_encoded(encoded)` with encoded ones."""
    CHANGE_LISTENERS.append(ChangeListener(record, record_encoded))


def publish(changes: list[Change]) -> None:
    """Tell every listener (or hold the changes, in `changes_held`); called by the services and batch writes, in the
    transaction of the change."""
    if changes:
        _dispatch("record", changes)


def publish_encoded(encoded: EncodedChanges) -> None:
    if encoded.lines:
        _dispatch("record_encoded", encoded)


def _dispatch(method: str, item) -> None:
    held = getattr(_held, "items", None)
    if held is not None:
        held.append((method, item))
        return
    for listener in CHANGE_LISTENERS:
        getattr(listener, method)(item)


class HeldChanges:
    def __init__(self):
        self.items: list[tuple[str, object]] = []

    def release(self) -> None:
        """Tell the listeners what was held, in order, now."""
        items, self.items = self.items, []
        for method, item in items:
            for listener in CHANGE_LISTENERS:
                getattr(listener, method)(item)


@contextmanager
def changes_held() -> Iterator[HeldChanges]:
    """Hold what this thread publishes until `release()`: an import's batch records its changes (taking the feed's
    counter, which serialises commits) only once the batch before it has committed."""
    held = HeldChanges()
    _held.items = held.items
    try:
        yield held
    finally:
        _held.items = None


def device_data(device) -> dict:
    """The data of a device's event before its `changes`: the device (contract, section 7). An import's device
    holds its metadata as the JSON text it stores; the event holds the document."""
    from .api.serializers import device_snapshot

    snapshot = device_snapshot(device)
    for name, value in snapshot.items():
        if isinstance(value, JsonText):
            snapshot[name] = parse_json(value)
    return {"device": snapshot}
