"""Serializer building blocks shared by every resource."""

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from devmanager.timestamps import parse_instant
from devmanager.validation import NUL_MESSAGE, dms_id_problem


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers and booleans instead of turning them into strings, and keeps the text
    exactly as sent: white space is never trimmed (a value with a format, such as a colour, must match it exactly)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        # DRF's refusal of U+0000, in the words every other refusal of it uses.
        self.validators = [
            ProhibitNullCharactersValidator(message=NUL_MESSAGE)
            if isinstance(validator, ProhibitNullCharactersValidator)
            else validator
            for validator in self.validators
        ]

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An integer field that refuses strings, booleans and fractions."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A boolean field that refuses strings and numbers ("true", 1), which DRF would otherwise turn into booleans."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictUUIDField(serializers.UUIDField):
    """A UUID field that refuses integers, which DRF would otherwise turn into UUIDs."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


def json_type(value) -> str:
    """The JSON name of a decoded value's type, for messages: DRF's name Python's (`str`, `dict`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list | tuple) else "an object"


class ListField(serializers.ListField):
    """DRF's ListField, saying what it got in JSON's words."""

    def to_internal_value(self, data):
        if not isinstance(data, list):
            raise serializers.ValidationError(f"must be an array, not {json_type(data)}")
        return super().to_internal_value(data)


class DictField(serializers.DictField):
    """DRF's DictField, saying what it got in JSON's words."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(f"must be an object, not {json_type(data)}")
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "format": "date-time", "example": "2030-01-01T00:00:00Z"})
class TimestampField(serializers.Field):
    """An instant in a body: RFC 3339 with a time zone, or the short form, read by the filters' parser."""

    def to_internal_value(self, data):
        try:
            return parse_instant(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value):
        return value


class StrictSerializer(serializers.Serializer):
    """Rejects body fields it does not declare, naming each one, alongside the declared fields' own errors."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"body": [f"must be a JSON object, not {json_type(data)}"]})
        unknown = {}
        if isinstance(data, dict):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {name: ["unknown field"] for name in data if name not in known}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**unknown, **exc.detail}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class ErrorFieldSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The parameter or field at fault, e.g. `tags[3]` or `filter[0]`.")
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx and 5xx answer."""

    object = serializers.ChoiceField(choices=["error"])
    code = serializers.IntegerField(help_text="The HTTP status code.")
    type = serializers.CharField(help_text="e.g. `validation_error`, `not_found`, `conflict`.")
    message = serializers.CharField()
    fields = ErrorFieldSerializer(many=True)
    request_id = serializers.CharField(help_text="Also in the X-Request-ID header; quote it to support.")


def validate_dms_id(value: str) -> str:
    """A DMS id as every body takes it (a device's `dms_id`, a key's `dms`): one path segment of
    `/devices/dms/{dms_id}` (`devmanager.validation.dms_id_problem`)."""
    if problem := dms_id_problem(value):
        raise serializers.ValidationError(problem)
    return value
