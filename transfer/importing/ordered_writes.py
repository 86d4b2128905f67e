"""Writing an import's batches in the order of its input: one after the other (`SerialWrites`), or by WRITERS
threads at once with the outcome of one after the other (`ConcurrentWrites`, PostgreSQL)."""

import queue
import threading
from collections import deque
from concurrent.futures import Future
from typing import TYPE_CHECKING

from django.db import connection

if TYPE_CHECKING:  # the pipeline uses these writers
    from .pipeline import Batch, DeviceImport

WRITERS = 2  # database connections writing batches at once (PostgreSQL); each uses a core of the server


class SerialWrites:
    """Batches written one after the other, by this thread's connection."""

    def __init__(self, importer: "DeviceImport"):
        self.importer = importer

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def submit(self, batch: "Batch") -> None:
        self.importer.count_and_report(batch, self.importer.write_batch(batch))


class Stopped(Exception):
    """The import stops: a batch not yet committed is rolled back."""


class ConcurrentWrites(SerialWrites):
    """Batches written by WRITERS threads, each with its connection (PostgreSQL works for each on a core of its own),
    with the outcome of writing them one after the other: batch n commits once batch n - 1 has (an interrupted import
    has written a prefix of its input, `done_through_line` stays exact), and a batch that shares an id or adapter
    identifier with the one being written starts once that one is committed (the earlier row is the one that
    lands). The calling thread accounts (counts, reports) the batches in order."""

    def __init__(self, importer: "DeviceImport"):
        super().__init__(importer)
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.pending: deque[tuple[Batch, Future]] = deque()
        self.submitted = self.committed = 0
        self.stopping = False
        self.turn = threading.Condition()
        self.threads = [threading.Thread(target=self._writer, daemon=True) for _ in range(WRITERS)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def submit(self, batch: "Batch") -> None:
        if self.pending and not self.pending[-1][0].keys.isdisjoint(batch.keys):
            self._count_and_report(len(self.pending))
        elif len(self.pending) == WRITERS:
            self._count_and_report(1)
        future = Future()
        self.pending.append((batch, future))
        self.tasks.put((self.submitted, batch, future))
        self.submitted += 1

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                self._count_and_report(len(self.pending))
        finally:
            self._stop(exc_type is not None)
            for _ in self.threads:
                self.tasks.put(None)
            for thread in self.threads:
                thread.join()
            # Interrupted: the batches committed meanwhile are accounted too.
            while self.pending and self.pending[0][1].exception() is None:
                batch, future = self.pending.popleft()
                self.importer.count_and_report(batch, future.result())

    def _count_and_report(self, count: int) -> None:
        for _ in range(count):
            batch, future = self.pending[0]
            outcomes = future.result()  # raises what stopped the writer
            self.pending.popleft()
            self.importer.count_and_report(batch, outcomes)

    def _writer(self) -> None:
        try:
            while (task := self.tasks.get()) is not None:
                number, batch, future = task
                try:
                    outcomes = self.importer.write_batch(batch, lambda number=number: self._wait_turn(number))
                except BaseException as exc:
                    future.set_exception(exc)
                    self._stop(True)
                else:
                    with self.turn:
                        self.committed = number + 1
                        self.turn.notify_all()
                    future.set_result(outcomes)
        finally:
            connection.close()  # this thread's

    def _wait_turn(self, number: int) -> None:
        """Until batch `number - 1` is committed; raises Stopped if the import stops before (a later batch's
        failure does not undo an earlier one, as it would not have written one after the other)."""
        with self.turn:
            self.turn.wait_for(lambda: self.committed == number or self.stopping)
            if self.committed != number:
                raise Stopped

    def _stop(self, stopping: bool) -> None:
        with self.turn:
            self.stopping = self.stopping or stopping
            self.turn.notify_all()
