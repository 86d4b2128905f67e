"""PostgreSQL plumbing: timestamps read through psycopg's C loader instead of the Python one Django registers (a page
of devices reads a hundred of them), connections of their own straight to the primary, and a count cut off at a
deadline on either database."""

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC

import psycopg
from django.db import OperationalError, connections, transaction
from psycopg.adapt import Loader
from psycopg.pq import Format


def use_c_timestamp_loader(sender, connection, **kwargs):
    """`connection_created` receiver: load timestamptz with psycopg's C loader.

    Django registers a Python subclass of psycopg's Python loader to attach its own timezone. The database session
    runs in UTC (Django sets it), so the C loader already answers aware UTC datetimes; it only needs the `timezone`
    attribute Django compares on each new cursor, hence the thin wrapper (the C class cannot be subclassed)."""
    if connection.vendor == "postgresql" and connection.timezone is UTC:
        connection.connection.adapters.register_loader("timestamptz", UtcTimestamptzLoader)


class UtcTimestamptzLoader(Loader):
    timezone = UTC

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        # An instance attribute: psycopg calls `loader.load`, which is then the C method itself.
        self.load = psycopg.adapters.get_loader(oid, Format.TEXT)(oid, context).load

    def load(self, data):  # replaced per instance in __init__
        raise NotImplementedError


def direct_connect(connection, **options) -> psycopg.Connection:
    """A connection of its own to the database of Django's `connection`, straight to the primary's server
    (DATABASE_DIRECT_URL) when a transaction pooler stands between: for what needs a session that stays ours
    between statements (LISTEN, session advisory locks)."""
    from django.conf import settings

    params = {**connection.settings_dict, **(settings.DATABASE_DIRECT or {})}
    options = {"dbname": connection.settings_dict["NAME"], **options}
    return psycopg.connect(
        host=params["HOST"] or None, port=params["PORT"] or None, user=params["USER"], password=params["PASSWORD"],
        **options,
    )  # fmt: skip


class TimedOut(Exception):
    """The query was stopped at its deadline."""


def count_within(queryset, seconds: float) -> int:
    """`queryset.count()`, stopped by the database once `seconds` have gone (TimedOut): PostgreSQL's
    `statement_timeout`, for this transaction only (so also behind a transaction pooler); SQLite's interrupt."""
    database = queryset.db
    connection = connections[database]
    # PostgreSQL's setting needs a transaction to be its own; on SQLite, whose transactions take the write lock at
    # their start (settings.py), a read stays out of one: it would wait for writers, beyond the deadline, and hold
    # them up.
    within = transaction.atomic(using=database) if connection.vendor == "postgresql" else contextlib.nullcontext()
    try:
        with within, _deadline(connection, seconds):
            return queryset.using(database).count()
    except OperationalError as exc:
        if isinstance(exc.__cause__, psycopg.errors.QueryCanceled) or "interrupted" in str(exc):
            raise TimedOut from exc
        raise


@contextlib.contextmanager
def _deadline(connection, seconds: float) -> Iterator[None]:
    if connection.vendor == "postgresql":
        timeout = f"{max(1, round(seconds * 1000))}ms"
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)",
                           [timeout])  # fmt: skip
            (previous, _) = cursor.fetchone()
        yield
        # Set back: in a transaction of the caller's, the savepoint's release would keep it to the transaction's end
        # (a timeout stops it, whose rollback undoes the setting).
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
        return
    # SQLite: its interrupt, meant to be called from another thread, stops the running statement (and is nothing
    # once none runs); joined before the block ends, the timer can interrupt nothing after it.
    connection.ensure_connection()
    timer = threading.Timer(seconds, connection.connection.interrupt)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()
