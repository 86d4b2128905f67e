from datetime import UTC

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from devmanager.api.serializers import StrictCharField, StrictSerializer

from ..choices import DeviceStatus
from ..models import Device
from ..validators import (
    MAX_TAGS,
    validate_device_id,
    validate_icon_color,
    validate_metadata,
    validate_unique_tags,
)

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_timestamp(value) -> str:
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def device_representation(device) -> dict:
    """A device as every endpoint returns it. Built by hand: it is the hot path of every list page, where DRF's
    field-by-field serialisation costs several times more. `DeviceSerializer` documents the same shape."""
    return {
        "id": device.id,
        "alias": device.alias,
        "tags": device.tags,
        "status": device.status,
        "icon": device.icon,
        "icon_color": device.icon_color,
        "creation_timestamp": format_timestamp(device.creation_timestamp),
        "updated_timestamp": format_timestamp(device.updated_timestamp),
        "metadata": device.metadata,
        "dms_owner": device.dms_owner,
        "identity": device.identity,
        "slots": device.slots,
        # Oldest first among the most recent ones, so the map reads as a timeline.
        "events": {
            format_timestamp(event.timestamp): {"type": event.type, "description": event.description}
            for event in reversed(device.recent_events)
        },
    }


class IdentitySlotSerializer(serializers.Serializer):
    """The shape of an identity slot (documentation only: slots are stored as JSON)."""

    status = serializers.ChoiceField(choices=DeviceStatus.choices)
    active_version = serializers.IntegerField(min_value=0)
    type = serializers.CharField()
    versions = serializers.DictField(child=serializers.JSONField())
    expiration_date = serializers.DateTimeField(allow_null=True)


class DeviceEventSummarySerializer(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField()


class DeviceSerializer(serializers.ModelSerializer):
    """A device as every endpoint returns it; `events` needs `Device.objects.with_recent_events()`."""

    identity = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()
    tags = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField(child=serializers.JSONField())
    slots = serializers.DictField(child=IdentitySlotSerializer())
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

    def get_identity(self, device) -> IdentitySlotSerializer(allow_null=True):
        return device.identity

    @extend_schema_field(serializers.DictField(child=DeviceEventSummarySerializer()))
    def get_events(self, device):
        return device_representation(device)["events"]

    def to_representation(self, device):
        return device_representation(device)


class DeviceCreateSerializer(StrictSerializer):
    """The body of `POST /devices`."""

    id = StrictCharField(min_length=1, max_length=255, trim_whitespace=False, validators=[validate_device_id])
    alias = StrictCharField(max_length=255, required=False, allow_blank=True, allow_null=True)
    tags = serializers.ListField(
        child=StrictCharField(min_length=1, max_length=128, trim_whitespace=False),
        max_length=MAX_TAGS,
        required=False,
        allow_null=True,
        validators=[validate_unique_tags],
    )
    metadata = serializers.JSONField(required=False, allow_null=True, validators=[validate_metadata])
    dms_id = StrictCharField(max_length=255, required=False, allow_blank=True, allow_null=True)
    dms_owner = StrictCharField(
        max_length=255, required=False, allow_blank=True, allow_null=True, help_text="Alias of dms_id."
    )
    icon = StrictCharField(max_length=255, required=False, allow_blank=True, allow_null=True)
    icon_color = StrictCharField(
        max_length=15, required=False, allow_blank=True, allow_null=True, validators=[validate_icon_color]
    )

    def validate(self, attrs):
        dms_id, dms_owner = attrs.pop("dms_id", None), attrs.pop("dms_owner", None)
        if dms_id is not None and dms_owner is not None and dms_id != dms_owner:
            raise serializers.ValidationError({"dms_owner": ["differs from dms_id; send one of them"]})
        attrs["dms_owner"] = dms_id if dms_id is not None else dms_owner
        # An explicit null means "not given".
        return {name: value for name, value in attrs.items() if value is not None}
