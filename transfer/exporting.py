"""Streaming export of devices (`export_devices`) as JSON Lines or CSV that `import_devices` reads back.

Devices are read through a server-side cursor in chunks (constant memory however many there are), with their JSON
columns as the database's own text, so a device is written without decoding and re-encoding its metadata; each
chunk's network adapters come in one more query. On PostgreSQL, JSON Lines are made by the database itself and sent
with `COPY ... TO STDOUT` (`copy_json_lines`): the same text, with Python only passing it on.
"""

import csv
import io
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import islice
from json.encoder import encode_basestring

from django.contrib.postgres.aggregates import StringAgg
from django.db import connection, transaction
from django.db.models import Case, Func, QuerySet, TextField, Value, When
from django.db.models.functions import Cast, NullIf

from adapters.api.serializers import TYPE_FIELDS
from adapters.models import NetworkAdapter
from devmanager.bulk import filter_in
from devmanager.timestamps import POSTGRESQL_TIMESTAMP_FORMAT

from .rowformats import EXPORT_COLUMNS, tags_cell

CHUNK_SIZE = 2000  # devices a chunk of the cursor export reads
COPY_BATCH = 2000  # lines of the COPY export handed to `write` at a time


class TimestampText(Func):
    """A timestamp as the API writes it (`2026-03-09T10:00:00.123456Z`), formatted by the database: turning millions
    of them into datetimes and back in Python costs more than the rest of an export."""

    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra):
        template = f"to_char(%(expressions)s AT TIME ZONE 'UTC', '{POSTGRESQL_TIMESTAMP_FORMAT}')"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores `YYYY-MM-DD HH:MM:SS[.ffffff]` in UTC, the fraction only when there is one.
        template = (
            "REPLACE(CASE WHEN LENGTH(%(expressions)s) = 19 THEN %(expressions)s || '.000000' "
            "ELSE %(expressions)s END, ' ', 'T') || 'Z'"
        )
        return self.as_sql(compiler, connection, template=template, **extra)


# The device's columns as read, in the export's order but for network_adapters.
READ_COLUMNS = [
    "id", "alias", Cast("tags", TextField()), "status", "icon", "icon_color", TimestampText("creation_timestamp"),
    TimestampText("updated_timestamp"), Cast("metadata", TextField()), "dms_owner", Cast("slots", TextField()),
]  # fmt: skip


def device_chunks(queryset, chunk_size: int | None = None) -> Iterator[list[tuple]]:
    """The devices of the queryset, oldest first, as lists of rows of `EXPORT_COLUMNS` values (tags, metadata and
    slots as JSON text, timestamps formatted, network adapters as the bodies that create them).

    Call it inside a transaction: on PostgreSQL the rows then stream from a cursor without being materialised."""
    chunk_size = chunk_size or CHUNK_SIZE
    rows = queryset.order_by("creation_timestamp", "id").values_list(*READ_COLUMNS).iterator(chunk_size=chunk_size)
    chunks = iter(lambda: list(islice(rows, chunk_size)), [])
    for chunk in _read_ahead(chunks) if connection.vendor == "postgresql" else chunks:
        adapters = adapter_bodies([row[0] for row in chunk])
        yield [(*row, adapters.get(row[0], [])) for row in chunk]


def _read_ahead(chunks: Iterator[list]) -> Iterator[list]:
    """The chunks, each next one fetched by a thread while the caller writes the one before: the database makes
    rows while Python writes them (half an export's time each). The first is fetched here, which runs the query on
    this thread's connection (and in its transaction); the thread only fetches more rows from its cursor, which
    psycopg lets threads share."""
    chunk = next(chunks, None)
    with ThreadPoolExecutor(max_workers=1) as reader:
        while chunk is not None:
            following = reader.submit(next, chunks, None)
            yield chunk
            chunk = following.result()


def adapter_bodies(device_ids: list[str]) -> dict[str, list[dict]]:
    """Each device's adapters as `POST /devices/{id}/network-adapters` bodies (type, identifier, fields set)."""
    columns = sorted(set().union(*TYPE_FIELDS.values()))
    bodies: dict[str, list[dict]] = {}
    adapters = filter_in(NetworkAdapter.objects, "device", device_ids).order_by("created_at", "id")
    for device_id, adapter_type, *values in adapters.values_list("device_id", "type", *columns):
        present = {name: value for name, value in zip(columns, values, strict=True) if value not in (None, "")}
        body = {"type": adapter_type}
        body.update((name, str(present[name])) for name in sorted(TYPE_FIELDS[adapter_type]) if name in present)
        bodies.setdefault(device_id, []).append(body)
    return bodies


def jsonl_lines(chunk: list[tuple]) -> str:
    """One JSON object a line; the JSON columns are spliced in as the database gave them. `copy_json_lines` has
    PostgreSQL make the same text."""
    lines = []
    for row in chunk:
        device_id, alias, tags, status, icon, icon_color, created, updated, metadata, dms_owner, slots, adapters = row
        lines.append(
            f'{{"id":{_text(device_id)},"alias":{_text(alias)},"tags":{tags},"status":"{status}",'
            f'"icon":{_text(icon)},"icon_color":{_text(icon_color)},"creation_timestamp":"{created}",'
            f'"updated_timestamp":"{updated}","metadata":{metadata},"dms_owner":{_text(dms_owner)},'
            f'"slots":{slots},"network_adapters":{json.dumps(adapters, ensure_ascii=False) if adapters else "[]"}}}\n'
        )
    return "".join(lines)


_text = encode_basestring  # json.dumps(value, ensure_ascii=False) of a string, without its overhead


def csv_header() -> str:
    return _csv([EXPORT_COLUMNS])


def csv_lines(chunk: list[tuple]) -> str:
    """One device a record; empty cells for empty text fields, tags and adapters (all read back as absent)."""
    records = []
    for row in chunk:
        cells = list(row)
        cells[2] = tags_cell(json.loads(row[2]))
        cells[11] = json.dumps(row[11], ensure_ascii=False) if row[11] else ""
        records.append(cells)
    return _csv(records)


def _csv(records: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(records)
    return buffer.getvalue()


def json_line_start() -> Func:
    """A device's line of the JSON Lines export as PostgreSQL makes it, up to its network adapters' value: the text
    `jsonl_lines` writes, byte for byte. `to_json` escapes a string as `json.dumps(value, ensure_ascii=False)` does."""
    text, json_text = _json_string, _jsonb_text
    values = {
        "id": text("id"), "alias": text("alias"), "tags": json_text("tags"), "status": text("status"),
        "icon": text("icon"), "icon_color": text("icon_color"),
        "creation_timestamp": text(TimestampText("creation_timestamp")),
        "updated_timestamp": text(TimestampText("updated_timestamp")), "metadata": json_text("metadata"),
        "dms_owner": text("dms_owner"), "slots": json_text("slots"),
    }  # fmt: skip
    parts = []
    for name in EXPORT_COLUMNS:
        parts.append(Value(f'{"," if parts else "{"}"{name}":'))
        if name in values:
            parts.append(values[name])
    return _concat(*parts)


def adapters_json(devices: QuerySet) -> QuerySet:
    """The network adapters of the devices (a queryset) as `(device id, the JSON list json.dumps writes of
    adapter_bodies)`, for the devices that have any."""
    body = [Value('{"type": '), _json_string("type")]
    for name in sorted(set().union(*TYPE_FIELDS.values())):
        types = [adapter_type for adapter_type, fields in TYPE_FIELDS.items() if name in fields]
        value = Case(When(type__in=types, then=NullIf(Cast(name, TextField()), Value(""), output_field=TextField())))
        # A field without a value is NULL here, which concat() leaves out, as adapter_bodies does.
        body.append(_strict_concat(Value(f', "{name}": '), _json_string(value)))
    bodies = StringAgg(_concat(*body, Value("}")), delimiter=", ", order_by=("created_at", "id"))
    adapters = NetworkAdapter.objects.filter(device__in=devices.values("pk")).order_by().values("device")
    return adapters.annotate(json=_concat(Value("["), bodies, Value("]"))).values_list("device", "json")


def _json_string(expression) -> Cast:
    return Cast(Func(expression, function="to_json"), TextField())


def _jsonb_text(name: str) -> Cast:
    return Cast(name, TextField())


def _concat(*expressions) -> Func:
    """PostgreSQL's concat(): NULL arguments are left out."""
    return Func(*expressions, function="concat", output_field=TextField())


def _strict_concat(*expressions) -> Func:
    """`a || b`: NULL when any argument is."""
    return Func(*expressions, template="(%(expressions)s)", arg_joiner=" || ", output_field=TextField())


def copy_json_lines(queryset: QuerySet, write: Callable[[str], object], progress: Callable[[int], object]) -> int:
    """Write the queryset's devices as JSON Lines made by PostgreSQL, sent by one `COPY ... TO STDOUT` of the whole
    ordered query; returns how many were written. Run it in the export's own transaction (`_one_snapshot`).

    Each device's adapters are joined from one aggregate of all the exported devices' adapters: a subquery per
    device would cost an index search each, most of an export's time. The database reads the devices in the
    table's order and sorts the lines (on its temporary disk, about the export's size): pages in creation order
    read the table out of order and take twice as long. COPY's text format doubles each backslash and escapes
    control characters; JSON text has no raw control characters, so undoing the doubling gives the lines back."""
    if queryset.query.is_empty():
        return 0
    devices, device_params = _sql(queryset.order_by().values_list("id", "creation_timestamp", json_line_start()))
    adapters, adapter_params = _sql(adapters_json(queryset))
    query = (
        f"SELECT device.line || COALESCE(adapters.json, '[]') || '}}' FROM ({devices}) AS device (id, created, line) "
        f"LEFT JOIN ({adapters}) AS adapters (device_id, json) ON adapters.device_id = device.id "
        "ORDER BY device.created, device.id"
    )
    raw = connection.cursor().cursor  # the psycopg cursor under Django's wrapper
    count = 0
    with (
        connection.wrap_database_errors,
        raw.copy(f"COPY ({query}) TO STDOUT", (*device_params, *adapter_params)) as copy,
    ):
        for batch in iter(lambda: list(islice(copy, COPY_BATCH)), []):
            write(b"".join(batch).replace(b"\\\\", b"\\").decode())
            count += len(batch)
            progress(len(batch))
    return count


def _sql(queryset) -> tuple[str, tuple]:
    return queryset.query.get_compiler(connection=connection).as_sql()


def devices_export(*, queryset, format: str, write, progress=lambda rows: None) -> int:
    """Write the queryset's devices through `write(text)` as they are read, all from one snapshot of the database;
    returns how many were written."""
    with _one_snapshot():
        if format == "jsonl" and connection.vendor == "postgresql":
            return copy_json_lines(queryset, write, progress)
        count = 0
        if format == "csv":
            write(csv_header())
        for chunk in device_chunks(queryset):
            write(csv_lines(chunk) if format == "csv" else jsonl_lines(chunk))
            count += len(chunk)
            progress(len(chunk))
        return count


@contextmanager
def _one_snapshot() -> Iterator[None]:
    """A read-only transaction whose statements all read one snapshot: REPEATABLE READ on PostgreSQL (SQLite's
    transactions are serializable already), with no statement timeout: the JSON Lines export is one statement as long
    as the export. Inside a transaction the caller opened, the caller's rules hold."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SET LOCAL statement_timeout = 0")
        yield
