import copy

import jsonpointer
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from devmanager.api.serializers import (
    DictField,
    ListField,
    StrictCharField,
    StrictIntegerField,
    StrictSerializer,
    TimestampField,
    validate_dms_id,
)
from devmanager.strictjson import StoredJSON
from devmanager.timestamps import TIMESTAMP_FORMAT, format_timestamp

from ..choices import SLOT_TYPES, DeviceStatus, SlotStatus
from ..domain import EDITABLE_FIELDS
from ..models import Device, DeviceEvent
from ..querysets import attach_recent_events
from ..services import SLOT_STATUS_ALIASES
from ..validators import (
    MAX_TAGS,
    TEXT_LIMITS,
    validate_device_id,
    validate_icon_color,
    validate_json_document,
    validate_metadata,
    validate_unique_tags,
)


def _document(device, name: str):
    """A JSON field of the device as `for_representation` fetched it: its stored text, which the renderer writes out
    as it is; or, for a device a write has just saved (the feed's snapshots), the field's value."""
    if not hasattr(device, f"{name}_json"):
        return getattr(device, name)
    text = getattr(device, f"{name}_json")
    return None if text is None else StoredJSON(text)


def device_representation(device) -> dict:
    """A device as every endpoint returns it. Built by hand: it is the hot path of every list page, where DRF's
    field-by-field serialisation costs several times more. `DeviceSerializer` documents the same shape."""
    if not hasattr(device, "recent_events"):
        attach_recent_events([device])
    return {
        **device_snapshot(device),
        # Oldest first among the most recent ones, so the map reads as a timeline.
        "events": {
            format_timestamp(event.timestamp): {"type": event.type, "description": event.description}
            for event in reversed(device.recent_events)
        },
    }


def device_snapshot(device) -> dict:
    """A device as the endpoints return it, without its recent events: the `data.device` of the feed's events."""
    return {
        "id": device.id,
        "alias": device.alias,
        "tags": _document(device, "tags"),
        "status": device.status,
        "icon": device.icon,
        "icon_color": device.icon_color,
        "creation_timestamp": format_timestamp(device.creation_timestamp),
        "updated_timestamp": format_timestamp(device.updated_timestamp),
        "metadata": _document(device, "metadata"),
        "dms_owner": device.dms_owner,
        "identity": _document(device, "identity"),
        "slots": _document(device, "slots"),
    }


class IdentitySlotSerializer(serializers.Serializer):
    """The shape of an identity slot (documentation only: slots are stored as JSON)."""

    status = serializers.ChoiceField(choices=DeviceStatus.choices)
    active_version = StrictIntegerField(min_value=0)
    type = serializers.CharField()
    versions = DictField(child=serializers.JSONField())
    expiration_date = serializers.DateTimeField(allow_null=True)


class DeviceEventSummarySerializer(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField()


class DeviceListSerializer(serializers.ListSerializer):
    """A page of devices: their recent events read in one query for the whole page."""

    def to_representation(self, data):
        devices = list(data)
        attach_recent_events([device for device in devices if not hasattr(device, "recent_events")])
        return super().to_representation(devices)


class DeviceSerializer(serializers.ModelSerializer):
    """A device as every endpoint returns it, read through `Device.objects.for_representation()`."""

    identity = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()
    tags = ListField(child=serializers.CharField())
    metadata = DictField(child=serializers.JSONField())
    slots = DictField(child=IdentitySlotSerializer())
    creation_timestamp = serializers.DateTimeField(format=TIMESTAMP_FORMAT)
    updated_timestamp = serializers.DateTimeField(format=TIMESTAMP_FORMAT)

    class Meta:
        model = Device
        fields = [
            "id",
            "alias",
            "tags",
            "status",
            "icon",
            "icon_color",
            "creation_timestamp",
            "updated_timestamp",
            "metadata",
            "dms_owner",
            "identity",
            "slots",
            "events",
        ]
        read_only_fields = fields
        list_serializer_class = DeviceListSerializer

    def get_identity(self, device) -> IdentitySlotSerializer(allow_null=True):
        return device.identity

    @extend_schema_field(DictField(child=DeviceEventSummarySerializer()))
    def get_events(self, device):
        return device_representation(device)["events"]

    def to_representation(self, device):
        return device_representation(device)


def tags_field(**kwargs) -> ListField:
    """A device's tags as a body gives them: at most 50, each 1 to 128 characters, none repeated."""
    return ListField(
        child=StrictCharField(min_length=1, max_length=TEXT_LIMITS["tag"]),
        max_length=MAX_TAGS,
        validators=[validate_unique_tags],
        **kwargs,
    )


def dms_id_field(**kwargs) -> StrictCharField:
    """A DMS id as a body gives it (it names the list `/devices/dms/{dms_id}`: one path segment)."""
    return StrictCharField(max_length=TEXT_LIMITS["dms_id"], validators=[validate_dms_id], **kwargs)


class DeviceFieldsSerializer(StrictSerializer):
    """The editable fields of a device, validated as `POST /devices` validates them; `dms_owner` is accepted as an
    alias of `dms_id`. What a field's `null` means is the subclass's (`merged_dms`)."""

    alias = StrictCharField(max_length=TEXT_LIMITS["alias"], required=False, allow_blank=True, allow_null=True)
    tags = tags_field(required=False, allow_null=True)
    dms_id = dms_id_field(required=False, allow_blank=True, allow_null=True)
    dms_owner = dms_id_field(required=False, allow_blank=True, allow_null=True, help_text="Alias of dms_id.")
    icon = StrictCharField(max_length=TEXT_LIMITS["icon"], required=False, allow_blank=True, allow_null=True)
    icon_color = StrictCharField(
        max_length=TEXT_LIMITS["icon_color"],
        required=False,
        allow_blank=True,
        allow_null=True,
        validators=[validate_icon_color],
    )

    def merged_dms(self, attrs: dict) -> dict:
        """The attributes with `dms_id` and its alias `dms_owner` as one `dms_owner` (when either was given)."""
        given = [name for name in ("dms_id", "dms_owner") if name in attrs]
        dms_id, dms_owner = attrs.pop("dms_id", None), attrs.pop("dms_owner", None)
        if dms_id is not None and dms_owner is not None and dms_id != dms_owner:
            raise serializers.ValidationError({"dms_owner": ["differs from dms_id; send one of them"]})
        if given:
            attrs["dms_owner"] = dms_id if dms_id is not None else dms_owner
        return attrs


class DeviceCreateSerializer(DeviceFieldsSerializer):
    """The body of `POST /devices`."""

    id = StrictCharField(min_length=1, max_length=TEXT_LIMITS["id"], validators=[validate_device_id])
    metadata = serializers.JSONField(required=False, allow_null=True, validators=[validate_metadata])

    def validate(self, attrs):
        # An explicit null means "not given".
        return {name: value for name, value in self.merged_dms(attrs).items() if value is not None}


class DeviceUpdateSerializer(DeviceFieldsSerializer):
    """The body of `PATCH /devices/{id}` (a JSON merge patch: the fields given change, `null` sets a field back to
    its default, `""` or `[]`) and of `PUT /devices/{id}` (every field: one not given goes back to its default)."""

    def validate(self, attrs):
        attrs = self.merged_dms(attrs)
        given = attrs if self.partial else {**EDITABLE_FIELDS, **attrs}
        return {name: copy.deepcopy(EDITABLE_FIELDS[name]) if value is None else value for name, value in given.items()}


class IdentitySlotUpdateSerializer(StrictSerializer):
    """The body of `PUT /devices/{id}/idslot`."""

    status = StrictCharField(
        help_text="ACTIVE, RENEWAL_WINDOW (or RENEWAL_PENDING), ABOUT_TO_EXPIRE (or EXPIRING_SOON), EXPIRED or REVOKED."
    )
    active_version = StrictIntegerField(min_value=0)
    type = StrictCharField(help_text="X509, TOKEN, SSH_KEY or OTHER, in any case.")
    versions = DictField(
        child=serializers.JSONField(allow_null=True),
        required=False,
        allow_null=True,
        validators=[validate_json_document],
    )
    expiration_date = TimestampField(required=False, allow_null=True)

    def validate_status(self, value):
        value = value.upper()
        value = SLOT_STATUS_ALIASES.get(value, value)
        if value not in SlotStatus.values:
            raise serializers.ValidationError(f"must be one of {', '.join(SlotStatus.values)} (or an alias)")
        return value

    def validate_type(self, value):
        if value.upper() not in SLOT_TYPES:
            raise serializers.ValidationError(f"must be one of {', '.join(SLOT_TYPES)}")
        return value.upper()

    def validate_versions(self, value):
        bad = [key for key in (value or {}) if not (key.isascii() and key.isdigit())]
        if bad:
            raise serializers.ValidationError(f"keys must be version numbers, not {bad[0]!r}")
        # Not int(key): a key of thousands of digits is over Python's int-to-str limit.
        versions = {key.lstrip("0") or "0": version for key, version in (value or {}).items()}
        if len(versions) < len(value or {}):
            raise serializers.ValidationError("names a version twice (e.g. 1 and 01)")
        return versions


PATCH_OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")


@extend_schema_field(
    {
        "type": "object",
        "required": ["op", "path"],
        "properties": {
            "op": {"type": "string", "enum": list(PATCH_OPERATIONS)},
            "path": {"type": "string", "description": "A JSON Pointer, e.g. /location"},
            "value": {"description": "For add, replace and test (null allowed)."},
            "from": {"type": "string", "description": "For move and copy."},
        },
    }
)
class PatchOperationField(serializers.Field):
    """One RFC 6902 operation, checked for shape before anything is applied."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be an object with op and path")
        op = data.get("op")
        if op not in PATCH_OPERATIONS:
            raise serializers.ValidationError(f"op must be one of {', '.join(PATCH_OPERATIONS)}")
        members = ["path"] + (["from"] if op in ("move", "copy") else [])
        for member in members:
            _check_pointer(data.get(member), member)
        if op in ("add", "replace", "test") and "value" not in data:
            raise serializers.ValidationError(f"{op} needs a value")
        # A pointer names a key of the stored JSON, which holds no NUL either (validate_metadata checks the result).
        if "value" in data:
            validate_json_document(data["value"])
        for member in members:
            validate_json_document(data[member])
        return data

    def to_representation(self, value):
        return value


def _check_pointer(pointer, member: str) -> None:
    if not isinstance(pointer, str):
        raise serializers.ValidationError(f"{member} must be a JSON Pointer string")
    try:
        jsonpointer.JsonPointer(pointer)
    except jsonpointer.JsonPointerException as exc:
        raise serializers.ValidationError(f"{member} is not a JSON Pointer: {exc}") from exc


class MetadataPatchSerializer(StrictSerializer):
    """`{"patches": [...]}`: RFC 6902 operations applied to the metadata as one unit."""

    patches = ListField(child=PatchOperationField(), allow_empty=True)


class MetadataReplaceSerializer(StrictSerializer):
    """`{"metadata": {...}}` replaces the metadata; `{"patches": [...]}` patches it as PATCH does."""

    metadata = serializers.JSONField(required=False, validators=[validate_metadata])
    patches = ListField(child=PatchOperationField(), required=False)

    def validate(self, attrs):
        if ("metadata" in attrs) == ("patches" in attrs):
            raise serializers.ValidationError({"metadata": ["send either metadata or patches"]})
        return attrs


class DeviceEventSerializer(serializers.ModelSerializer):
    timestamp = serializers.DateTimeField(format=TIMESTAMP_FORMAT)

    class Meta:
        model = DeviceEvent
        fields = ["timestamp", "type", "description", "source"]
        read_only_fields = fields
