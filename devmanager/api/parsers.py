import codecs

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from devmanager.strictjson import load_json


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


class JSONPatchParser(JSONParser):
    """RFC 6902 bodies (`application/json-patch+json`): a bare array of operations."""

    media_type = "application/json-patch+json"


class MergePatchParser(JSONParser):
    """RFC 7396 bodies (`application/merge-patch+json`): an object of the fields to change, `null` to unset one."""

    media_type = "application/merge-patch+json"
