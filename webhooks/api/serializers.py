from rest_framework import serializers

from devmanager.api.serializers import ListField, StrictBooleanField, StrictCharField, StrictSerializer
from devmanager.timestamps import TIMESTAMP_FORMAT

from ..models import Delivery, Subscription, SubscriptionStatus


class SubscriptionSerializer(serializers.ModelSerializer):
    """A webhook subscription as the API shows it; the secret only when it was just made (`secret` in context)."""

    status = serializers.ChoiceField(choices=SubscriptionStatus.choices, read_only=True)
    position = serializers.SerializerMethodField(help_text="The id of the last event handed out.")
    created_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT, read_only=True)
    updated_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT, read_only=True)
    last_success_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT, read_only=True, allow_null=True)
    last_failure_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT, read_only=True, allow_null=True)
    event_types = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Subscription
        fields = [
            "id", "url", "description", "event_types", "q", "active", "status", "position", "created_at",
            "updated_at", "last_success_at", "last_failure_at",
        ]  # fmt: skip

    def get_position(self, subscription) -> str:
        return str(subscription.position)


class SubscriptionWithSecretSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="`whsec_` and base64: shown only now.")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class SubscriptionWriteSerializer(StrictSerializer):
    """The body of POST (`url` required) and PATCH (any field)."""

    url = StrictCharField(max_length=2048, help_text="An https:// URL on a public address.")
    description = StrictCharField(required=False, allow_blank=True, max_length=1000)
    event_types = ListField(
        child=StrictCharField(max_length=64),
        required=False,
        max_length=50,
        help_text='Type names, a trailing `*` as wildcard (`["device.*"]`); empty or absent: every type.',
    )
    q = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=4096,
        help_text="A boolean expression (section 8) over the device of device events; other events always match.",
    )
    active = StrictBooleanField(required=False)


class ReplaySerializer(StrictSerializer):
    after = StrictCharField(help_text="An event id: every matching event after it is delivered again.")

    def validate_after(self, value: str) -> int:
        if not value.isascii() or not value.isdigit() or len(value) > 19 or int(value) > 2**63 - 1:
            raise serializers.ValidationError("must be an event id (a decimal integer)")
        return int(value)


class TestOutcomeSerializer(serializers.Serializer):
    status_code = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField()
    error = serializers.CharField(allow_null=True)


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.SerializerMethodField()
    timestamp = serializers.DateTimeField(format=TIMESTAMP_FORMAT)
    next_attempt_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT, allow_null=True)  # none: no retry due
    error = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = [
            "event_id", "webhook_id", "attempt", "outcome", "status_code", "duration_ms", "error", "response",
            "timestamp", "next_attempt_at",
        ]  # fmt: skip

    def get_event_id(self, delivery) -> str:
        return str(delivery.event_id)

    def get_error(self, delivery) -> str | None:
        return delivery.error or None
