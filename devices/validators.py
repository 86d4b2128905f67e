"""Validation rules for device fields, shared by the API, the admin and the import command."""

import json
import re
import unicodedata

from django.conf import settings
from rest_framework import serializers

RESERVED_IDS = {"dms", ".", ".."}
ICON_COLOR = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{6}-#[0-9A-Fa-f]{6})")
MAX_TAGS = 50
MAX_JSON_DEPTH = 100


def validate_device_id(value: str) -> str:
    if "/" in value:
        raise serializers.ValidationError("must not contain '/'")
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise serializers.ValidationError("must not contain control characters")
    if value in RESERVED_IDS:
        raise serializers.ValidationError(f"{value!r} is reserved")
    return value


def validate_dms_id(value: str) -> str:
    """A DMS id names the list `/devices/dms/{dms_id}`: like a device id, it must fit in one path segment."""
    if "/" in value:
        raise serializers.ValidationError("must not contain '/'")
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise serializers.ValidationError("must not contain control characters")
    if value in (".", ".."):
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


def nul_position(value) -> str | None:
    """The JSON Pointer of the first key or string holding U+0000 in a JSON document, or None. PostgreSQL cannot
    store that character, so every JSON a client sends (metadata, slot versions, patch values) is refused with it,
    on both databases alike. Walked without recursion, like `_depth`."""
    stack = [(value, "")]
    while stack:
        item, pointer = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return pointer
        elif isinstance(item, dict):
            for key, child in item.items():
                child_pointer = f"{pointer}/{_pointer_token(key)}"
                if "\x00" in key:
                    return child_pointer
                stack.append((child, child_pointer))
        elif isinstance(item, list):
            stack.extend((child, f"{pointer}/{index}") for index, child in enumerate(item))
    return None


def _pointer_token(key: str) -> str:
    # RFC 6901 escapes, and the NUL spelled out so that the message shows where it is.
    return key.replace("~", "~0").replace("/", "~1").replace("\x00", "\\u0000")


def json_document_problem(value) -> str | None:
    """What keeps a JSON value a client sent from being stored, or None: nesting deeper than MAX_JSON_DEPTH levels
    (SQLite's JSON functions stop at 1,000), or U+0000 in a key or string, with its JSON Pointer."""
    if _depth(value) > MAX_JSON_DEPTH:
        return f"nests deeper than {MAX_JSON_DEPTH} levels"
    pointer = nul_position(value)
    if pointer is None:
        return None
    where = f" (at {pointer[:200]})" if pointer else ""
    return f"must not contain the character U+0000 (NUL){where}"


def validate_json_document(value):
    """Every JSON a client sends (metadata, slot versions, patch operations) passes here, whatever the path."""
    if problem := json_document_problem(value):
        raise serializers.ValidationError(problem)
    return value


def validate_metadata(value) -> dict:
    if not isinstance(value, dict):
        raise serializers.ValidationError("must be a JSON object")
    validate_json_document(value)
    limit = settings.DEVMANAGER_METADATA_MAX_BYTES
    if json_size(value) > limit:
        raise serializers.ValidationError(f"exceeds {limit} bytes once serialised")
    return value
