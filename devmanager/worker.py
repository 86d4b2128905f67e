"""Background work, run by `python manage.py worker` until it is stopped.

Apps register their kinds of work in `AppConfig.ready()` (webhook deliveries, fleet-action jobs): each is a function
that loops, claiming work from rows in the database and doing it, until the `stopping` event is set. The worker
runs each in its own threads; SIGTERM (or SIGINT) sets `stopping`, each loop finishes what it has in hand, and the
worker exits. Work is claimed in the database (row or advisory locks), so several workers on several machines
share it; a worker that dies mid-way leaves its work to be claimed again.
"""

import gc
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Work:
    name: str
    loop: Callable[[threading.Event], None]
    threads_setting: str | None  # the setting that says how many threads run the loop; None: one

    def threads(self) -> int:
        return max(1, getattr(settings, self.threads_setting)) if self.threads_setting else 1


WORK: list[Work] = []


def register_work(name: str, loop: Callable[[threading.Event], None], threads_setting: str | None = None) -> None:
    """Make `loop(stopping)` part of every worker, in `getattr(settings, threads_setting)` threads (or one)."""
    WORK.append(Work(name, loop, threads_setting))


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def stop_on_signals() -> threading.Event:
    """An event that the first SIGTERM or SIGINT sets, from now on; call it before any thread starts.

    No Python signal handler is involved: the signals are blocked (every thread started later inherits the mask) and
    taken by one thread waiting for them. A handler that sets the event would run in the main thread between two
    bytecodes, also inside `Event.set` itself when a second signal follows the first (Ctrl-C, then the group's
    SIGTERM), and `Event.set` would then wait forever for the lock its first call holds."""
    stopping = threading.Event()
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)

    def stop_on_first_signal() -> None:
        signal.sigwait(STOP_SIGNALS)
        stopping.set()

    threading.Thread(target=stop_on_first_signal, name="signals", daemon=True).start()
    return stopping


# The cyclic garbage collector's first threshold: objects allocated (less those freed) between two collections of
# the youngest generation (Python's default: 700). A fleet job's batch allocates a few hundred thousand objects
# (the devices, their documents, their events), nearly all freed by reference counting when the batch ends: at the
# default, the collector runs hundreds of times a batch and takes a fifth of the worker's time (tests/bench).
GC_THRESHOLD = 10_000


def run_worker(stopping: threading.Event) -> None:
    """Every registered loop in its threads, until `stopping` is set."""
    # What is loaded by now (Django, the apps, the modules) lives as long as the process: out of the collector's
    # sight, older generations' collections no longer walk it.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    threads = [
        threading.Thread(target=_run, args=(work, stopping), name=f"{work.name} {index}", daemon=True)
        for work in WORK
        for index in range(work.threads())
    ]
    for thread in threads:
        thread.start()
    logger.info("Worker started: %s.", ", ".join(f"{thread.name}" for thread in threads))
    while not stopping.wait(timeout=1.0):
        pass
    for thread in threads:
        thread.join()
    logger.info("Worker stopped.")


def _run(work: Work, stopping: threading.Event) -> None:
    """A loop, started again after an error it did not handle (the database gone for a moment) until stopping."""
    while not stopping.is_set():
        try:
            work.loop(stopping)
        except Exception:
            logger.exception("%s failed; starting again in a moment.", work.name)
            stopping.wait(timeout=1.0)
        finally:
            connection.close()
