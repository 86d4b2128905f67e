"""Hypothesis strategies for the filter language, so the fuzzer gets past the parser into each field's compiler.

A `filter` generated from the OpenAPI document alone is an arbitrary string: nearly always a 400 from the parser.
These build `<field>[<operator>]<value>` from the real field tables, with values shaped for each field's type
(timestamps up to the calendar's ends, JSONPath queries and predicates, identifiers, enum lists), plus the odd
wrong operator, wrong case and arbitrary value.
"""

import json
import string
from datetime import datetime

from hypothesis import strategies as st

from devmanager.api.filtering import ArrayField, DateField, EnumField, JsonField, RelatedValueField, UuidField
from devmanager.api.filtering.fields import OPERATOR_ALIASES

ANY_TEXT = st.text(max_size=40)


@st.composite
def timestamps(draw) -> str:
    """RFC 3339 (a day, a second or a fraction of one, any zone) or the short form, over the whole calendar."""
    moment = draw(st.datetimes() | st.sampled_from([datetime.min, datetime.max]))
    date = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    time = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    zone = draw(st.sampled_from(["Z", "z", "+00:00", "+14:00", "-12:00", "+05:30"]))
    fraction = draw(st.sampled_from(["", f".{moment.microsecond:06d}", ".1", ".123456789"]))
    return draw(
        st.sampled_from([date, f"{date}T{time}{fraction}{zone}", f"{date.replace('-', '')}T{time.replace(':', '')}Z"])
    )


JSON_KEYS = st.sampled_from(["location", "temp", "sensors", "type", "status", "versions", "1"]) | st.text(
    string.ascii_letters, min_size=1, max_size=8
)
JSON_LITERALS = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=10).map(json.dumps),
    st.sampled_from(["true", "false", "null", '"temp"', "21", "1e400", "-0"]),
)
COMPARISONS = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
JSON_FILTERS = st.builds(lambda key, op, literal: f"[?(@.{key} {op} {literal})]", JSON_KEYS, COMPARISONS, JSON_LITERALS)
JSON_STEPS = st.one_of(
    JSON_KEYS.map(".{}".format),
    st.integers(-3, 3).map("[{}]".format),
    st.tuples(st.integers(-3, 3), st.integers(-3, 3)).map(lambda bounds: f"[{bounds[0]}:{bounds[1]}]"),
    st.sampled_from(["[*]", ".*", '["location"]', "[?(@.type)]", "[?(!@.type)]", ".."]),
    JSON_FILTERS,
)
JSON_PATHS = st.lists(JSON_STEPS, max_size=4).map(lambda steps: "$" + "".join(steps))
JSONPATH_VALUES = st.one_of(
    JSON_PATHS,
    st.builds(lambda path, op, literal: f"{path} {op} {literal}", JSON_PATHS, COMPARISONS, JSON_LITERALS),
    ANY_TEXT,
)
IDENTIFIERS = st.one_of(
    st.sampled_from(["356938035643809", "3569380356438091", "70b3d5e75e001234", "70B3D5E75E001234"]),
    st.uuids().map(str),
    st.text("0123456789abcdefABCDEF-", max_size=40),
    ANY_TEXT,
)


def values_for(field) -> st.SearchStrategy[str]:
    """Values shaped for a field's type, with arbitrary text now and then."""
    if isinstance(field, DateField):
        return timestamps() | ANY_TEXT
    if isinstance(field, JsonField):
        return JSONPATH_VALUES
    if isinstance(field, EnumField):
        names = sorted(field.values.values())
        return st.sampled_from([*names, *(name.lower() for name in names)]) | ANY_TEXT
    if isinstance(field, UuidField):
        return st.uuids().map(str) | st.sampled_from(["null", "NULL"]) | ANY_TEXT
    if isinstance(field, RelatedValueField):
        return IDENTIFIERS
    if isinstance(field, ArrayField):
        return st.sampled_from(["sensor", "SENSOR", "temperature", "gateway"]) | ANY_TEXT
    return st.sampled_from(["fuzz-sensor", "fuzz", "dms-production", "%", "_"]) | ANY_TEXT


def operators_for(field) -> st.SearchStrategy[str]:
    """The field's operators and their long aliases, in any case, and now and then one of another type."""
    own = [
        name for name in [*field.operators, *OPERATOR_ALIASES] if OPERATOR_ALIASES.get(name, name) in field.operators
    ]
    others = sorted({*OPERATOR_ALIASES, *OPERATOR_ALIASES.values(), "in", "nin", "jsonpath", "in_ic", "nin_ic"})
    named = st.sampled_from(own) | st.sampled_from(others)
    return st.tuples(named, st.booleans()).map(lambda pair: pair[0].upper() if pair[1] else pair[0])


@st.composite
def filter_expression(draw, fields: dict) -> str:
    name = draw(st.sampled_from(sorted(fields)))
    field = fields[name]
    operator = draw(operators_for(field))
    values = values_for(field)
    if operator.lower().startswith(("in", "nin")):
        value = draw(st.lists(values, min_size=1, max_size=4).map(",".join))
    else:
        value = draw(values)
    return f"{name}[{operator}]{draw(st.sampled_from([':', '=', '']))}{value}"


def filter_lists(fields: dict) -> st.SearchStrategy[list[str]]:
    return st.lists(filter_expression(fields), min_size=1, max_size=3)


# --- Hostile JSON inside bodies ---------------------------------------------------------------------------------------
# What a generated body rarely holds by chance, each once a 500 or a near one: U+0000 (PostgreSQL cannot store it),
# lone surrogates (no UTF-8 writer accepts them), integers of 20 digits and more (beyond 64 bits), and nesting
# deeper than the limits (or than the interpreter's recursion limit).

HOSTILE_STRINGS = ["\x00", "a\x00b", "\ud800", "x\udfff", "\u2028", "🙂", "\\u0000"]
HOSTILE_NUMBERS = [10**19, 10**20, -(10**20), 2**63, 2**64, -(2**63) - 1, 10**30, 1e308, -0.0]


def nested(leaf, depth: int, in_objects: bool):
    """`leaf` inside `depth` arrays (or objects keyed "k")."""
    for _ in range(depth):
        leaf = {"k": leaf} if in_objects else [leaf]
    return leaf


HOSTILE_LEAVES = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.sampled_from(HOSTILE_NUMBERS),
    st.integers(min_value=10**19, max_value=10**24) | st.integers(min_value=-(10**24), max_value=-(10**19)),
    st.text(max_size=4).map(lambda text: f"{text}\x00{text}"),
)
# One hostile thing, somewhere in an otherwise ordinary document: a leaf, a key, or nesting past the limits (100
# levels) and past the interpreter's recursion limit.
HOSTILE_JSON = st.one_of(
    st.builds(nested, HOSTILE_LEAVES, st.integers(0, 4), st.booleans()),
    st.builds(lambda key: nested({key: 1}, 1, True), st.sampled_from(HOSTILE_STRINGS)),
    st.builds(nested, st.just("deep"), st.integers(95, 1100), st.booleans()),
)
HOSTILE_OBJECTS = st.builds(lambda key, value: {"location": "x", key: value}, st.sampled_from(["k", *HOSTILE_STRINGS]),
                            HOSTILE_JSON)  # fmt: skip
HOSTILE_VERSIONS = st.builds(
    lambda key, value: {"1": "pem", key: value},
    st.sampled_from(["2", str(10**20), "\x00", "1\x00"]),
    HOSTILE_JSON,
)
HOSTILE_TEXT = st.sampled_from(HOSTILE_STRINGS)
HOSTILE_OPERATIONS = st.one_of(
    st.builds(
        lambda op, value: {"op": op, "path": "/k", "value": value}, st.sampled_from(["add", "replace"]), HOSTILE_JSON
    ),
    st.builds(lambda key: {"op": "add", "path": f"/{key}", "value": 1}, HOSTILE_TEXT),
    st.builds(lambda key: {"op": "copy", "from": "/location", "path": f"/{key}"}, HOSTILE_TEXT),
)
HOSTILE_MEMBERS = {
    "metadata": HOSTILE_OBJECTS,
    "versions": HOSTILE_VERSIONS,
    "patches": st.lists(HOSTILE_OPERATIONS, min_size=1, max_size=3),
}


def hostile_body(body, members: list[str]):
    """The generated body, or the same with hostile JSON in one of `members` (metadata, slot versions, patches):
    added when the generator left it out, which it mostly does with optional members. A bare list is a bare
    RFC 6902 array."""
    choices = [st.just(body)]
    if isinstance(body, list) and "patches" in members:
        choices.append(HOSTILE_MEMBERS["patches"])
    elif isinstance(body, dict):
        for name in members:
            choices.append(HOSTILE_MEMBERS[name].map(lambda value, name=name: {**body, name: value}))
    return st.one_of(choices)
