"""Per-key rate limits: DEVMANAGER_THROTTLE_RATE requests per API key, counted in the `throttle` cache."""

import contextlib
import threading
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from rest_framework.throttling import SimpleRateThrottle

_LOCAL_COUNTING = threading.Lock()  # one key's history read and written back at a time, in this process
# The first of the two integers of the throttle's advisory locks ("th"); the webhook claims' locks take one bigint,
# another space of PostgreSQL's advisory locks.
THROTTLE_LOCK_SPACE = 0x7468


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Each API key (or staff user, in the documentation pages) gets its own budget; 429 with Retry-After beyond it.

    The counts live in the `throttle` cache: per process by default, shared by every process and server with
    DEVMANAGER_THROTTLE_CACHE=database. Either way a key's request history is read, trimmed and written back as one
    step (`counting`): REST framework's throttle reads and writes it apart, so that requests arriving together each
    counted from the same history and all passed, beyond the limit."""

    scope = "api_key"

    @property
    def cache(self):
        return caches["throttle"]

    def get_rate(self):
        # Read per request rather than frozen at import, so a settings change (and a test) takes effect.
        return settings.DEVMANAGER_THROTTLE_RATE or None

    def get_cache_key(self, request, view):
        if request.auth is not None and hasattr(request.auth, "pk"):
            ident = f"key:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None  # unauthenticated requests are refused before throttling
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        with counting(key, shared=isinstance(self.cache, DatabaseCache)):
            return super().allow_request(request, view)


@contextlib.contextmanager
def counting(key: str, *, shared: bool) -> Iterator[None]:
    """Hold `key`'s count to this caller until the block ends. In the database: a transaction on the primary (the
    cache's reads follow it there, never to a replica), with PostgreSQL's advisory lock on the key (SQLite's
    transactions take the whole database's write lock at their start: settings.py). In a process: a lock."""
    if not shared:
        with _LOCAL_COUNTING:
            yield
        return
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [THROTTLE_LOCK_SPACE, key])
        yield
