"""Writing import rows: in batches of one transaction each, through COPY on PostgreSQL (bulk_create elsewhere),
validated a batch or two ahead by forked processes."""

import contextlib
import multiprocessing
import os
import pickle
import queue
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.db import DataError, IntegrityError, connection, models, transaction
from django.utils import timezone

from adapters.models import MAX_ADAPTERS_PER_DEVICE, NetworkAdapter
from devices.batch import (
    DeviceUpdate,
    device_copy_lines,
    devices_bulk_insert,
    devices_bulk_update,
    devices_copy_encoded,
)
from devices.choices import DEFAULT_SLOT, DeviceStatus
from devices.domain import ONE_MICROSECOND, new_device_columns
from devices.models import Device
from devices.services import same_json
from devmanager.bulk import (
    copy_line,
    copy_lines,
    copy_rows,
    filter_in,
    may_skip_reference_checks,
    reference_checks_skipped,
)

from ..rowformats import Record
from .validation import Adapter, DeviceRow, RowError, device_row

ADAPTER_COLUMNS = [
    "id", "device_id", "type", "imei", "iccid", "imsi", "msisdn", "dev_eui", "join_eui", "activation", "dvn_uuid",
    "description", "created_at", "updated_at",
]  # fmt: skip
DEFAULT_BATCH_SIZE = 5000
END_OF_CHUNK = "end of chunk"
EXISTS = "a device with this id already exists"


class Mode(StrEnum):
    """What an import does with a row whose device exists."""

    CREATE = "create"  # an existing id is a failed row
    SKIP = "skip"  # an existing device is left alone
    UPSERT = "upsert"  # an existing device gets the row's fields


@dataclass
class Failure:
    """A row that was not imported: its line, its text, and why (the API's error fields)."""

    line: int
    raw: str
    fields: list[dict]
    id: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(f"{item['name']}: {item['message']}" for item in self.fields)


@dataclass
class ImportSummary:
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    done_through_line: int = 0  # every row up to this line is written or reported; none after it is

    def __str__(self) -> str:
        return (
            f"read {self.read}, created {self.created}, updated {self.updated}, skipped {self.skipped}, "
            f"failed {self.failed}"
        )


WRITERS = 2  # database connections writing batches at once (PostgreSQL); each uses a core of the server


@dataclass
class PreparedRows(Sequence):
    """Valid rows to create, as their COPY lines, column by column: encoded by a validating process, they cross to
    the writing one as a few lists of strings, which pickle many times faster than rows. Indexed, they are rows."""

    lines: list[int] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    adapters: list[tuple] = field(default_factory=list)  # each row's: ((name, type, column, identifier), ...)
    devices: list[str] = field(default_factory=list)  # COPY lines of the devices table
    events: list[str] = field(default_factory=list)  # of the CREATED events
    adapter_lines: list[tuple[str, ...]] = field(default_factory=list)  # each row's adapters'

    def add(self, row: DeviceRow, now: datetime, source: str) -> None:
        device_line, event_line = device_copy_lines(_device_values(row, now), source)
        self.lines.append(row.line)
        self.raws.append(row.raw)
        self.ids.append(row.id)
        self.adapters.append(tuple((a.name, a.fields["type"], *a.identifier) for a in row.adapters))
        self.devices.append(device_line)
        self.events.append(event_line)
        self.adapter_lines.append(tuple(copy_line(values) for values in _adapter_values(row, now)))

    def identifiers(self) -> list[tuple[str, str]]:
        return [(column, value) for adapters in self.adapters for _, _, column, value in adapters]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return PreparedRows(*(getattr(self, name)[index] for name in self.__dataclass_fields__))
        adapters = [Adapter(name, {"type": kind, column: value}) for name, kind, column, value in self.adapters[index]]
        copy = (self.devices[index], self.events[index], list(self.adapter_lines[index]))
        return DeviceRow(self.lines[index], self.raws[index], {"id": self.ids[index]}, adapters=adapters, copy=copy)


@dataclass
class BulkCreate:
    """How a batch of new devices is COPYed (PostgreSQL). At once, the database's unique constraints judge it, and a
    conflict (a device or adapter identifier that exists) rolls it back to be judged row by row; after one, later
    batches are looked up first, for a conflict late in a batch costs a wasted COPY. The events and adapters of the
    devices just COPYed skip their foreign-key checks when the database role may (`reference_checks_skipped`)."""

    check_first: bool = False
    check_references: bool = True


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
    ):
        self.mode, self.source, self.batch_size = mode, source, batch_size
        self.report, self.progress = report, progress
        self.summary = ImportSummary()
        self.bulk_create = BulkCreate()
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
        self.bulk_create.check_references = not (self.prepare and may_skip_reference_checks())
        try:
            with (
                transaction.atomic() if dry_run else contextlib.nullcontext(),
                _ConcurrentWrites(self) if concurrent else _Writes(self) as writes,
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
                item = record.parse()
                try:
                    row = device_row(item)
                except RowError as exc:
                    record_id = item.record.get("id") if item.record else None
                    record_id = record_id if type(record_id) is str else None
                    batch.failures.append(Failure(item.line, item.raw, exc.fields, record_id))
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
            if current is not None:
                hand_over(batch)
                hand_over(END_OF_CHUNK)
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

    def _batch(self) -> Batch:
        return Batch(PreparedRows()) if self.prepare else Batch()

    def outcomes(self, batch: Batch, before_commit: Callable[[], None] = lambda: None) -> list:
        """Write the batch in a transaction of its own; each valid row's outcome. `before_commit` is called before
        anything of the batch is committed (and may raise to roll it back)."""
        if not batch.rows:
            before_commit()
            return []
        try:
            with transaction.atomic():
                outcomes = _write_batch(batch.rows, self.mode, self.source, self.bulk_create)
                before_commit()
            return outcomes
        except (IntegrityError, DataError):
            # A row the database refuses (or a device written meanwhile by someone else): find it, row by row.
            before_commit()
            return [outcome for row in batch.rows for outcome in self._write_alone(row)]

    def account(self, batch: Batch, outcomes: list) -> None:
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
                return _write_batch([row], self.mode, self.source, self.bulk_create)
        except (IntegrityError, DataError) as exc:
            return [(row, Failure(row.line, row.raw, [{"name": "row", "message": str(exc).strip()}], row.id))]


class _Writes:
    """Batches written one after the other, by this thread's connection."""

    def __init__(self, importer: DeviceImport):
        self.importer = importer

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def submit(self, batch: Batch) -> None:
        self.importer.account(batch, self.importer.outcomes(batch))


class _Stopped(Exception):
    """The import stops: a batch not yet committed is rolled back."""


class _ConcurrentWrites(_Writes):
    """Batches written by WRITERS threads, each with its connection (PostgreSQL works for each on a core of its own),
    with the outcome of writing them one after the other: batch n commits once batch n - 1 has (an interrupted import
    has written a prefix of its input, `done_through_line` stays exact), and a batch that shares an id or adapter
    identifier with the one being written starts once that one is committed (the earlier row is the one that
    lands). The calling thread accounts (counts, reports) the batches in order."""

    def __init__(self, importer: DeviceImport):
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

    def submit(self, batch: Batch) -> None:
        if self.pending and not self.pending[-1][0].keys.isdisjoint(batch.keys):
            self._account(len(self.pending))
        elif len(self.pending) == WRITERS:
            self._account(1)
        future = Future()
        self.pending.append((batch, future))
        self.tasks.put((self.submitted, batch, future))
        self.submitted += 1

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                self._account(len(self.pending))
        finally:
            self._stop(exc_type is not None)
            for _ in self.threads:
                self.tasks.put(None)
            for thread in self.threads:
                thread.join()
            # Interrupted: the batches committed meanwhile are accounted too.
            while self.pending and self.pending[0][1].exception() is None:
                batch, future = self.pending.popleft()
                self.importer.account(batch, future.result())

    def _account(self, count: int) -> None:
        for _ in range(count):
            batch, future = self.pending[0]
            outcomes = future.result()  # raises what stopped the writer
            self.pending.popleft()
            self.importer.account(batch, outcomes)

    def _writer(self) -> None:
        try:
            while (task := self.tasks.get()) is not None:
                number, batch, future = task
                try:
                    outcomes = self.importer.outcomes(batch, lambda number=number: self._wait_turn(number))
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
        """Until batch `number - 1` is committed; raises _Stopped if the import stops before (a later batch's
        failure does not undo an earlier one, as it would not have written one after the other)."""
        with self.turn:
            self.turn.wait_for(lambda: self.committed == number or self.stopping)
            if self.committed != number:
                raise _Stopped

    def _stop(self, stopping: bool) -> None:
        with self.turn:
            self.stopping = self.stopping or stopping
            self.turn.notify_all()


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


def _write_batch(
    rows: Sequence[DeviceRow], mode: Mode, source: str, bulk_create: BulkCreate
) -> list[tuple[DeviceRow | None, str | Failure]]:
    """Write one batch (distinct ids and identifiers); each row's outcome: created, updated, skipped or a Failure."""
    if isinstance(rows, PreparedRows) and (created := _create_prepared(rows, bulk_create)) is not None:
        return created
    now = timezone.now()
    ids = [row.id for row in rows]
    if mode == Mode.UPSERT:
        existing = {device.pk: device for device in Device.objects.select_for_update().filter(pk__in=ids)}
    else:
        existing = _existing_ids(ids)
    owners = _identifier_owners([adapter.identifier for row in rows for adapter in row.adapters])
    outcomes, creates, updates = [], [], []
    for row in rows:
        taken = [
            {"name": adapter.name, "message": f"another device's adapter has {column} {value}"}
            for adapter in row.adapters
            for column, value in [adapter.identifier]
            if owners.get((column, value), row.id) != row.id
        ]
        if row.id in existing and mode == Mode.CREATE:
            outcomes.append((row, Failure(row.line, row.raw, [{"name": "id", "message": EXISTS}])))
        elif row.id in existing and mode == Mode.SKIP:
            outcomes.append((row, "skipped"))
        elif taken:
            outcomes.append((row, Failure(row.line, row.raw, taken)))
        elif row.id in existing:
            updates.append(row)
        else:
            creates.append(row)
            outcomes.append((row, "created"))
    _create(creates, now, source)
    outcomes += _update(updates, existing, owners, now, source)
    return outcomes


def _existing_ids(ids: list[str]) -> set[str]:
    found = set()
    for start in range(0, len(ids), 10_000):  # SQLite bounds the parameters of one query
        found.update(filter_in(Device.objects, "id", ids[start : start + 10_000]).values_list("pk", flat=True))
    return found


def _create_prepared(rows: PreparedRows, bulk_create: BulkCreate) -> list[tuple[None, str]] | None:
    """Create the rows in one go (the usual case of a large import); None when one of them exists already or has an
    adapter identifier another device has, nothing of the batch written, to be judged row by row (see BulkCreate)."""
    if bulk_create.check_first and (_existing_ids(rows.ids) or _identifier_owners(rows.identifiers())):
        return None
    adapter_lines = [line for lines in rows.adapter_lines for line in lines]
    try:
        with (
            transaction.atomic(),
            contextlib.nullcontext() if bulk_create.check_references else reference_checks_skipped(),
        ):
            devices_copy_encoded(device_lines=rows.devices, event_lines=rows.events)
            if adapter_lines:
                copy_lines(NetworkAdapter, ADAPTER_COLUMNS, adapter_lines)
    except IntegrityError:
        bulk_create.check_first = True
        return None
    return [(None, "created")] * len(rows)


def _identifier_owners(identifiers: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(column, identifier) -> the id of the device whose adapter has it, for these identifiers."""
    wanted: dict[str, set] = {}
    for column, value in identifiers:
        wanted.setdefault(column, set()).add(value)
    owners = {}
    for column, values in wanted.items():
        values = sorted(values)
        for start in range(0, len(values), 1000):  # SQLite bounds the parameters of one query
            chunk = values[start : start + 1000]
            for value, device_id in NetworkAdapter.objects.filter(**{f"{column}__in": chunk}).values_list(
                column, "device_id"
            ):
                owners[(column, str(value))] = device_id
    return owners


def _create(rows: list[DeviceRow], now: datetime, source: str) -> None:
    if not rows:
        return
    if all(row.copy for row in rows):  # prepared by the validating process
        devices_copy_encoded(device_lines=[row.copy[0] for row in rows], event_lines=[row.copy[1] for row in rows])
        adapter_lines = [line for row in rows for line in row.copy[2]]
        if adapter_lines:
            copy_lines(NetworkAdapter, ADAPTER_COLUMNS, adapter_lines)
        return
    devices_bulk_insert(devices=[_device_values(row, now) for row in rows], source=source)
    adapters = [values for row in rows for values in _adapter_values(row, now)]
    if adapters:
        copy_rows(NetworkAdapter, ADAPTER_COLUMNS, adapters)


def _device_values(row: DeviceRow, now: datetime) -> dict:
    """The row as a new device: the values of all its columns, with the state an export carries, if any."""
    state, slots = row.state, row.state.get("slots", {})
    identity = slots.get(DEFAULT_SLOT)
    return new_device_columns(
        id=row.id,
        created=state.get("creation_timestamp", state.get("updated_timestamp", now)),
        updated=state.get("updated_timestamp"),
        status=state.get("status", identity["status"] if identity else DeviceStatus.NO_IDENTITY),
        slots=slots,
        identity_expires_at=state.get("identity_expires_at"),
        metadata=row.metadata_json or {},
        **{
            name: row.device[name]
            for name in ("alias", "tags", "icon", "icon_color", "dms_owner")
            if name in row.device
        },
    )


def _adapter_values(row: DeviceRow, now: datetime, adapters: list[Adapter] | None = None) -> list[list]:
    """The values of `ADAPTER_COLUMNS` for the row's adapters (or these of them), a microsecond apart so that they
    are listed, and exported, in the row's order."""
    values = []
    for index, adapter in enumerate(row.adapters if adapters is None else adapters):
        at = now + ONE_MICROSECOND * index
        fields = {"id": uuid.uuid4(), "device_id": row.id, "description": "", "created_at": at, "updated_at": at}
        fields.update(adapter.fields)
        values.append([fields.get(column) for column in ADAPTER_COLUMNS])
    return values


def _update(rows: list[DeviceRow], existing: dict, owners: dict, now: datetime, source: str) -> list:
    """Upsert: the row's fields onto the stored device, and its adapters not there yet; unchanged rows are skipped."""
    if not rows:
        return []
    counts = dict(
        NetworkAdapter.objects.filter(device_id__in=[row.id for row in rows])
        .values("device_id")
        .annotate(n=models.Count("*"))
        .values_list("device_id", "n")
    )
    outcomes, updates, new_adapters = [], [], []
    for row in rows:
        device = existing[row.id]
        # A generic adapter given no dvn_uuid cannot be told from the device's own: it is added on creation only.
        adding = [a for a in row.adapters if not a.generated and a.identifier not in owners]
        if counts.get(row.id, 0) + len(adding) > MAX_ADAPTERS_PER_DEVICE:
            message = f"the device would have more than {MAX_ADAPTERS_PER_DEVICE} network adapters"
            outcomes.append((row, Failure(row.line, row.raw, [{"name": "network_adapters", "message": message}])))
            continue
        changed = {name: value for name, value in row.device.items() if not same_json(getattr(device, name), value)}
        if changed or adding:  # new adapters change the device's representation too: a new ETag
            updates.append(DeviceUpdate(device, changed))
        new_adapters += _adapter_values(row, now, adding)
        outcomes.append((row, "updated" if changed or adding else "skipped"))
    devices_bulk_update(updates=updates, at=now, source=source)
    if new_adapters:
        copy_rows(NetworkAdapter, ADAPTER_COLUMNS, new_adapters)
    return outcomes
