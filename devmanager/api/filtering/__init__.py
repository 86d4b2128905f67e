"""The filter language: `<field>[<operator>]<value>`, parsed once and compiled to a Django `Q`.

`parser` turns the text into a `Filter`; `fields` holds the field types and their operators, and compiles a
`Filter` against a resource's field table; `jsonpath` translates JSONPath values for PostgreSQL and evaluates
them on SQLite. Every caller (lists, stats, group criteria, the admin, the export command) goes through
`compile_filters`.
"""

from .fields import (
    ArrayField,
    DateField,
    EnumField,
    FieldSpec,
    JsonField,
    RelatedValueField,
    StringField,
    UuidField,
    compile_filter,
    compile_filters,
    normalise_filters,
)
from .parser import Filter, FilterError, parse_filter

__all__ = [
    "ArrayField",
    "DateField",
    "EnumField",
    "FieldSpec",
    "Filter",
    "FilterError",
    "JsonField",
    "RelatedValueField",
    "StringField",
    "UuidField",
    "compile_filter",
    "compile_filters",
    "normalise_filters",
    "parse_filter",
]
