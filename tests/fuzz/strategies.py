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
