"""Waiting for the feed to grow (`wait=`, long polling) without holding a database connection.

On PostgreSQL each recording transaction sends `NOTIFY devmanager_feed` (delivered at its commit); one thread per
process LISTENs on its own connection and wakes every request waiting in that process. A waiting request has
closed its database connection first, so a hundred waiting clients hold one connection per process between them,
and no CPU: they sleep on a condition. When a commit wakes them all, they look again `WOKEN_LOOKERS` (8) at a time
per process, each closing its connection after its look: two hundred followers woken at once must not open two
hundred connections (PostgreSQL's default limit is 100), and a look takes a few milliseconds. SQLite has no
notifications: a waiting request looks again every `POLL_SECONDS`, with no connection held in between (SQLite's
are files opened per request).
"""

import logging
import threading
import time

from django.db import connection

CHANNEL = "devmanager_feed"
POLL_SECONDS = 0.5
RECONNECT_SECONDS = 1.0
WOKEN_LOOKERS = threading.BoundedSemaphore(8)  # per process: the connections woken waiters open at once

logger = logging.getLogger(__name__)


class FeedNotifier:
    """Wakes the waiters of this process when a transaction that recorded events commits."""

    def __init__(self):
        self.changed = threading.Condition()
        self.generation = 0  # grows at each notification
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.listener = None  # the listening connection
        self.stopping = False

    def wait(self, since: int, timeout: float) -> None:
        """Until a notification after generation `since` (see `generation`), or `timeout` seconds."""
        self._start()
        with self.changed:
            self.changed.wait_for(lambda: self.generation > since, timeout=timeout)

    def _start(self) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.stopping = False
                self.thread = threading.Thread(target=self._listen, name="feed-listener", daemon=True)
                self.thread.start()

    def stop(self) -> None:
        """Close the listening connection and end its thread (the tests, before their database is dropped)."""
        with self.lock:
            thread, self.stopping = self.thread, True
            if self.listener is not None:
                self.listener.close()
        if thread is not None:
            thread.join(timeout=5)

    def _listen(self) -> None:
        from devmanager.db import direct_connect

        while not self.stopping:
            try:
                # Straight to the primary: LISTEN needs a session of its own, which a transaction pooler does not keep.
                with direct_connect(connection, autocommit=True) as listener:
                    self.listener = listener
                    listener.execute(f"LISTEN {CHANNEL}")
                    self._notify()  # anything committed while not listening is looked for again
                    for _ in listener.notifies():
                        self._notify()
            except Exception:  # the server went away: listen again, waking the waiters to look for themselves
                if self.stopping:
                    return
                logger.warning("The feed's listener lost its connection; reconnecting.", exc_info=True)
                self._notify()
                time.sleep(RECONNECT_SECONDS)
            finally:
                self.listener = None

    def _notify(self) -> None:
        with self.changed:
            self.generation += 1
            self.changed.notify_all()


NOTIFIER = FeedNotifier()


def notify_committed() -> None:
    """Called in a transaction that records events: its commit wakes the waiters (PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")


def wait_for_events(look, timeout: float, found=bool):
    """`look()` until `found(its answer)` or `timeout` seconds pass; the last answer. The request's database
    connection is closed while it waits."""
    deadline = time.monotonic() + timeout
    generation = NOTIFIER.generation
    answer = look()  # the request's own look, on its connection
    while not found(answer) and (remaining := deadline - time.monotonic()) > 0:
        _release_connection()
        if connection.vendor == "postgresql":
            NOTIFIER.wait(generation, remaining)
        else:
            time.sleep(min(POLL_SECONDS, remaining))
        with WOKEN_LOOKERS:
            generation = NOTIFIER.generation
            answer = look()
            _release_connection()
    return answer


def _release_connection() -> None:
    if not connection.in_atomic_block:  # (a test's transaction keeps it)
        connection.close()
