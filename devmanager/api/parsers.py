import codecs
import json
import re

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, also refusing input nested too deep for the interpreter instead of failing with a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        try:
            text = codecs.getreader(encoding)(stream).read()
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error: the body is not {encoding} (at byte {exc.start})") from exc
        try:
            return load_json(text)
        except ValueError as exc:
            raise ParseError(f"JSON parse error: {exc}") from exc


SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def load_json(text: str):
    """Strict JSON, shared by the API and the admin forms: NaN and Infinity are refused, and input nested too deep
    for the interpreter is a ValueError like any other malformed input, not a crash."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    if SURROGATE_ESCAPE.search(text):
        # An escaped surrogate without its pair decodes to a string no database or UTF-8 writer accepts.
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:
            raise ValueError("a \\u escape names half of a surrogate pair") from exc
    return value


def _refuse_constant(name):
    raise ValueError(f"{name} is not valid JSON")


class JSONPatchParser(JSONParser):
    """RFC 6902 bodies (`application/json-patch+json`): a bare array of operations."""

    media_type = "application/json-patch+json"
