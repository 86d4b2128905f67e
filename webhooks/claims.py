"""Which worker thread serves a subscription: at most one at a time, across threads, processes and machines.

On PostgreSQL a session-level advisory lock on the subscription's id, taken with `pg_try_advisory_lock` on the
thread's own connection: no transaction stays open while an endpoint answers, the subscription's row can still be
changed (a replay, a PATCH), and a worker that dies drops its connection and with it its locks. SQLite has one
writer and no such locks: the threads of one worker share a set, and the quick start runs one worker.
"""

import threading
import uuid

from django.conf import settings as django_settings
from django.db import connection

from devmanager.db import direct_connect


class Claims:
    def __init__(self):
        self.lock = threading.Lock()
        self.held: set[uuid.UUID] = set()

    def take(self, subscription_id: uuid.UUID) -> bool:
        """True when this thread now serves the subscription; give it back with `give_back`."""
        with self.lock:
            if subscription_id in self.held:
                return False
            self.held.add(subscription_id)
        try:
            taken = connection.vendor != "postgresql" or _advisory(subscription_id, "pg_try_advisory_lock")
        except BaseException:
            taken = False
            raise
        finally:
            if not taken:
                with self.lock:
                    self.held.discard(subscription_id)
        return taken

    def held_here(self) -> list[uuid.UUID]:
        """The subscriptions this process's threads serve now."""
        with self.lock:
            return list(self.held)

    def give_back(self, subscription_id: uuid.UUID) -> None:
        try:
            if connection.vendor == "postgresql":
                _advisory(subscription_id, "pg_advisory_unlock")
        finally:
            with self.lock:
                self.held.discard(subscription_id)


# A worker whose machine vanishes holds its locks until the server notices its connection is dead: TCP keepalives
# on the server's side of the worker's connections (unless the server's own settings are shorter) make that a
# minute, not the system's default two hours.
KEEPALIVES = (("tcp_keepalives_idle", "30"), ("tcp_keepalives_interval", "10"), ("tcp_keepalives_count", "3"))


def _advisory(subscription_id: uuid.UUID, function: str) -> bool:
    key = int.from_bytes(subscription_id.bytes[:8], "big", signed=True)  # a UUID's first 64 bits: random enough
    settings = ", ".join(f"set_config('{name}', '{value}', false)" for name, value in KEEPALIVES)
    with _session().cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s), {settings}", [key])
        return bool(cursor.fetchone()[0])


_direct = threading.local()


def _session():
    """Where the thread's locks live: its Django connection; behind a transaction pooler (DATABASE_POOLER), whose
    sessions are not ours between statements, a connection of its own straight to the primary."""
    if not django_settings.DATABASE_POOLER:
        return connection
    own = getattr(_direct, "connection", None)
    if own is None or own.closed:
        own = _direct.connection = direct_connect(connection, autocommit=True)
    return own


CLAIMS = Claims()
