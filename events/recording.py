"""Recording the write door's changes in the fleet feed, in the change's transaction.

**No event is ever skipped.** Positions come from one counter row (`FeedCounter`), taken with
`… SET position = position + n RETURNING position` by each transaction as it records its events. The row
stays locked until that transaction ends, so a transaction can take positions after another's only once the other
has committed, or rolled back and so given its positions back (the counter's update is undone with it). Positions
therefore become visible in counter order and without holes: whatever a reader's snapshot, the events it sees are a
prefix of the feed, and every later commit appends after the last position any reader has seen. The price is that
writing transactions commit one at a time from their first recorded event on; the services record their events
last, so the lock is held for the commit itself (its cost on single-device writes: docs/benchmarks.md).

Alternatives weighed (docs/design.md): a sequence with readers held below the oldest running writer
(`pg_snapshot_xmin`) orders by transaction start, so a long transaction holds the whole feed back and the order
is not one integer; an outbox copied by a relay adds a process every reader's freshness depends on. SQLite lets one
transaction write at a time: the counter holds there the same.
"""

from django.db import connection
from django.utils import timezone

from devices.changes import Change, EncodedChanges
from devmanager.bulk import binary_bigint, binary_fields, binary_row_start, binary_timestamp, copy_binary, copy_rows
from devmanager.strictjson import compact_json

from .models import Event, FeedCounter
from .snapshots import events_data
from .waiting import CHANNEL, notify_committed

ROW_COLUMNS = ("type", "subject", "time", "actor", "dms", "dms_before", "data")  # an event's, but its position
ENCODED_COLUMNS = ("position", "type", "time", "actor", "subject", "dms", "data")  # `EncodedChanges`' rows
ONE_STATEMENT_MAX = 20  # events a write records in one statement on PostgreSQL; a batch goes by bulk insert
COUNTER = FeedCounter._meta.db_table
# An upsert, so that the counter's row exists whatever emptied the table (a test's flush).
TAKE_POSITIONS = (
    f"INSERT INTO {COUNTER} (id, position, pruned_through) VALUES (1, %s, 0) "
    f"ON CONFLICT (id) DO UPDATE SET position = {COUNTER}.position + EXCLUDED.position RETURNING position"
)


def record_changes(changes: list[Change]) -> None:
    """Append the changes to the feed, in order, with consecutive positions."""
    rows = [
        (change.type, change.subject, change.at, change.actor, *change.dms_columns(), compact_json(data))
        for change, data in zip(changes, events_data(changes), strict=True)
    ]
    if connection.vendor == "postgresql" and len(rows) <= ONE_STATEMENT_MAX:
        _record_in_one_statement(rows)
        return
    last = take_positions(len(rows))
    first = last - len(rows) + 1
    columns = ("position", *ROW_COLUMNS)
    if connection.vendor == "postgresql":
        copy_binary(Event, columns, [_binary_row(first + index, *row) for index, row in enumerate(rows)])
    else:
        copy_rows(Event, columns, ((first + index, *row) for index, row in enumerate(rows)))
    notify_committed()


_ROW_START = binary_row_start(1 + len(ROW_COLUMNS))


def _binary_row(position: int, type: str, subject: str, time, actor: str, dms, dms_before, data: str) -> bytes:
    """A feed row (`ROW_COLUMNS` after its position) in COPY's binary format: its kilobyte of JSON as it is, where
    the text format would have it escaped here and scanned for escapes by the server."""
    return (
        _ROW_START
        + binary_bigint(position)
        + binary_fields(type, subject)
        + binary_timestamp(time)
        + binary_fields(actor, dms, dms_before, data)
    )


def _record_in_one_statement(rows: list[tuple]) -> None:
    """PostgreSQL: the counter, the rows and the notification in one round trip (a single-device write's events)."""
    values = ", ".join(["(%s, %s, %s, %s::timestamptz, %s, %s, %s, %s)"] * len(rows))
    params = [len(rows)] + [value for index, row in enumerate(rows, start=1) for value in (index, *row)]
    columns = ", ".join(ROW_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH taken AS ({TAKE_POSITIONS}), notified AS (SELECT pg_notify('{CHANNEL}', '')) "
            f"INSERT INTO {Event._meta.db_table} (position, {columns}) "
            f"SELECT taken.position - {len(rows)} + row.n, {', '.join(f'row.{name}' for name in ROW_COLUMNS)} "
            f"FROM taken, notified, (VALUES {values}) AS row (n, {columns})",
            params,
        )


def record_encoded(encoded: EncodedChanges) -> None:
    """Append changes whose subject, DMS and data are encoded (an import's new devices), by COPY (PostgreSQL), in
    its binary format: a kilobyte of JSON a row, which the text format would have the server scan for escapes."""
    last = take_positions(len(encoded.lines))
    first = last - len(encoded.lines) + 1
    start = binary_row_start(len(ENCODED_COLUMNS))
    shared = binary_fields(encoded.type) + binary_timestamp(timezone.now()) + binary_fields(encoded.actor)
    pieces = []
    for index, line in enumerate(encoded.lines):
        pieces += (start + binary_bigint(first + index) + shared, line)  # the line, a kilobyte, is not copied
    copy_binary(Event, ENCODED_COLUMNS, pieces)
    notify_committed()


def take_positions(count: int) -> int:
    """Hand out `count` positions; the last one. Holds the counter's row lock until the transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute(TAKE_POSITIONS, [count])
        return cursor.fetchone()[0]
