"""Changes leave the write door: every write of a device, its adapters or the group tree tells the listeners that
apps above `devices` register (`events`: the fleet feed), inside the write's transaction, so that a change and its
record commit or roll back together."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone


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


CHANGE_LISTENERS: list[Callable[[list[Change]], None]] = []


def register_change_listener(listener: Callable[[list[Change]], None]) -> None:
    """From an app's `AppConfig.ready()`: `listener(changes)` is called with the changes of each write, in order."""
    CHANGE_LISTENERS.append(listener)


def publish(changes: list[Change]) -> None:
    """Tell every listener; called by the services and batch writes, in the transaction of the change."""
    if changes:
        for listener in CHANGE_LISTENERS:
            listener(changes)
