"""Writing many rows at once: PostgreSQL's COPY, or multi-row INSERTs (bulk_create) on other databases; the JSON
and COPY text encodings they need. Database plumbing, for any table: which rows may be written where is each app's
business (devices/batch.py writes the device table). The caller holds the transaction.
"""

import contextlib
import json
import struct
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

import psycopg
from django.db import connection, models
from django.db.models.expressions import RawSQL

from .strictjson import JsonText, jsonb_text

# COPY's binary format (PostgreSQL's documentation, "COPY", "Binary Format"): a signature, flags and an empty
# header extension; each row its field count and each field its length (-1: NULL) and bytes; -1 to end.
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
BINARY_TRAILER = struct.pack(">h", -1)
BINARY_NULL = struct.pack(">i", -1)
POSTGRESQL_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_length = struct.Struct(">i").pack
_eight_bytes = struct.Struct(">iq").pack  # a bigint or a timestamp field: its length, 8, and its value


def copy_rows(model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert rows into the model's table: values in `columns` order, those of JSON columns as dicts, lists or
    `JsonText`; the caller holds the transaction."""
    if connection.vendor == "postgresql":
        _copy(model._meta.db_table, columns, rows)
        return
    json_columns = [
        index for index, name in enumerate(columns) if isinstance(model._meta.get_field(name), models.JSONField)
    ]
    instances = []
    for row in rows:
        values = dict(zip(columns, row, strict=True))
        for index in json_columns:
            if isinstance(row[index], JsonText):
                values[columns[index]] = json.loads(row[index])
        instances.append(model(**values))
    model.objects.bulk_create(instances)


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    raw = connection.cursor().cursor  # the psycopg cursor under Django's wrapper
    with connection.wrap_database_errors, raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([jsonb_text(value) if isinstance(value, dict | list) else value for value in row])


def update_rows(objects: Sequence[models.Model], columns: Sequence[str]) -> None:
    """Save these columns of the objects (found by primary key), as bulk_update does. On PostgreSQL one
    `UPDATE … FROM json_to_recordset(<the rows as one JSON text>)` per thousand: bulk_update writes a `CASE` of every
    row for each column, which PostgreSQL evaluates row by row, a cost that grows with the square of the batch; and
    one JSON text is one parameter, where arrays of strings would be escaped element by element by psycopg."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, columns, batch_size=1000)
        return
    meta = model._meta
    fields = [meta.pk, *(meta.get_field(name) for name in columns)]
    types = ", ".join(f'"{field.column}" {field.db_type(connection).split("(")[0]}' for field in fields)
    assignments = ", ".join(f'"{field.column}" = row."{field.column}"' for field in fields[1:])
    sql = (
        f'UPDATE "{meta.db_table}" AS t SET {assignments} FROM json_to_recordset(%s::json) AS row ({types}) '
        f'WHERE t."{meta.pk.column}" = row."{meta.pk.column}"'
    )
    # A cursor binding its parameters on the server: Django's would quote the JSON text, a kilobyte a row, into the
    # statement. Not prepared (a connection pooler's transaction mode keeps no statements).
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        for start in range(0, len(objects), 1000):
            chunk = objects[start : start + 1000]
            rows = [{field.column: _column_value(field, item) for field in fields} for item in chunk]
            cursor.execute(sql, [jsonb_text(rows)], prepare=False)


def _column_value(field: models.Field, item: models.Model):
    """A value as JSON holds it for `json_to_recordset`: a JSON column's document, a time in ISO 8601, text and
    numbers as they are."""
    value = getattr(item, field.attname)
    if isinstance(field, models.JSONField):
        return json.loads(value) if isinstance(value, JsonText) else value
    return value.isoformat() if isinstance(value, datetime) else value


def filter_in(queryset, field: str, values: list):
    """`queryset.filter(<field>__in=values)`, the list one array parameter on PostgreSQL: Django would prepare each
    of thousands of values apart, which costs more than running the query."""
    if connection.vendor != "postgresql":
        return queryset.filter(**{f"{field}__in": values})
    column = f'"{queryset.model._meta.db_table}"."{queryset.model._meta.get_field(field).column}"'
    return queryset.filter(RawSQL(f"{column} = ANY(%s)", [values], output_field=models.BooleanField()))


def may_skip_reference_checks() -> bool:
    """Whether this connection's role may set `session_replication_role` (PostgreSQL: a superuser, or from version
    15 a role granted `SET ON PARAMETER session_replication_role`); False elsewhere."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        if connection.pg_version >= 150000:
            cursor.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
        else:
            cursor.execute("SELECT current_setting('is_superuser') = 'on'")
        return cursor.fetchone()[0]


@contextlib.contextmanager
def reference_checks_skipped() -> Iterator[None]:
    """Within a transaction, PostgreSQL's foreign-key checks (triggers, fired at commit) are not queued for the rows
    written inside; for rows that reference rows written in the same statements, whose existence is certain.
    Needs `may_skip_reference_checks()`; other constraints (primary keys, unique) are checked as always. Enter it
    inside a savepoint: a failure within leaves the setting to the savepoint's rollback (an aborted transaction
    runs no statement to set it back)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('session_replication_role', 'replica', true)")
        yield
        cursor.execute("SELECT set_config('session_replication_role', 'origin', true)")


def copy_line(values: Sequence) -> str:
    """Any row's values as a line of COPY's text format."""
    return "\t".join(_copy_value(value) for value in values)


def _copy_value(value) -> str:
    if isinstance(value, str):
        return copy_text(value)
    if value is None:
        return "\\N"
    if isinstance(value, dict | list):
        return copy_json(value)
    return value.isoformat() if isinstance(value, datetime) else str(value)


def copy_text(value: str) -> str:
    """A value in COPY's text format, where backslash, tab, newline and carriage return are escaped."""
    if value.isprintable() and "\\" not in value:  # the usual case: nothing to escape
        return value
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_json(value) -> str:
    return copy_text(value if isinstance(value, JsonText) else jsonb_text(value))


def binary_fields(*values: str | bytes | None) -> bytes:
    """Text fields (or NULLs) in COPY's binary format: each its length, then its UTF-8 bytes as they are, no
    escapes; joined at once, for a kilobyte of JSON is copied once, not once per field."""
    parts = []
    for value in values:
        if value is None:
            parts.append(BINARY_NULL)
            continue
        data = value.encode() if isinstance(value, str) else value
        parts += (_length(len(data)), data)
    return b"".join(parts)


def binary_bigint(value: int) -> bytes:
    return _eight_bytes(8, value)


def binary_timestamp(value: datetime) -> bytes:
    """An aware time as a `timestamptz` field in COPY's binary format: microseconds since 2000-01-01 UTC."""
    delta = value - POSTGRESQL_EPOCH
    return _eight_bytes(8, (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def binary_row_start(fields: int) -> bytes:
    return struct.pack(">h", fields)


def copy_binary(model: type[models.Model], columns: Sequence[str], pieces: list[bytes]) -> None:
    """COPY rows of binary format (PostgreSQL only) into the model's table: `pieces` are the rows' bytes, but for
    the file's header and trailer, in any cut (a row may span pieces). For long text, which the text format would
    have the server scan for escapes, byte by byte."""
    raw = connection.cursor().cursor  # the psycopg cursor under Django's wrapper
    table = model._meta.db_table
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with connection.wrap_database_errors, raw.copy(statement) as copy:
        copy.write(BINARY_HEADER)  # written in blocks, the format's header and trailer are the writer's to send
        for start in range(0, len(pieces), 2000):
            copy.write(b"".join(pieces[start : start + 2000]))
        copy.write(BINARY_TRAILER)


def copy_lines(model: type[models.Model], columns: Sequence[str], lines: list[str]) -> None:
    """COPY lines of text format (PostgreSQL only) into the model's table."""
    raw = connection.cursor().cursor  # the psycopg cursor under Django's wrapper
    table = model._meta.db_table
    with connection.wrap_database_errors, raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for start in range(0, len(lines), 1000):
            copy.write("\n".join(lines[start : start + 1000]) + "\n")
