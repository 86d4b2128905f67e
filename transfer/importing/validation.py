"""Validation of import rows: the body of `POST /devices` through DeviceCreateSerializer (or a fast path that gives
its verdicts), the adapters through the adapters' serializer (idem), and the state an export carries."""

import contextlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from adapters.api.serializers import NetworkAdapterWriteSerializer
from adapters.identifiers import NORMALISERS
from adapters.models import MAX_ADAPTERS_PER_DEVICE, AdapterType
from devices.api.serializers import DeviceCreateSerializer
from devices.choices import DEFAULT_SLOT, SLOT_TYPES, DeviceStatus, SlotStatus
from devices.validators import ICON_COLOR, MAX_TAGS, RESERVED_IDS, TEXT_LIMITS, json_size
from devmanager.api.exceptions import flatten_errors
from devmanager.strictjson import JsonText, compact_json
from devmanager.timestamps import format_timestamp, parse_instant
from devmanager.validation import MAX_JSON_DEPTH, json_document_problem

from ..rowformats import InputRow

STATE_FIELDS = ("status", "slots", "creation_timestamp", "updated_timestamp")
# An adapter given by its identifier alone: `imei`, `dev_eui`, `dvn_uuid` columns.
ADAPTER_SHORTHANDS = {adapter_type.identifier_field: adapter_type for adapter_type in AdapterType}
NOT_BODY = frozenset([*STATE_FIELDS, "network_adapters", *ADAPTER_SHORTHANDS])  # the fields POST /devices lacks
IDENTIFIERS = {adapter_type.value: adapter_type.identifier_field for adapter_type in AdapterType}
SLOT_KEYS = {"status", "active_version", "type", "versions", "expiration_date"}
CANONICAL_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", re.ASCII)
# Sets, not the choices' `.values`, which builds a list on every call.
DEVICE_STATUSES = frozenset(DeviceStatus.values)
SLOT_STATUSES = frozenset(SlotStatus.values)


class RowError(Exception):
    """A row that cannot be imported; `fields` name each fault as the API's error body does."""

    def __init__(self, fields: list[dict]):
        super().__init__("; ".join(f"{item['name']}: {item['message']}" for item in fields))
        self.fields = fields


@dataclass
class Adapter:
    name: str  # where the row names it, for errors: `imei` or `network_adapters[2]`
    fields: dict  # the validated body: type, identifier, other fields
    generated: bool = False  # a generic adapter given no dvn_uuid (one is made up)

    def __reduce__(self):  # pickled as a tuple of fields (see DeviceRow.__reduce__)
        return Adapter, (self.name, self.fields, self.generated)

    @property
    def identifier(self) -> tuple[str, str]:
        column = IDENTIFIERS[self.fields["type"]]
        return column, str(self.fields[column])


@dataclass
class DeviceRow:
    """A valid row: the fields `POST /devices` would pass to `device_create`, the imported state, the adapters."""

    line: int
    raw: str
    device: dict
    state: dict = field(default_factory=dict)
    adapters: list[Adapter] = field(default_factory=list)
    metadata_json: JsonText | None = None
    copy: tuple[str, str, str, list[str]] | None = (
        None  # on PostgreSQL: the COPY lines of the device, event, change, adapters
    )

    def __reduce__(self):
        # A million rows go to the writing process through a pipe: as tuples of fields they pickle in a third of
        # the time that a dict of them (the default) takes.
        return DeviceRow, (self.line, self.raw, self.device, self.state, self.adapters, self.metadata_json, self.copy)

    @property
    def id(self) -> str:
        return self.device["id"]

    def keys(self) -> list[tuple[str, str]]:
        """What no two rows of one batch may share: the id and each adapter identifier."""
        return [("id", self.id), *(adapter.identifier for adapter in self.adapters)]


def device_row(item: InputRow) -> DeviceRow:
    """Validate one input row; raises RowError naming each field at fault as the API would."""
    if item.problems:
        raise RowError(item.problems)
    record = item.record
    body = {name: value for name, value in record.items() if name not in NOT_BODY}
    errors, metadata_json = [], None
    if type(body.get("metadata")) is dict:
        # A failure is judged below, once the serializer has had its say.
        with contextlib.suppress(ValueError, RecursionError):
            metadata_json = compact_json(body["metadata"])
    device = device_fields_fast(body, metadata_json)
    if device is None:
        serializer = DeviceCreateSerializer(data=body)
        try:
            valid = serializer.is_valid()
        except UnicodeEncodeError:  # a lone surrogate in metadata, which the size check encodes
            raise RowError([{"name": "metadata", "message": "is not valid Unicode"}]) from None
        device = dict(serializer.validated_data) if valid else None
        errors += [] if valid else flatten_errors(serializer.errors)
    state, state_errors = _state(record)
    adapters, adapter_errors = _adapters(record)
    errors += state_errors + adapter_errors
    if device is not None and "metadata" in device and metadata_json is None:
        # Valid for the API, yet no database stores it: a lone surrogate, NaN or an infinity (1e400).
        errors.append({"name": "metadata", "message": "holds a lone surrogate or a number out of range"})
    if errors:
        raise RowError(errors)
    return DeviceRow(item.line, item.raw, device, state, adapters, metadata_json)


CREATE_FIELDS = frozenset(DeviceCreateSerializer().fields)
OPTIONAL_TEXT = ("alias", "dms_id", "dms_owner", "icon", "icon_color")


def _plain(value, max_length: int) -> bool:
    """Ordinary ASCII text, which the serializer accepts as it is; anything else (NUL, surrounding white space, which
    is kept but rare) is left to the serializer."""
    return (
        type(value) is str
        and len(value) <= max_length
        and value.isascii()
        and "\x00" not in value
        and value == value.strip()
    )


def device_fields_fast(body: dict, metadata_json: str | None = None) -> dict | None:
    """`DeviceCreateSerializer(data=body).validated_data` for an ordinary valid body, many times faster; None for
    anything else (invalid, non-ASCII text, whitespace to trim), which the serializer then judges.
    `metadata_json` is the compact JSON of the metadata (it is checked for size, and needed anyway to write it).
    tests/commands/test_import_validation.py checks that the two agree."""
    device_id = body.get("id")
    if not (
        body.keys() <= CREATE_FIELDS
        and type(device_id) is str
        and 0 < len(device_id) <= TEXT_LIMITS["id"]
        and device_id.isascii()
        and device_id.isprintable()  # for ASCII: no control characters
        and "/" not in device_id
        and device_id not in RESERVED_IDS
    ):
        return None
    fields = {"id": device_id}
    for name in OPTIONAL_TEXT:
        value = body.get(name)
        if value is not None:
            if not _plain(value, TEXT_LIMITS[name]):
                return None
            fields[name] = value
    if fields.get("icon_color") and not ICON_COLOR.fullmatch(fields["icon_color"]):
        return None
    dms_id, dms_owner = fields.pop("dms_id", None), fields.pop("dms_owner", None)
    if dms_id is not None and dms_owner is not None and dms_id != dms_owner:
        return None
    if any(value is not None and not _plain_dms(value) for value in (dms_id, dms_owner)):
        return None
    if dms_id is not None or dms_owner is not None:
        fields["dms_owner"] = dms_id if dms_id is not None else dms_owner
    tags = body.get("tags")
    if tags is not None:
        if type(tags) is not list or len(tags) > MAX_TAGS:
            return None
        # A tag with spaces around it is kept, as the API keeps it, but is unusual enough to leave to DRF.
        if not all(_plain(tag, TEXT_LIMITS["tag"]) and tag for tag in tags) or len(set(tags)) != len(tags):
            return None
        fields["tags"] = tags
    metadata = body.get("metadata")
    if metadata is not None:
        if type(metadata) is not dict or metadata_json is None or not _metadata_fits(metadata, metadata_json):
            return None
        if "\\u0000" in metadata_json:  # perhaps a NUL (or the text `\u0000`): validate_metadata decides
            return None
        fields["metadata"] = metadata
    return fields


def _plain_dms(value: str) -> bool:
    """A DMS id validate_dms_id accepts (for ASCII, which `_plain` has checked)."""
    return value.isprintable() and "/" not in value and value not in (".", "..")


def _metadata_fits(metadata: dict, text: str) -> bool:
    """Within validate_metadata's limits, told from the compact JSON without walking the document: n opening
    brackets nest at most n deep (a document with more is left to validate_metadata). Where orjson writes a float
    a character shorter than the json module, its text has an `e` (1e-7 for 1e-07): a text within the limit by
    more than its count of `e` is within it for the json module too; nearer, the size is measured as the API does."""
    limit = settings.DEVMANAGER_METADATA_MAX_BYTES
    size = len(text) if text.isascii() else len(text.encode())
    if size + text.count("e") > limit:
        size = json_size(metadata)
    return size <= limit and text.count("{") + text.count("[") <= MAX_JSON_DEPTH


def _state(record: dict) -> tuple[dict, list[dict]]:
    """The exported state of a device: status, identity slots, timestamps; consistent with one another."""
    state, errors = {}, []
    status = record.get("status")
    if status is not None:
        if isinstance(status, str) and status in DEVICE_STATUSES:
            state["status"] = status
        else:
            errors.append({"name": "status", "message": f"must be one of {', '.join(DeviceStatus.values)}"})
    slots = record.get("slots")
    if slots is not None:
        if type(slots) is not dict:
            errors.append({"name": "slots", "message": "must be an object of identity slots by name"})
        elif problem := json_document_problem(slots):
            errors.append({"name": "slots", "message": problem})
        else:
            expiries = {}
            for name, slot in slots.items():
                problems, expiries[name] = _slot_problems(slot)
                errors += [{"name": f"slots.{name}", "message": problem} for problem in problems]
            if not errors:
                state["slots"] = {name: _normalised_slot(slot, expiries[name]) for name, slot in slots.items()}
                state["identity_expires_at"] = expiries.get(DEFAULT_SLOT)
    for name in ("creation_timestamp", "updated_timestamp"):
        value = record.get(name)
        if value is not None:
            parsed = _datetime(value)
            if parsed is None:
                errors.append({"name": name, "message": "must be an RFC 3339 date-time with a time zone"})
            else:
                state[name] = parsed
    if not errors:
        errors += _state_consistency(state)
    return state, errors


def _datetime(value) -> datetime | None:
    try:
        return parse_instant(value)
    except ValueError:
        return None


def _slot_problems(slot) -> tuple[list[str], datetime | None]:
    """What is wrong with an identity slot, and its expiration_date read."""
    if type(slot) is not dict:
        return ["must be an object"], None
    if not (slot.keys() == SLOT_KEYS or slot.keys() == SLOT_KEYS - {"expiration_date"}):
        return [f"must have the keys {', '.join(sorted(SLOT_KEYS))} (expiration_date optional)"], None
    problems = []
    if not (isinstance(slot["status"], str) and slot["status"] in SLOT_STATUSES):
        problems.append(f"status must be one of {', '.join(SlotStatus.values)}")
    version = slot["active_version"]
    if type(version) is not int or version < 0:
        problems.append("active_version must be an integer >= 0")
    if not (isinstance(slot["type"], str) and slot["type"] in SLOT_TYPES):
        problems.append(f"type must be one of {', '.join(SLOT_TYPES)}")
    versions = slot["versions"]
    if type(versions) is not dict or not all(
        key.isascii() and key.isdigit() and (key == "0" or not key.startswith("0")) for key in versions
    ):
        problems.append("versions must be an object keyed by version numbers")

    expires = slot.get("expiration_date")
    if expires is not None and (expires := _datetime(expires)) is None:
        problems.append("expiration_date must be an RFC 3339 date-time with a time zone, or null")
    return problems, expires


def _normalised_slot(slot: dict, expires: datetime | None) -> dict:
    """The slot as stored: its expiration_date in UTC with microseconds, as an export writes it."""
    if "expiration_date" in slot and (expires is None or CANONICAL_TIMESTAMP.fullmatch(slot["expiration_date"])):
        return slot
    return {**slot, "expiration_date": None if expires is None else format_timestamp(expires)}


def _state_consistency(state: dict) -> list[dict]:
    """The status follows the identity slot, except that a decommissioned device keeps a revoked or expired one."""
    identity = state.get("slots", {}).get(DEFAULT_SLOT)
    status = state.get("status")
    if status is not None:
        if identity is None:
            allowed = {DeviceStatus.NO_IDENTITY, DeviceStatus.DECOMMISSIONED}
        elif identity["status"] in (SlotStatus.REVOKED, SlotStatus.EXPIRED):
            allowed = {identity["status"], DeviceStatus.DECOMMISSIONED}
        else:
            allowed = {identity["status"]}
        if status not in allowed:
            return [{"name": "status", "message": "does not agree with the identity slot (slots.default.status)"}]
    created, updated = state.get("creation_timestamp"), state.get("updated_timestamp")
    if created and updated and updated < created:
        return [{"name": "updated_timestamp", "message": "is before creation_timestamp"}]
    return []


def _adapters(record: dict) -> tuple[list[Adapter], list[dict]]:
    if "network_adapters" not in record and ADAPTER_SHORTHANDS.keys().isdisjoint(record):
        return [], []
    bodies, errors = [], []
    listed = record.get("network_adapters")
    if listed is not None:
        if type(listed) is not list:
            errors.append({"name": "network_adapters", "message": "must be a list of network adapters"})
        else:
            bodies += [(f"network_adapters[{index}]", body) for index, body in enumerate(listed)]
    for name, adapter_type in ADAPTER_SHORTHANDS.items():
        if record.get(name) is not None:
            bodies.append((name, {"type": adapter_type.value, name: record[name]}))
    adapters = []
    for name, body in bodies:
        try:
            adapters.append(_adapter(name, body))
        except RowError as exc:
            errors += exc.fields
    if len(adapters) > MAX_ADAPTERS_PER_DEVICE:
        errors.append({"name": "network_adapters", "message": f"a device has at most {MAX_ADAPTERS_PER_DEVICE}"})
    repeated = [key for key, count in Counter(adapter.identifier for adapter in adapters).items() if count > 1]
    errors += [{"name": column, "message": f"{value} is given twice"} for column, value in repeated]
    return adapters, errors


def _adapter(name: str, body) -> Adapter:
    """A validated adapter body; `{"type", <identifier>}` alone skips the serializer, whose checks are these."""
    if type(body) is dict and type(body.get("type")) is str and body.keys() == {"type", IDENTIFIERS.get(body["type"])}:
        column = IDENTIFIERS[body["type"]]
        value = body[column]
        if _plain(value, 64) and value:
            try:
                return Adapter(name, {"type": body["type"], column: NORMALISERS[column](value)})
            except ValueError:
                pass  # the serializer says why
    serializer = NetworkAdapterWriteSerializer(data=body, context={"creating": True})
    if not serializer.is_valid():
        prefix = "" if name in ADAPTER_SHORTHANDS else name
        raise RowError(flatten_errors(serializer.errors, prefix))
    generated = body.get("type") == AdapterType.GENERIC and not {"dvn_uuid", "dvnUuid"} & body.keys()
    return Adapter(name, dict(serializer.validated_data), generated=generated)
