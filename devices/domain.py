"""The rules of a device's rows, written once: the services (one device, devices/services.py) and the batch writes
(many, devices/batch.py) build every device row and event with these, whatever the path (API, admin, import,
seed, refresh)."""

import json
from datetime import datetime, timedelta

import orjson

from devmanager.access import check_dms_allowed
from devmanager.api.filtering.lookups import fold

from .choices import DeviceStatus, EventType

ONE_MICROSECOND = timedelta(microseconds=1)
# The columns of the device and event tables, in the order the batch writes give them.
DEVICE_COLUMNS = [
    "id", "alias", "tags", "tag_terms", "status", "icon", "icon_color", "dms_owner", "metadata", "slots",
    "identity_expires_at", "version", "creation_timestamp", "updated_timestamp",
]  # fmt: skip
EVENT_COLUMNS = ["device_id", "timestamp", "type", "description", "source"]
CREATED_DESCRIPTION = "Device created"
METADATA_REPLACED = "Metadata replaced"
# The fields `PATCH`/`PUT /devices/{id}` change (contract, section 9), with the value each goes back to.
EDITABLE_FIELDS = {"alias": "", "tags": [], "icon": "", "icon_color": "", "dms_owner": ""}


def tag_terms(tags: list[str]) -> list[str]:
    """Each tag as `=<tag>` (exact filters) and `~<folded tag>` (case-insensitive ones), without repeats."""
    return list(dict.fromkeys([*(f"={tag}" for tag in tags), *(f"~{fold(tag)}" for tag in tags)]))


def new_device_columns(
    *,
    id: str,
    created: datetime,
    alias: str = "",
    tags: list[str] | None = None,
    metadata: dict | None = None,
    dms_owner: str = "",
    icon: str = "",
    icon_color: str = "",
    status: str = DeviceStatus.NO_IDENTITY,
    slots: dict | None = None,
    identity_expires_at: datetime | None = None,
    updated: datetime | None = None,
) -> dict:
    """A new device's row: the value of every column (`DEVICE_COLUMNS`), its tag terms derived from its tags. A new
    device is `NO_IDENTITY` with no slot, unless an import carries the state an export wrote."""
    tags = list(tags or [])
    return {
        "id": id,
        "alias": alias,
        "tags": tags,
        "tag_terms": tag_terms(tags),
        "status": status,
        "icon": icon,
        "icon_color": icon_color,
        "dms_owner": dms_owner,
        "metadata": {} if metadata is None else metadata,
        "slots": slots or {},
        "identity_expires_at": identity_expires_at,
        "version": 1,
        "creation_timestamp": created,
        "updated_timestamp": updated or created,
    }


def next_event_timestamp(at: datetime, latest: datetime | None) -> datetime:
    """When an event happening `at` is recorded: a device's event timestamps strictly increase, so a clock reading
    equal to (or before) its latest event's is bumped past it by a microsecond."""
    return at if latest is None or at > latest else latest + ONE_MICROSECOND


def event_values(
    *, device_id: str, type: str, description: str, source: str, at: datetime, latest: datetime | None = None
) -> tuple:
    """An event's row (`EVENT_COLUMNS`), stamped after the device's `latest` event. `source` is the actor."""
    return (device_id, next_event_timestamp(at, latest), type, description, history_source(source))


ACTOR_KINDS = ("key", "admin", "command")


def history_source(actor: str) -> str:
    """Who acted, as a device's history shows it (contract, section 3: the key's name, the admin user, the command),
    from an actor as the feed shows it (section 7: `key:<name>`, `admin:<username>`, `command:<name>`)."""
    kind, separator, name = actor.partition(":")
    return name if separator and kind in ACTOR_KINDS else actor


def created_event_values(*, device_id: str, at: datetime, source: str) -> tuple:
    """The `CREATED` event of a device created `at`: a new device's first event, stamped with its creation."""
    return event_values(device_id=device_id, type=EventType.CREATED, description=CREATED_DESCRIPTION, source=source,
                        at=at)  # fmt: skip


def field_changes(device, fields: dict) -> dict[str, tuple]:
    """The editable fields (`EDITABLE_FIELDS`, and `metadata`) whose given value differs from the device's, each as
    (old, new); the feed's `data.changes`. Compared as JSON: `1` and `1.0` differ, as the stored documents do.
    Raises AccessDenied when the device would move to a DMS the running code may not see (a restricted key's)."""
    changes = {
        name: (getattr(device, name), value)
        for name, value in fields.items()
        if not same_json(getattr(device, name), value)
    }
    if "dms_owner" in changes:
        check_dms_allowed(changes["dms_owner"][1])
    return changes


def apply_fields(device, changes: dict[str, tuple], at: datetime | None = None) -> None:
    """Set the changed fields on the device (its tag terms follow its tags) and mark it changed; the caller saves."""
    for name, (_, new) in changes.items():
        setattr(device, name, new)
    if "tags" in changes:
        device.tag_terms = tag_terms(device.tags)
    device.touch(at)


def update_event_values(
    *, device_id: str, changes: dict, source: str, at: datetime, latest, metadata_description: str = METADATA_REPLACED
) -> list[tuple]:
    """The history events of a change of fields: `UPDATED` naming the editable fields that changed, and
    `METADATA-UPDATED` when the metadata did (an import's upsert can change both); timestamps strictly increasing."""
    events = []
    updated = [name for name in changes if name != "metadata"]
    if updated:
        events.append(event_values(device_id=device_id, type=EventType.UPDATED, source=source, at=at, latest=latest,
                                   description=f"Updated: {', '.join(updated)}"))  # fmt: skip
    if "metadata" in changes:
        latest = events[-1][1] if events else latest
        events.append(event_values(device_id=device_id, type=EventType.METADATA_UPDATED, source=source, at=at,
                                   latest=latest, description=metadata_description))  # fmt: skip
    return events


def same_json(left, right) -> bool:
    """Equal as JSON documents (Python's == would call 1, 1.0 and true equal)."""
    return _canonical(left) == _canonical(right)


def _canonical(value) -> bytes:
    """A document's JSON with sorted keys: orjson's, or the json module's where orjson refuses (an integer beyond
    64 bits, a NonFinite number); two documents that differ in those are unequal whichever spelled them."""
    try:
        return b"o" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return b"j" + json.dumps(value, sort_keys=True).encode()
