"""Validation rules for device fields, shared by the API, the admin and the import command."""

import json
import re

from django.conf import settings
from rest_framework import serializers

from devmanager.validation import json_document_problem, path_segment_problem

RESERVED_IDS = {"dms", ".", ".."}
ICON_COLOR = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{6}-#[0-9A-Fa-f]{6})")
MAX_TAGS = 50
# The longest text of each device field, read by the body's serializer and the import's fast path alike.
TEXT_LIMITS = {"id": 255, "alias": 255, "dms_id": 255, "dms_owner": 255, "icon": 255, "icon_color": 15, "tag": 128}


def validate_device_id(value: str) -> str:
    return _one_path_segment(value, RESERVED_IDS)


def _one_path_segment(value: str, reserved: set[str]) -> str:
    if problem := path_segment_problem(value, reserved):
        raise serializers.ValidationError(problem)
    return value


def validate_icon_color(value: str) -> str:
    if value and not ICON_COLOR.fullmatch(value):
        raise serializers.ValidationError("must be #RGB, #RRGGBB or #RRGGBB-#RRGGBB")
    return value


def validate_unique_tags(tags: list[str]) -> list[str]:
    seen = set()
    errors = {}
    for index, tag in enumerate(tags):
        if tag in seen:
            errors[index] = [f"repeats the tag {tag!r}"]
        seen.add(tag)
    if errors:
        raise serializers.ValidationError(errors)
    return tags


def json_size(value) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def validate_json_document(value):
    """Every JSON a client sends (metadata, slot versions, patch operations) passes here, whatever the path."""
    if problem := json_document_problem(value):
        raise serializers.ValidationError(problem)
    return value


def metadata_problem(value) -> str | None:
    """What keeps a value from being a device's metadata, or None."""
    if not isinstance(value, dict):
        return "must be a JSON object"
    if problem := json_document_problem(value):
        return problem
    limit = settings.DEVMANAGER_METADATA_MAX_BYTES
    if json_size(value) > limit:
        return f"exceeds {limit} bytes once serialised"
    return None


def validate_metadata(value) -> dict:
    if problem := metadata_problem(value):
        raise serializers.ValidationError(problem)
    return value
