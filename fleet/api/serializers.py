from rest_framework import serializers

from devmanager.api.serializers import ListField, StrictBooleanField, StrictCharField, StrictSerializer
from devmanager.timestamps import TIMESTAMP_FORMAT

from ..models import Action, Job, JobStatus


class ActionRequestSerializer(StrictSerializer):
    """The body of `POST /device-actions`."""

    action = serializers.ChoiceField(choices=Action.choices)
    params = serializers.JSONField(
        required=False,
        help_text="`add_tags`, `remove_tags`: `tags`; `set_dms`: `dms_id`; `patch_metadata`: `patches` (RFC 6902, "
        "applied to each device on its own); `decommission`: none; `delete`: `force` (default false).",
    )
    filter = ListField(
        child=StrictCharField(),
        required=False,
        default=list,
        help_text="Filters of the device list (section 2), all of which must hold.",
    )
    q = StrictCharField(required=False, allow_blank=True, default="", help_text="Section 8.")
    dry_run = StrictBooleanField(required=False, default=False)
    confirmation = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=4096,
        help_text="The dry run's token: needed to act on more than one device.",
    )


class DryRunSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sample = serializers.ListField(child=serializers.CharField(), help_text="Up to 10 device ids, by id.")
    confirmation = serializers.CharField(help_text="Valid for 15 minutes, for this action, params and selection.")


class JobErrorSerializer(serializers.Serializer):
    device_id = serializers.CharField()
    message = serializers.CharField()


class JobSerializer(serializers.ModelSerializer):
    """A fleet action's job."""

    status = serializers.ChoiceField(choices=JobStatus.choices)
    params = serializers.JSONField()
    filter = serializers.ListField(child=serializers.CharField())
    errors = JobErrorSerializer(many=True, help_text="The first 100 devices that failed, with the reason.")
    created_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT)
    started_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT, allow_null=True)
    finished_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT, allow_null=True)

    class Meta:
        model = Job
        fields = [
            "id", "action", "params", "filter", "q", "status", "message", "total", "processed", "succeeded",
            "failed", "errors", "created_at", "started_at", "finished_at", "actor",
        ]  # fmt: skip
        read_only_fields = fields
