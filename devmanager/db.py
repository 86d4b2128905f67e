"""PostgreSQL plumbing: timestamps read through psycopg's C loader instead of the Python one Django registers (a page
of devices reads a hundred of them), and connections of their own straight to the primary."""

from datetime import UTC

import psycopg
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
