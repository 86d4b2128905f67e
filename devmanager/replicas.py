"""Reads from PostgreSQL streaming replicas, with read-your-writes (contract, section 11).

- **Which requests**: a GET or HEAD may read from a replica (`ReadRouting`, set by `ReplicaRoutingMiddleware`);
  every other request, every read inside a transaction, and the rows that decide who is asking (API keys, users,
  sessions) read from the primary. Migrations never touch a replica.
- **How far a replica has come**: its WAL replay position (`pg_last_wal_replay_lsn()`), read at most once a second
  per process (`ReplicaStates`). The primary's write position is sampled at the same moments; a replica *lags*
  when it has not replayed a position the primary had reached more than DEVMANAGER_REPLICA_MAX_LAG_SECONDS ago (an
  idle primary does not make it lag). A lagging or unreachable replica is skipped: the primary answers.
- **Read your writes**: every successful write's answer carries `X-Consistency-Token`, the primary's WAL position
  after it, signed. A read that sends it back is answered from a database that has replayed that far: a replica
  whose last known replay position is past it, else the primary. A client that wrote within the lag limit is held
  to its last write's position without the header: the position is kept on its API key's row (read on every
  request anyway) or in its admin session. A list's bookmark carries how far its page's database had come
  (`with_read_position`), so that a walk's next page is never read from a database behind it.
"""

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.db import DatabaseError, connections
from django.db.models.expressions import RawSQL

from devmanager.api.exceptions import error_response

PRIMARY = "default"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
TOKEN_HEADER = "X-Consistency-Token"
TOKEN_SALT = "devmanager.replicas.consistency"
REFRESH_SECONDS = 1.0  # how often a process reads the replicas' replay positions
PRIMARY_ONLY_APPS = ("api", "auth", "sessions", "contenttypes", "admin")  # who is asking, and the admin's bookkeeping


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith("replica")]


# --- Positions ------------------------------------------------------------------------------------------------------


def lsn_number(text: str) -> int:
    """PostgreSQL's `XXX/YYY` WAL position as one integer."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def primary_position() -> int:
    """The primary's WAL write position now (0 on SQLite, which has no replicas)."""
    connection = connections[PRIMARY]
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return lsn_number(cursor.fetchone()[0])


def consistency_token(position: int) -> str:
    return signing.dumps(position, salt=TOKEN_SALT)


class BadToken(ValueError):
    pass


def token_position(token: str) -> int:
    """The position a token carries; BadToken for anything not made by `consistency_token`."""
    try:
        position = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature as exc:
        raise BadToken("is not a consistency token this service made") from exc
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise BadToken("is not a consistency token this service made")
    return position


# --- The replicas' states, per process ------------------------------------------------------------------------------


@dataclass
class ReplicaState:
    alias: str
    reachable: bool = False
    replayed: int = 0  # the last replay position read
    lag_seconds: float | None = None  # None: unknown (unreachable)
    error: str = ""


@dataclass
class ReplicaStates:
    """What this process knows of each replica, refreshed at most every REFRESH_SECONDS."""

    checked_at: float = float("-inf")
    states: dict[str, ReplicaState] = field(default_factory=dict)
    # The primary's positions as sampled: (monotonic time, position), oldest first.
    samples: deque = field(default_factory=lambda: deque(maxlen=600))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> dict[str, ReplicaState]:
        with self.lock:
            if time.monotonic() - self.checked_at >= REFRESH_SECONDS:
                self.refresh()
            return dict(self.states)

    def refresh(self) -> None:
        now = time.monotonic()
        self.checked_at = now
        with suppress(DatabaseError):  # the primary answers the request, or fails it, on its own
            self.samples.append((now, primary_position()))
        for alias in replica_aliases():
            self.states[alias] = self._check(alias, now)

    def _check(self, alias: str, now: float) -> ReplicaState:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT pg_last_wal_replay_lsn()::text")
                replayed = lsn_number(cursor.fetchone()[0] or "0/0")
        except DatabaseError as exc:
            connections[alias].close()
            return ReplicaState(alias, error=str(exc).strip()[:200])
        return ReplicaState(alias, reachable=True, replayed=replayed, lag_seconds=self.lag(replayed, now))

    def lag(self, replayed: int, now: float) -> float:
        """How long ago the primary reached the oldest position the replica has not replayed (0: none)."""
        missing = next((at for at, position in self.samples if position > replayed), None)
        return 0.0 if missing is None else now - missing

    def mark_unreachable(self, alias: str, error: str) -> None:
        with self.lock:
            self.states[alias] = ReplicaState(alias, error=error[:200])

    def replayed(self, alias: str) -> int:
        state = self.states.get(alias)
        return state.replayed if state is not None else 0

    def usable(self, needed: int) -> str | None:
        """A replica that is reachable, within the lag limit and past `needed`; None: the primary must answer."""
        limit = settings.DEVMANAGER_REPLICA_MAX_LAG_SECONDS
        for state in self.current().values():
            if state.reachable and state.lag_seconds <= limit and state.replayed >= needed:
                return state.alias
        return None


STATES = ReplicaStates()


# --- Routing a request's reads --------------------------------------------------------------------------------------


@dataclass
class ReadRouting:
    """A GET's reads: from a replica past `needed`, chosen at the first read that may go to one."""

    needed: int = 0
    alias: str | None = None
    chosen: bool = False

    def require(self, position: int) -> None:
        self.needed = max(self.needed, position)
        if self.chosen and self.alias is not None and STATES.replayed(self.alias) < position:
            self.alias = None  # reads began on a replica not that far: the rest come from the primary

    def database(self) -> str:
        if not self.chosen:
            self.alias = STATES.usable(self.needed) if replica_aliases() else None
            self.chosen = True
        return self.alias or PRIMARY


_routing: ContextVar[ReadRouting | None] = ContextVar("read_routing", default=None)


@contextmanager
def reads_routed(routing: ReadRouting | None) -> Iterator[None]:
    token = _routing.set(routing)
    try:
        yield
    finally:
        _routing.reset(token)


def require_position(position: int) -> None:
    """The request's client wrote up to `position` lately: its reads must see that far."""
    routing = _routing.get()
    if routing is not None:
        routing.require(position)


# How far the database answering a query has come, as a column of the query itself: a replica's replay position, or
# the primary's write position (COALESCE evaluates the second only where the first is NULL: on the primary).
READ_POSITION_SQL = "COALESCE(pg_last_wal_replay_lsn(), pg_current_wal_lsn())::text"


def with_read_position(queryset):
    """The queryset with `wal_position` on each row when replicas are configured: how far the database that answers
    it had come, read by the same statement (a list's bookmark carries it, so that the walk's next page is read from
    a database at least that far). Unchanged without replicas."""
    if not replica_aliases() or connections[PRIMARY].vendor != "postgresql":
        return queryset
    return queryset.annotate(wal_position=RawSQL(READ_POSITION_SQL, []))


class ReplicaRouter:
    """Django's database router: writes and migrations on the primary; reads where the request's routing says."""

    def db_for_read(self, model, **hints):
        routing = _routing.get()
        if routing is None or model._meta.app_label in PRIMARY_ONLY_APPS:
            return PRIMARY
        if connections[PRIMARY].in_atomic_block:
            return PRIMARY  # a read inside a write
        return routing.database()

    def db_for_write(self, model, **hints):
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY


def reads_from_primary() -> None:
    """This request reads from the primary whatever it is (a long poll, which waits on the primary's notifications)."""
    routing = _routing.get()
    if routing is not None and not routing.chosen:
        routing.alias, routing.chosen = None, True


# --- The requests ---------------------------------------------------------------------------------------------------


class ReplicaRoutingMiddleware:
    """Routes a GET's reads (`ReadRouting`), and gives every successful write's answer its consistency token, noting
    the position for the client's next reads. After the session middleware (an admin session's last write)."""

    SESSION_KEY = "devmanager_last_write"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in WRITES:
            response = self.get_response(request)
            if 200 <= response.status_code < 300:
                self._wrote(request, response)
            return response
        if request.method not in ("GET", "HEAD"):
            return self.get_response(request)  # OPTIONS: the primary, as any request outside a routing
        header = request.headers.get(TOKEN_HEADER)
        try:
            routing = ReadRouting(needed=token_position(header) if header is not None else 0)
        except BadToken as exc:
            return error_response(400, "validation_error", f"{TOKEN_HEADER} {exc}.", [
                {"name": TOKEN_HEADER, "message": str(exc)}
            ])  # fmt: skip
        written = getattr(request, "session", {}).get(self.SESSION_KEY) if replica_aliases() else None
        if written and time.time() - written[1] <= settings.DEVMANAGER_REPLICA_MAX_LAG_SECONDS:
            routing.require(written[0])
        request.devmanager_routing = routing
        with reads_routed(routing):
            return self.get_response(request)

    def process_exception(self, request, exception):
        """A replica failing in the middle of a read: noted, and the request answered again from the primary."""
        routing = getattr(request, "devmanager_routing", None)
        if routing is None or routing.alias is None or not isinstance(exception, DatabaseError):
            return None
        STATES.mark_unreachable(routing.alias, str(exception))
        connections[routing.alias].close()
        routing.alias = None
        with reads_routed(routing):
            return self.get_response(request)

    def _wrote(self, request, response) -> None:
        try:
            position = primary_position()
        except DatabaseError:
            return
        response[TOKEN_HEADER] = consistency_token(position)
        if not replica_aliases():
            return
        if (key := getattr(request, "devmanager_key", None)) is not None:
            key.note_write(position)
        elif getattr(request, "user", None) is not None and request.user.is_authenticated:
            request.session[self.SESSION_KEY] = [position, time.time()]


class ReplicaCollector:
    """/metrics: each replica's lag and reachability as the answering process last found them."""

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        lag = GaugeMetricFamily(
            "devmanager_replica_lag_seconds",
            "How long ago the primary wrote the oldest WAL the replica has not replayed (0: caught up).",
            labels=["database"],
        )
        reachable = GaugeMetricFamily(
            "devmanager_replica_reachable", "1 when the replica answers.", labels=["database"]
        )
        for alias, state in STATES.current().items():
            reachable.add_metric([alias], 1.0 if state.reachable else 0.0)
            if state.lag_seconds is not None:
                lag.add_metric([alias], state.lag_seconds)
        yield from (lag, reachable)
