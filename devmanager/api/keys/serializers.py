from rest_framework import serializers

from devmanager.api.serializers import ListField, StrictCharField, StrictSerializer, TimestampField, validate_dms_id
from devmanager.timestamps import TIMESTAMP_FORMAT

from ..models import SCOPES, ApiKey

MAX_DMS_ID_LENGTH = 255  # a device's dms_owner column
MAX_KEY_DMS = 1000


class ApiKeySerializer(serializers.ModelSerializer):
    """A key as the API shows it: never its plaintext nor its hash."""

    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPES), read_only=True)
    dms = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        allow_null=True,
        help_text="The DMSs whose devices the key sees and changes; null: every device.",
    )
    created_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT, read_only=True)
    expires_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT, read_only=True, allow_null=True)
    revoked_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT, read_only=True, allow_null=True)
    last_used_at = serializers.DateTimeField(
        format=TIMESTAMP_FORMAT, read_only=True, allow_null=True, help_text="To the minute."
    )

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "dms", "created_at", "expires_at", "revoked_at", "last_used_at"]
        read_only_fields = fields


class ApiKeyWithPlaintextSerializer(ApiKeySerializer):
    """A key just made, with its plaintext (`plaintext` in context): the only answer that ever holds it."""

    key = serializers.SerializerMethodField(help_text="`ak_` and 32 hex: shown only now, never stored.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields

    def get_key(self, key) -> str:
        return self.context["plaintext"]


class ApiKeyWriteSerializer(StrictSerializer):
    """The body of `POST /api-keys`; what the fields may hold beyond their types is the service's to judge."""

    name = StrictCharField(max_length=ApiKey._meta.get_field("name").max_length)
    scopes = ListField(
        child=serializers.ChoiceField(choices=SCOPES),
        required=False,
        max_length=len(SCOPES),
        help_text="Absent: every scope but `keys:write`. At most the creating key's own.",
    )
    dms = ListField(
        child=StrictCharField(max_length=MAX_DMS_ID_LENGTH, validators=[validate_dms_id]),
        required=False,
        allow_null=True,
        default=None,
        max_length=MAX_KEY_DMS,
        help_text="DMS ids: the key sees and changes only their devices. Absent or null: every device (only a key "
        "that sees every device may grant that).",
    )
    expires_at = TimestampField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the key stops working; absent or null: never (only a key that never expires may grant that).",
    )
