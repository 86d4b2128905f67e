"""Validation rules for device fields, shared by the API, the admin and the import command."""

import json
import re
import unicodedata

from django.conf import settings
from rest_framework import serializers

RESERVED_IDS = {"dms", ".", ".."}
ICON_COLOR = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{6}-#[0-9A-Fa-f]{6})")
MAX_TAGS = 50
MAX_METADATA_DEPTH = 100


def validate_device_id(value: str) -> str:
    if "/" in value:
        raise serializers.ValidationError("must not contain '/'")
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise serializers.ValidationError("must not contain control characters")
    if value in RESERVED_IDS:
        raise serializers.ValidationError(f"{value!r} is reserved")
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


def _depth(value) -> int:
    """Nesting depth, computed without recursion so that hostile input cannot exhaust the stack."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def validate_metadata(value) -> dict:
    if not isinstance(value, dict):
        raise serializers.ValidationError("must be a JSON object")
    if _depth(value) > MAX_METADATA_DEPTH:
        raise serializers.ValidationError(f"nests deeper than {MAX_METADATA_DEPTH} levels")
    limit = settings.DEVMANAGER_METADATA_MAX_BYTES
    if json_size(value) > limit:
        raise serializers.ValidationError(f"exceeds {limit} bytes once serialised")
    return value
