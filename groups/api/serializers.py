from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from devmanager.api.serializers import ListField, StrictCharField, StrictSerializer, StrictUUIDField
from devmanager.timestamps import TIMESTAMP_FORMAT

from ..criteria import criterion_error, q_error
from ..models import MAX_CRITERIA, DeviceGroup

CRITERION_SCHEMA = {
    "type": "object",
    "required": ["field", "operand", "value"],
    "properties": {
        "field": {"type": "string", "example": "tags"},
        "operand": {"type": "string", "example": "contains", "description": "`operator` is accepted as an alias."},
        "value": {"type": "string", "example": "temperature"},
    },
}


@extend_schema_field(CRITERION_SCHEMA)
class CriterionField(serializers.Field):
    """`{"field", "operand" (or "operator"), "value"}`, checked by compiling it with the filter language."""

    def to_internal_value(self, data):
        if isinstance(data, dict) and "operator" in data:
            data = dict(data)
            if "operand" in data and data["operand"] != data["operator"]:
                raise serializers.ValidationError("operand and its alias operator differ")
            data["operand"] = data.pop("operator")
        error = criterion_error(data)
        if error:
            raise serializers.ValidationError(error)
        return {"field": data["field"], "operand": data["operand"], "value": data["value"]}

    def to_representation(self, value):
        return value


class DeviceGroupSerializer(serializers.ModelSerializer):
    """A group as every endpoint returns it; `inherited_criteria` needs `attach_inherited`."""

    parent_id = serializers.UUIDField(allow_null=True)
    criteria = ListField(child=CriterionField())
    inherited_criteria = ListField(child=CriterionField())
    inherited_q = ListField(child=serializers.CharField(), help_text="The ancestors' non-empty `q`, root first.")
    created_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT)
    updated_at = serializers.DateTimeField(format=TIMESTAMP_FORMAT)

    class Meta:
        model = DeviceGroup
        fields = [
            "id",
            "name",
            "description",
            "parent_id",
            "criteria",
            "q",
            "inherited_criteria",
            "inherited_q",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DeviceGroupWriteSerializer(StrictSerializer):
    """The body of POST (all fields but `name` optional) and PUT (the fields present replace the stored ones)."""

    id = StrictUUIDField(required=False, help_text="Generated when absent.")
    name = StrictCharField(min_length=1, max_length=255)
    description = StrictCharField(required=False, allow_blank=True, max_length=10_000)
    parent_id = StrictUUIDField(required=False, allow_null=True)
    criteria = ListField(child=CriterionField(), required=False, max_length=MAX_CRITERIA)
    q = StrictCharField(
        required=False,
        allow_blank=True,
        help_text="One boolean expression of the filter language, ANDed with `criteria`; empty: none.",
    )

    def validate_q(self, value: str) -> str:
        error = q_error(value) if value else None
        if error:
            raise serializers.ValidationError(error)
        return value


class DeviceGroupLinkSerializer(serializers.Serializer):
    device_id = serializers.CharField()
    group_id = serializers.UUIDField()
    group = DeviceGroupSerializer()
