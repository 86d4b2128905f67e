"""Field types of the filter language, their operators, and the compilation of a filter to a `Q`."""

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q

from devmanager.timestamps import parse_timestamp

from .jsonpath import JsonPathMatch, compile_jsonpath
from .lookups import JsonArrayHas, fold
from .parser import Filter, FilterError, parse_filter

# Long names are aliases of the short ones, for every type.
OPERATOR_ALIASES = {
    "equal": "eq",
    "equal_ignorecase": "eq_ic",
    "notequal": "ne",
    "notequal_ignorecase": "ne_ic",
    "contains": "ct",
    "contains_ignorecase": "ct_ic",
    "contains_ic": "ct_ic",
    "notcontains": "nc",
    "notcontains_ignorecase": "nc_ic",
    "notcontains_ic": "nc_ic",
    "before": "bf",
    "after": "af",
}
MAX_LIST_ITEMS = 100
LIST_OPERATORS = frozenset(["in", "in_ic", "nin", "nin_ic"])


def canonical_operator(name: str) -> str:
    return OPERATOR_ALIASES.get(name, name)


def split_list(value: str) -> list[str]:
    items = value.split(",")
    if value == "" or any(item == "" for item in items):
        raise FilterError("needs a comma-separated list of non-empty values")
    if len(items) > MAX_LIST_ITEMS:
        raise FilterError(f"lists more than {MAX_LIST_ITEMS} values")
    return items


class FieldSpec:
    """A filterable field: `operators` maps each canonical operator to a method building the `Q`."""

    type_name = ""
    operators: dict[str, str] = {}

    def __init__(self, column: str, nullable: bool = False):
        self.column = column
        self.nullable = nullable  # the column may be NULL: no value, which no filter of it matches

    def compile(self, operator: str, value: str) -> Q:
        return getattr(self, self._method(operator))(value)

    def compile_not(self, operator: str, value: str) -> Q:
        """The complement of the filter: the devices `compile` leaves out, those for which it is unknown included.
        Django adds `IS NULL` to a negated lookup of a nullable column, but not of an expression (the feed reads a
        device's columns out of each event's data), so it is said here."""
        complement = ~self.compile(operator, value)
        return complement | Q(**{f"{self.column}__isnull": True}) if self.nullable else complement

    def _method(self, operator: str) -> str:
        method = self.operators.get(canonical_operator(operator))
        if method is None:
            allowed = ", ".join(sorted(self.operators))
            article = "an" if self.type_name[0] in "aeiou" else "a"
            raise FilterError(
                f"operator {operator!r} does not apply to {article} {self.type_name} field; use one of {allowed}"
            )
        return method

    def canonical_value(self, operator: str, value: str) -> str:
        """The value as this field reads it, so that two spellings of one filter compare equal (a bookmark's
        filters and those sent beside it). `operator` is canonical and valid."""
        if operator in LIST_OPERATORS:
            return ",".join(sorted({self.canonical_item(item) for item in split_list(value)}))
        return self.canonical_item(value)

    def canonical_item(self, value: str) -> str:
        return value


class StringField(FieldSpec):
    type_name = "string"
    operators = {
        "eq": "eq",
        "eq_ic": "eq_ic",
        "ne": "ne",
        "ne_ic": "ne_ic",
        "ct": "ct",
        "ct_ic": "ct_ic",
        "nc": "nc",
        "nc_ic": "nc_ic",
        "in": "in_",
        "in_ic": "in_ic",
        "nin": "nin",
        "nin_ic": "nin_ic",
    }

    # Django escapes % and _ in these lookups, so they match literally.
    def eq(self, value):
        return Q(**{self.column: value})

    def eq_ic(self, value):
        return Q(**{f"{self.column}__fold_exact": value})

    def ne(self, value):
        return ~self.eq(value)

    def ne_ic(self, value):
        return ~self.eq_ic(value)

    def ct(self, value):
        return Q(**{f"{self.column}__strict_contains": value})

    def ct_ic(self, value):
        return Q(**{f"{self.column}__fold_contains": value})

    def nc(self, value):
        return ~self.ct(value)

    def nc_ic(self, value):
        return ~self.ct_ic(value)

    def in_(self, value):
        return Q(**{f"{self.column}__in": split_list(value)})

    def in_ic(self, value):
        return _any(self.eq_ic(item) for item in split_list(value))

    def nin(self, value):
        return ~self.in_(value)

    def nin_ic(self, value):
        return ~self.in_ic(value)


class EnumField(FieldSpec):
    """A string with a fixed set of values, matched in any case."""

    type_name = "enum"
    operators = {"eq": "eq", "ne": "ne", "in": "in_", "nin": "nin"}

    def __init__(self, column: str, values: Iterable[str]):
        super().__init__(column)
        self.values = {value.upper(): value for value in values}

    def _value(self, raw: str) -> str:
        value = self.values.get(raw.strip().upper())
        if value is None:
            raise FilterError(f"{raw!r} is not one of {', '.join(self.values.values())}")
        return value

    canonical_item = _value

    def eq(self, value):
        return Q(**{self.column: self._value(value)})

    def ne(self, value):
        return ~self.eq(value)

    def in_(self, value):
        return Q(**{f"{self.column}__in": [self._value(item) for item in split_list(value)]})

    def nin(self, value):
        return ~self.in_(value)


class UuidField(FieldSpec):
    """A UUID column; with `nullable`, the value `null` matches an absent one (e.g. `parent_id[eq]:null`)."""

    type_name = "uuid"
    operators = {"eq": "eq", "ne": "ne", "in": "in_", "nin": "nin"}

    def __init__(self, column: str, nullable: bool = False):
        super().__init__(column)
        self.nullable = nullable

    def _value(self, raw: str) -> uuid.UUID | None:
        if self.nullable and raw.strip().lower() == "null":
            return None
        try:
            return uuid.UUID(raw.strip())
        except ValueError as exc:
            raise FilterError(f"{raw!r} is not a UUID") from exc

    def canonical_item(self, value: str) -> str:
        return str(self._value(value)).lower()

    def eq(self, value):
        parsed = self._value(value)
        return Q(**{f"{self.column}__isnull": True}) if parsed is None else Q(**{self.column: parsed})

    def ne(self, value):
        return ~self.eq(value)

    def in_(self, value):
        return _any(self.eq(item) for item in split_list(value))

    def nin(self, value):
        return ~self.in_(value)


class RelatedValueField(FieldSpec):
    """A value held by any of the rows of a related model (e.g. an identifier of any of a device's adapters),
    normalised before comparing; matched by EXISTS on the related table's unique index."""

    type_name = "identifier"
    operators = {"eq": "eq", "in": "in_"}

    def __init__(self, model, owner_field: str, column: str, normalise: Callable[[str], str]):
        super().__init__(column)
        self.model, self.owner_field, self.normalise = model, owner_field, normalise

    def _value(self, raw: str) -> str:
        try:
            return self.normalise(raw.strip())  # in a filter, as for enums, white space around a value is no part of it
        except ValueError as exc:
            raise FilterError(f"{raw!r} {exc}") from exc

    canonical_item = _value

    def eq(self, value):
        return self._exists([self._value(value)])

    def in_(self, value):
        return self._exists([self._value(item) for item in split_list(value)])

    def _exists(self, values: list[str]) -> Q:
        related = self.model.objects.filter(**{self.owner_field: OuterRef("pk"), f"{self.column}__in": values})
        return Q(Exists(related))


class ArrayField(FieldSpec):
    """Element matching on a JSON array of search terms: each element as `<exact_prefix><element>` and as
    `<folded_prefix><element lower-cased>`, so exact and case-insensitive filters share one index."""

    type_name = "array"
    operators = {"ct": "ct", "ct_ic": "ct_ic", "nc": "nc", "nc_ic": "nc_ic"}

    def __init__(self, column: str, exact_prefix: str, folded_prefix: str):
        super().__init__(column)
        self.exact_prefix = exact_prefix
        self.folded_prefix = folded_prefix

    def ct(self, value):
        return Q(JsonArrayHas(self.column, self.exact_prefix + value))

    def ct_ic(self, value):
        return Q(JsonArrayHas(self.column, self.folded_prefix + fold(value)))

    def nc(self, value):
        return ~self.ct(value)

    def nc_ic(self, value):
        return ~self.ct_ic(value)


def _timestamp(value: str) -> tuple[datetime, timedelta]:
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise FilterError(f"{value!r} is not a date: use RFC 3339 (2024-01-01T00:00:00Z), the short form "
                          "20240101T000000Z, or a day (2024-01-01)") from exc  # fmt: skip


class DateField(FieldSpec):
    type_name = "date"
    operators = {"eq": "eq", "bf": "bf", "af": "af"}

    def eq(self, value):
        # Equal at the precision written: `2024-01-01T10:00:00Z` matches the whole second.
        instant, precision = _timestamp(value)
        try:
            end = instant + precision
        except OverflowError:  # the calendar's last day (or second): no instant is later
            return Q(**{f"{self.column}__gte": instant})
        return Q(**{f"{self.column}__gte": instant, f"{self.column}__lt": end})

    def canonical_item(self, value: str) -> str:
        # RFC 3339 in UTC at the precision written (a day, a second, or as many fraction digits): a value that reads
        # back as itself, so a normalised filter or `q` can be stored and compiled (a webhook's `q`).
        instant, precision = _timestamp(value)
        if precision >= timedelta(days=1):
            return instant.date().isoformat()
        written = instant.isoformat(timespec="microseconds")[:26]  # 2024-01-01T10:00:00.123456, in UTC
        digits = 7 - len(str(precision // timedelta(microseconds=1)))  # the precision is 10 ** (6 - digits) µs
        return f"{written[:19] if digits <= 0 else written[: 20 + digits]}Z"

    def bf(self, value):
        return Q(**{f"{self.column}__lt": _timestamp(value)[0]})

    def af(self, value):
        return Q(**{f"{self.column}__gt": _timestamp(value)[0]})


class JsonField(FieldSpec):
    """A JSON column filtered by JSONPath; `prefix` roots the path below the column (e.g. one slot of `slots`)."""

    type_name = "json"
    operators = {"jsonpath": "jsonpath"}

    def __init__(self, column: str, prefix: tuple[str, ...] = ()):
        super().__init__(column)
        self.prefix = prefix

    def jsonpath(self, value):
        return Q(JsonPathMatch(self.column, compile_jsonpath(value, self.prefix)))

    def compile_not(self, operator: str, value: str) -> Q:
        # A path that does not apply (an absent key) is unknown to SQL/JSON, which NOT leaves unknown: the complement
        # is "not true", which holds for it.
        self._method(operator)
        return Q(JsonPathMatch(self.column, compile_jsonpath(value, self.prefix), negated=True))


def compile_filter(text: str, fields: Mapping[str, FieldSpec]) -> Q:
    """Parse and compile one filter against a resource's field table; raises FilterError."""
    parsed, spec = parse_atom(text, fields)
    return spec.compile(parsed.operator, parsed.value)


def normalise_filter(text: str, fields: Mapping[str, FieldSpec]) -> str:
    """One spelling for every way of writing a filter (field aliases, operator aliases and case, the separator,
    enum case, identifier and date forms, the order of `in` lists); raises FilterError."""
    parsed, spec = parse_atom(text, fields)
    spec.compile(parsed.operator, parsed.value)  # the same verdict as compiling it
    operator = canonical_operator(parsed.operator)
    name = next(name for name, field in fields.items() if field is spec)
    return f"{name}[{operator}]:{spec.canonical_value(operator, parsed.value)}"


def parse_atom(text: str, fields: Mapping[str, FieldSpec]) -> tuple[Filter, FieldSpec]:
    """A filter read, and the field it names; raises FilterError."""
    parsed: Filter = parse_filter(text)
    spec = fields.get(parsed.field)
    if spec is None:
        raise FilterError(f"unknown field {parsed.field!r}; filterable fields: {', '.join(fields)}")
    return parsed, spec


def compile_filters(texts: Iterable[str], fields: Mapping[str, FieldSpec], name: str = "filter") -> Q:
    """AND of all the filters; a ValidationError-ready dict of every mistake, keyed `filter[i]`, otherwise."""
    combined = Q()
    for condition in _each(compile_filter, texts, fields, name):
        combined &= condition
    return combined


def normalise_filters(texts: Iterable[str], fields: Mapping[str, FieldSpec], name: str = "filter") -> list[str]:
    """The filters' normal forms, sorted and without repeats (an AND of filters depends on neither); raises
    FilterErrors as `compile_filters` does."""
    return sorted(set(_each(normalise_filter, texts, fields, name)))


def _each(function, texts: Iterable[str], fields: Mapping[str, FieldSpec], name: str) -> list:
    results, errors = [], {}
    for index, text in enumerate(texts):
        try:
            results.append(function(text, fields))
        except FilterError as exc:
            errors[f"{name}[{index}]"] = [f"{text!r}: {exc}"]
    if errors:
        raise FilterErrors(errors)
    return results


class FilterErrors(FilterError):
    """Every mistake of a list of filters, by parameter name."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(message for messages in errors.values() for message in messages))
        self.errors = errors


def _any(conditions: Iterable[Q]) -> Q:
    combined = Q()
    for condition in conditions:
        combined |= condition
    return combined
