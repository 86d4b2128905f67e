"""The import's pipeline: forked processes read and validate the input (and encode the COPY lines of new devices)
a batch or two ahead of the writes, which `SerialWrites` or `ConcurrentWrites` (ordered_writes.py) commit in the
order of the input through a `BatchWriter` (batches.py)."""

import contextlib
import fcntl
import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from devices.changes import changes_held

from ..rowformats import InputRow, Record
from .batches import BatchWriter, PreparedRows
from .ordered_writes import ConcurrentWrites, SerialWrites
from .summary import Failure, ImportSummary, Mode
from .validation import DeviceRow, RowError, device_row

DEFAULT_BATCH_SIZE = 5000
END_OF_CHUNK = "end of chunk"
PIPE_BYTES = 1 << 20  # what a validating process's pipe holds (Linux's default: 64 KiB); a batch is about 13 MB


@dataclass
class Batch:
    """Consecutive input rows: the valid ones, written in one transaction, and those that failed validation."""

    rows: list[DeviceRow] | PreparedRows = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    last_line: int = 0
    keys: set = field(default_factory=set)  # the rows' ids and adapter identifiers

    def __len__(self) -> int:
        return len(self.rows) + len(self.failures)


class DeviceImport:
    """Validate rows and write them in batches of one transaction each; `report(failure)` hears of each failed row,
    in the order of the input, and `progress(n)` of rows done.

    Reading, validation and the encoding of COPY lines run in forked processes, a batch ahead of the writes, so that
    Python's share of an import spreads over the cores the database leaves (threads would share one, for the GIL).
    On PostgreSQL, outside a transaction and but for an upsert, two connections write consecutive batches at once
    (`_ConcurrentWrites`), with the outcome of writing them one after the other."""

    def __init__(
        self,
        *,
        mode: Mode,
        source: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        report: Callable[[Failure], None] = lambda failure: None,
        progress: Callable[[int], None] = lambda rows: None,
        batch_writer_class: type[BatchWriter] = BatchWriter,
    ):
        self.mode, self.source, self.batch_size = mode, source, batch_size
        self.report, self.progress = report, progress
        self.summary = ImportSummary()
        self.writer = batch_writer_class(mode=mode, source=source)
        # Rows that may be created are prepared as COPY lines (an upsert writes most rows through the ORM instead).
        self.prepare = connection.vendor == "postgresql" and mode != Mode.UPSERT

    def run(self, sources: list[Iterable[Record]], *, dry_run: bool = False) -> ImportSummary:
        """Import every row; a dry run writes inside one transaction that is rolled back.

        `sources` are as many readers of the same input as validating processes are wanted: they take turns by
        chunks of `batch_size` records (one reader, for standard input, which cannot be read twice)."""
        # Forked, each validating process starts with its reader as it is; none touches the database.
        context = multiprocessing.get_context("fork")
        stop, receivers, workers = context.Event(), [], []
        for worker, rows in enumerate(sources):
            receiver, sender = context.Pipe(duplex=False)
            widen_pipe(sender)
            receivers.append(receiver)
            process = context.Process(
                target=self._validate, args=(rows, sender, stop, worker, len(sources), receivers), daemon=True
            )
            process.start()
            sender.close()  # the child's end: reading fails once the child is gone
            workers.append(process)
        finished = False
        # Concurrent writes create devices only (an upsert locks existing ones, which other clients lock too: a wait
        # for the database, beside a wait for a batch's turn to commit, could be a deadlock the database cannot see).
        concurrent = self.prepare and not dry_run and not connection.in_atomic_block
        try:
            with (
                transaction.atomic() if dry_run else contextlib.nullcontext(),
                ConcurrentWrites(self) if concurrent else SerialWrites(self) as writes,
            ):
                chunk = 0
                while (batch := _next(receivers[chunk % len(workers)], workers[chunk % len(workers)])) is not None:
                    if batch == END_OF_CHUNK:
                        chunk += 1
                    else:
                        writes.submit(batch)
                if dry_run:
                    transaction.set_rollback(True)
            finished = True
        finally:
            stop.set()
            for receiver, process in zip(receivers, workers, strict=True):
                receiver.close()
                if not finished:  # it may be waiting for the writer to take a batch
                    process.terminate()
                process.join()
        return self.summary

    def _validate(self, rows: Iterable[Record], sender, stop, worker: int, workers: int, receivers: list) -> None:
        """A validating process: for each of its chunks of records, sends batches whose rows share no id or
        identifier, then END_OF_CHUNK; at the end None (or the error that stopped it). Each send waits until the
        writer takes it. Being forked, it ends through os._exit, which leaves the inherited database connection
        alone."""
        # Below the database's priority: PostgreSQL's share (the writes and their indexes) is the import's longest
        # path, and validation, a batch or two ahead, can wait for a core (a fifth less time on two cores).
        os.nice(10)
        for receiver in receivers:  # inherited: only the writer reads, so that a send fails once the writer is gone
            receiver.close()

        def hand_over(item) -> None:
            if stop.is_set():
                raise KeyboardInterrupt
            sender.send(item)

        try:
            self._validate_chunks(rows, worker, workers, hand_over)
            hand_over(None)
        except (BrokenPipeError, KeyboardInterrupt):
            return  # the writer stopped
        except BaseException as exc:  # raised again by the writer
            try:
                pickle.dumps(exc)
            except Exception:
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
                hand_over(exc)

    def _validate_chunks(self, rows: Iterable[Record], worker: int, workers: int, hand_over) -> None:
        """Validate this process's chunks of records, handing over batches whose rows share no id or identifier,
        then END_OF_CHUNK after each chunk."""
        batch, now, current = self._batch(), timezone.now(), None
        for index, record in enumerate(rows):
            chunk = index // self.batch_size
            if chunk % workers != worker:
                continue
            if chunk != current:
                if current is not None:
                    hand_over(batch)
                    hand_over(END_OF_CHUNK)
                batch, now, current = self._batch(), timezone.now(), chunk
            batch, now = self._add(batch, now, record.parse(), hand_over)
        if current is not None:
            hand_over(batch)
            hand_over(END_OF_CHUNK)

    def _add(self, batch: Batch, now: datetime, item: InputRow, hand_over) -> tuple[Batch, datetime]:
        """Validate one record into the batch (a new batch once the row shares an id or identifier with it)."""
        try:
            row = device_row(item)
        except RowError as exc:
            record_id = item.record.get("id") if item.record else None
            batch.failures.append(
                Failure(item.line, item.raw, exc.fields, record_id if type(record_id) is str else None)
            )
        else:
            if batch.keys.intersection(row.keys()):  # written first, so that the database judges this one
                hand_over(batch)
                batch, now = self._batch(), timezone.now()
            if self.prepare:
                batch.rows.add(row, now, self.source)
            else:
                batch.rows.append(row)
            batch.keys.update(row.keys())
        batch.last_line = item.line
        return batch, now

    def _batch(self) -> Batch:
        return Batch(PreparedRows()) if self.prepare else Batch()

    def write_batch(self, batch: Batch, before_commit: Callable[[], None] = lambda: None) -> list:
        """Write the batch in a transaction of its own; each valid row's outcome. `before_commit` is called before
        anything of the batch is committed (and may raise to roll it back)."""
        if not batch.rows:
            before_commit()
            return []
        try:
            # The batch's changes reach the feed once it is this batch's turn to commit: recording them takes the
            # feed's counter, which the batch writing beside it would otherwise wait for while waiting its turn.
            with transaction.atomic(), changes_held() as changes:
                outcomes = self.writer.write(batch.rows)
                before_commit()
                changes.release()
            return outcomes
        except (IntegrityError, DataError):
            # A row the database refuses (or a device written meanwhile by someone else): find it, row by row.
            before_commit()
            return [outcome for row in batch.rows for outcome in self._write_alone(row)]

    def count_and_report(self, batch: Batch, outcomes: list) -> None:
        """Count and report a written batch; batches are accounted in the order of the input."""
        failures = list(batch.failures)
        for row, outcome in outcomes:
            if isinstance(outcome, Failure):
                outcome.id = row.id
                failures.append(outcome)
            else:
                setattr(self.summary, outcome, getattr(self.summary, outcome) + 1)
        for failure in sorted(failures, key=lambda failure: failure.line):
            self.summary.failed += 1
            self.report(failure)
        self.summary.read += len(batch)
        self.summary.done_through_line = batch.last_line
        self.progress(len(batch))

    def _write_alone(self, row: DeviceRow) -> list:
        try:
            with transaction.atomic():
                return self.writer.write([row])
        except (IntegrityError, DataError) as exc:
            return [(row, Failure(row.line, row.raw, [{"name": "row", "message": str(exc).strip()}], row.id))]


def widen_pipe(end) -> None:
    """Let the pipe hold PIPE_BYTES (Linux), so that a batch crosses it in a dozen writes rather than two hundred,
    each a wake-up of the writing process's reading thread among its writing threads (a fifth less CPU in the
    writing process with the feed's events: docs/design.md#the-fleet-feed). Left as it is where the system refuses
    (above /proc/sys/fs/pipe-max-size) or has no such setting."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(end.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _next(receiver, validation) -> Batch | str | None:
    """The next batch from the validating process; what stopped it is raised here."""
    try:
        batch = receiver.recv()
    except EOFError:
        validation.join()
        raise RuntimeError(f"the validating process ended unexpectedly (exit code {validation.exitcode})") from None
    if isinstance(batch, BaseException):
        raise batch
    return batch
