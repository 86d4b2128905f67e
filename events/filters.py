"""The feed's fields of the filter language (contract, section 7): `type` (`eq`, `in`, `ct` for a prefix such as
`device.`), `subject` (`eq`, `in`), `actor` (`eq`), `time` (`bf`, `af`); and `q` (section 8) over `data.device`.

`q` is compiled by the filter language itself, with the device's own field table (devices/filters.py): each device
column those fields name is aliased on the events (`device_events()`) as the same member read out of the event's
JSON data, with the type, the text form and the folding the column has, so every operator compiles to what it
compiles to over devices. Events that carry no device (group and adapter events) always match a `q`.
"""

from django.db import NotSupportedError
from django.db.models import DateTimeField, F, Func, JSONField, Q, TextField

from devices.filters import DEVICE_FILTER_FIELDS
from devmanager.api.filtering import DateField, FieldSpec
from devmanager.api.filtering.expression import compile_expression, normalise_expression
from devmanager.api.filtering.fields import split_list
from devmanager.api.filtering.lookups import ICU_ROOT_COLLATION, SQLITE_FOLD_FUNCTION

from .models import Event


class PrefixField(FieldSpec):
    """A name matched whole, in a list, or by its start (`ct`): event types read as a hierarchy (`device.`)."""

    type_name = "string"
    operators = {"eq": "eq", "in": "in_", "ct": "ct"}

    def eq(self, value):
        return Q(**{self.column: value})

    def in_(self, value):
        return Q(**{f"{self.column}__in": split_list(value)})

    def ct(self, value):
        return Q(**{f"{self.column}__startswith": value})


class ExactField(PrefixField):
    operators = {"eq": "eq", "in": "in_"}


class OneValueField(PrefixField):
    operators = {"eq": "eq"}


class InstantField(DateField):
    """A time compared as before or after an instant only."""

    operators = {"bf": "bf", "af": "af"}


FEED_FILTER_FIELDS = {
    "type": PrefixField("type"),
    "subject": ExactField("subject"),
    "actor": OneValueField("actor"),
    "time": InstantField("time"),
}


# How each kind of device column is read from an event's data (`{data}`, JSON text) on each database.
# PostgreSQL: the text cast to `json` and read by a path (`#>`) parses it once, where `-> 'device' ->` would parse it
# twice (and a cast to `jsonb` would build its binary form first).
POSTGRESQL_READS = {
    "text": "({data}::json #>> '{{device,{name}}}')",
    "timestamp": "(({data}::json #>> '{{device,{name}}}')::timestamptz)",
    "json": "(({data}::json #> '{{device,{name}}}')::jsonb)",
    # `tag_terms` (devices/domain.py): each tag as `=<tag>` and `~<folded tag>`.
    "terms": (
        "(SELECT COALESCE(jsonb_agg(term.value), '[]'::jsonb) "
        "FROM json_array_elements_text({data}::json #> '{{device,{name}}}') AS tag (value), LATERAL (VALUES "
        f"('=' || tag.value), ('~' || LOWER(tag.value COLLATE \"{ICU_ROOT_COLLATION}\"))) AS term (value))"
    ),
}
SQLITE_READS = {
    "text": "json_extract({data}, '$.device.{name}')",
    # Django writes a datetime on SQLite as `2026-03-09 10:00:00.123456`, without the fraction when it is zero, and
    # compares that text: the event's `2026-03-09T10:00:00.123456Z` is rewritten so.
    "timestamp": "replace(replace(substr(json_extract({data}, '$.device.{name}'), 1, 26), '.000000', ''), 'T', ' ')",
    "json": "json_extract({data}, '$.device.{name}')",
    "terms": (
        "(SELECT json_group_array(term) FROM (SELECT '=' || value AS term FROM json_each({data}, '$.device.{name}') "
        f"UNION ALL SELECT '~' || {SQLITE_FOLD_FUNCTION}(value) FROM json_each({{data}}, '$.device.{{name}}')))"
    ),
}
# The device columns the device fields compile to: the member of `data.device` each reads (a dotted path below it),
# and how.
DEVICE_COLUMNS = {
    "id": ("id", "text"),
    "alias": ("alias", "text"),
    "dms_owner": ("dms_owner", "text"),
    "status": ("status", "text"),
    "tag_terms": ("tags", "terms"),
    "creation_timestamp": ("creation_timestamp", "timestamp"),
    "updated_timestamp": ("updated_timestamp", "timestamp"),
    "identity_expires_at": ("identity.expiration_date", "timestamp"),  # a member of a member: a dotted path
    "metadata": ("metadata", "json"),
    "slots": ("slots", "json"),
}
OUTPUT_FIELDS = {"text": TextField, "timestamp": DateTimeField, "json": JSONField, "terms": JSONField}


class DeviceMember(Func):
    """A member of an event's `data.device`, read as the device's column of that kind reads (NULL without one)."""

    def __init__(self, name: str, kind: str):
        super().__init__(F("data"), output_field=OUTPUT_FIELDS[kind]())
        self.name, self.kind = name, kind

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"q on the feed is not available on {connection.vendor}")

    def as_postgresql(self, compiler, connection, **extra_context):
        return self._read(POSTGRESQL_READS, compiler, self.name.replace(".", ","))

    def as_sqlite(self, compiler, connection, **extra_context):
        return self._read(SQLITE_READS, compiler, self.name)

    def _read(self, reads: dict[str, str], compiler, path: str):
        data, params = compiler.compile(self.source_expressions[0])
        return reads[self.kind].format(data=data, name=path), params


def device_events():
    """The events, with the device columns that `device_q` conditions name (aliases: in the SQL only when used)."""
    return Event.objects.alias(**{column: DeviceMember(*read) for column, read in DEVICE_COLUMNS.items()})


def feed_device_fields() -> dict[str, FieldSpec]:
    """The device fields of the filter language that read the device's own columns: not those other apps register
    over related rows (the adapters' identifiers), which an event's device does not carry."""
    return {name: field for name, field in DEVICE_FILTER_FIELDS.items() if field.column in DEVICE_COLUMNS}


def device_q(text: str) -> Q:
    """The events (of `device_events()`) whose device satisfies the `q`, and every event without a device; an empty
    `q` selects every event. Raises ExpressionError, whose message gives the character position."""
    if not text:
        return Q()
    # The events without a device are told by their type (contract, section 7), so no JSON is parsed to pass them.
    without_device = ~Q(type__startswith="device.") | Q(type__startswith="device.adapter.")
    return without_device | compile_expression(text, feed_device_fields())


def normalise_device_q(text: str) -> str:
    """One spelling of a `q` over the device of the events (`""` for an empty one): itself a `q`, which `device_q`
    compiles to the same condition; raises ExpressionError."""
    return normalise_expression(text, feed_device_fields()) if text else ""
