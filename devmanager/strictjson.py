"""Strict JSON, read and written one way everywhere: the API's bodies, the admin's forms, imported rows and the
filter language's literals are read here, and the batch writes encode JSON here.

Strict: `NaN`, `Infinity` and `-Infinity` are no JSON and are refused; input nested beyond the interpreter's
recursion limit is malformed input like any other (a ValueError), not a crash.
"""

import json
import math
import re

import orjson

SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# A run of 19 digits, found as 19 zeros once every digit is a zero (a regular expression takes ten times longer).
ALL_DIGITS_ZERO, LONG_DIGITS = bytes.maketrans(b"123456789", b"000000000"), b"0" * 19


def refuse_constant(name: str):
    """The json module's `parse_constant`: the names it would read as numbers are refused."""
    raise ValueError(f"{name} is not valid JSON")


def load_json(text: str):
    """A JSON document a client sent through the API or the admin. A lone surrogate escape (`"\\ud800"`) is refused
    too: it decodes to a string that no database and no UTF-8 writer accepts."""
    try:
        value = json.loads(text, parse_constant=refuse_constant)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    if SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:
            raise ValueError("a \\u escape names half of a surrogate pair") from exc
    return value


class NonFinite(float):
    """A number beyond a float's range (`1e400`), read as an infinity: of its own type, which orjson refuses to
    write, so that no encoder turns it into `null` unseen (the json module writes `Infinity`, or refuses it)."""


def _float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(value)


_decode_row = json.JSONDecoder(parse_constant=refuse_constant, parse_float=_float).decode


def parse_json(text: str):
    """A JSON document of an imported row, read as `load_json` reads it but for what the row's validation refuses
    with a field's name (a lone surrogate, `1e400`). Through orjson, twice as fast as the json module, unless the
    text has a run of 19 digits (a number orjson could not keep exact) or orjson refuses it: the json module then
    reads it, or says why not."""
    if LONG_DIGITS not in text.encode(errors="surrogatepass").translate(ALL_DIGITS_ZERO):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return _decode_row(text)


class JsonText(str):
    """A JSON document already serialised (compactly), written as it is instead of being serialised again."""


class StoredJSON:
    """A JSON document as the database holds it (text), which the renderers and `compact_json` write out as it is,
    without decoding it: orjson as a fragment, the json module (for what orjson refuses elsewhere) decoded."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"StoredJSON({self.text!r})"

    @staticmethod
    def orjson_default(value) -> orjson.Fragment:
        """orjson's `default`: a stored document as its text."""
        if isinstance(value, StoredJSON):
            return orjson.Fragment(value.text)
        raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")

    @staticmethod
    def json_default(value):
        """The json module's `default`: a stored document decoded."""
        if isinstance(value, StoredJSON):
            return parse_json(value.text)
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_dumps = json.JSONEncoder().encode
_dumps_compact = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=StoredJSON.json_default
).encode


def jsonb_text(value) -> str:
    """JSON for a jsonb column, where the spelling is not kept: orjson's (several times faster), else the json
    module's where orjson refuses: an integer beyond 64 bits, a lone surrogate, a `NonFinite` number. Values come
    from parsed JSON, which holds no plain NaN or infinity, the one thing orjson would write as null."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _dumps(value)


def compact_json(value) -> JsonText:
    """Compact JSON, as stored; NaN, infinities and lone surrogates refused (ValueError). orjson's, else the json
    module's (an integer beyond 64 bits); orjson spells some floats a character longer or shorter than the json
    module, by which the metadata's 64 KiB limit is measured. A `StoredJSON` document within is written as the
    database spelled it."""
    try:
        return JsonText(orjson.dumps(value, default=StoredJSON.orjson_default).decode())
    except TypeError:  # an integer beyond 64 bits, a lone surrogate, a NonFinite number
        pass
    text = _dumps_compact(value)
    if not text.isascii():
        text.encode()  # raises on a lone surrogate
    return JsonText(text)
