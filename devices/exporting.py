"""Streaming export of devices (`export_devices`) as JSON Lines or CSV that `import_devices` reads back.

Devices are read through a server-side cursor in chunks (constant memory however many there are), with their JSON
columns as the database's own text, so a device is written without decoding and re-encoding its metadata; each
chunk's network adapters come in one more query.
"""

import csv
import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from json.encoder import encode_basestring

from django.db import connection, transaction
from django.db.models import Func, TextField
from django.db.models.functions import Cast

from adapters.api.serializers import TYPE_FIELDS
from adapters.models import NetworkAdapter

from .bulk import filter_in
from .rowformats import EXPORT_COLUMNS, tags_cell

CHUNK_SIZE = 2000


class TimestampText(Func):
    """A timestamp as the API writes it (`2026-03-09T10:00:00.123456Z`), formatted by the database: turning millions
    of them into datetimes and back in Python costs more than the rest of an export."""

    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra):
        template = """to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
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
    """One JSON object a line; the JSON columns are spliced in as the database gave them."""
    lines = []
    for row in chunk:
        device_id, alias, tags, status, icon, icon_color, created, updated, metadata, dms_owner, slots, adapters = row
        lines.append(
            f'{{"id":{_text(device_id)},"alias":{_text(alias)},"tags":{tags},"status":"{status}",'
            f'"icon":{_text(icon)},"icon_color":{_text(icon_color)},"creation_timestamp":"{created}",'
            f'"updated_timestamp":"{updated}","metadata":{metadata},"dms_owner":{_text(dms_owner)},'
            f'"slots":{slots},"network_adapters":{json.dumps(adapters) if adapters else "[]"}}}\n'
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


def devices_export(*, queryset, format: str, write, progress=lambda rows: None) -> int:
    """Write the queryset's devices through `write(text)`, chunk by chunk; returns how many were written."""
    count = 0
    if format == "csv":
        write(csv_header())
    with transaction.atomic():
        for chunk in device_chunks(queryset):
            write(csv_lines(chunk) if format == "csv" else jsonl_lines(chunk))
            count += len(chunk)
            progress(len(chunk))
    return count
