"""The SQL of an import: one batch of valid rows written in the caller's transaction, by COPY on PostgreSQL
(`PreparedRows`, encoded by a validating process) or through the devices' batch writes (devices.batch).

`DeviceImport` takes the class of its batch writer as a parameter; a test passes a subclass of `BatchWriter` to
watch, slow down or fail its writes."""

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from adapters.api.serializers import encode_added
from adapters.models import MAX_ADAPTERS_PER_DEVICE, NetworkAdapter
from devices.batch import (
    DeviceUpdate,
    device_copy_lines,
    devices_bulk_insert,
    devices_bulk_update,
    devices_copy_encoded,
)
from devices.changes import Change, EncodedChanges, publish, publish_encoded
from devices.choices import DEFAULT_SLOT, DeviceStatus
from devices.domain import ONE_MICROSECOND, field_changes, new_device_columns
from devices.models import Device
from devmanager.bulk import (
    copy_line,
    copy_lines,
    copy_rows,
    filter_in,
    may_skip_reference_checks,
    reference_checks_skipped,
)

from .summary import EXISTS, Failure, Mode
from .validation import Adapter, DeviceRow

ADAPTER_COLUMNS = [
    "id", "device_id", "type", "imei", "iccid", "imsi", "msisdn", "dev_eui", "join_eui", "activation", "dvn_uuid",
    "description", "created_at", "updated_at",
]  # fmt: skip
NEW_DEVICE_FIELDS = ("alias", "tags", "icon", "icon_color", "dms_owner")  # a row's fields but metadata, given as JSON


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
    feed: list[bytes] = field(default_factory=list)  # of their `device.created` changes, encoded
    adapter_lines: list[tuple[str, ...]] = field(default_factory=list)  # each row's adapters'
    adapter_feed: list[tuple[bytes, ...]] = field(default_factory=list)  # their `device.adapter.added`, encoded

    def add(self, row: DeviceRow, now: datetime, source: str) -> None:
        device = device_values(row, now)
        device_line, event_line, feed_line = device_copy_lines(device, source)
        self.lines.append(row.line)
        self.raws.append(row.raw)
        self.ids.append(row.id)
        self.adapters.append(tuple((a.name, a.fields["type"], *a.identifier) for a in row.adapters))
        self.devices.append(device_line)
        self.events.append(event_line)
        self.feed.append(feed_line)
        adapters = adapter_values(row, now)
        if adapters:
            self.adapter_lines.append(tuple(copy_line(values) for values in adapters))
            dms = device["dms_owner"]
            feed = (encode_added(adapter_fields(values), dms) for values in adapters)
            self.adapter_feed.append(tuple(feed))
        else:  # most rows
            self.adapter_lines.append(())
            self.adapter_feed.append(())

    def identifiers(self) -> list[tuple[str, str]]:
        return [(column, value) for adapters in self.adapters for _, _, column, value in adapters]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return PreparedRows(*(getattr(self, name)[index] for name in self.__dataclass_fields__))
        adapters = [Adapter(name, {"type": kind, column: value}) for name, kind, column, value in self.adapters[index]]
        copy = (self.devices[index], self.events[index], self.feed[index], list(self.adapter_lines[index]),
                list(self.adapter_feed[index]))  # fmt: skip
        return DeviceRow(self.lines[index], self.raws[index], {"id": self.ids[index]}, adapters=adapters, copy=copy)


class BatchWriter:
    """Writes one batch of rows in the caller's transaction, as `mode` says, recording `source` in the events.

    A batch of new devices is COPYed at once (PostgreSQL): the database's unique constraints judge it, and a conflict
    (a device or adapter identifier that exists) rolls it back to be judged row by row; after one, later batches are
    looked up first (`check_first`), for a conflict late in a batch costs a wasted COPY. The events and adapters of
    the devices just COPYed skip their foreign-key checks when the database role may (`check_references` False;
    by default, when `may_skip_reference_checks()`)."""

    def __init__(self, *, mode: Mode, source: str, check_references: bool | None = None):
        self.mode, self.source = mode, source
        self.check_first = False
        self.check_references = not may_skip_reference_checks() if check_references is None else check_references

    def write(self, rows: Sequence[DeviceRow]) -> list[tuple[DeviceRow | None, str | Failure]]:
        """Write one batch (distinct ids and identifiers); each row's outcome: created, updated, skipped or a
        Failure."""
        if isinstance(rows, PreparedRows) and (created := self.create_prepared(rows)) is not None:
            return created
        now = timezone.now()
        ids = [row.id for row in rows]
        if self.mode == Mode.UPSERT:
            # Locked in id order, as every batch of devices locks them (devices.services.devices_lock): no deadlock.
            locked = Device.objects.select_for_update().filter(pk__in=ids).order_by("pk")
            existing = {device.pk: device for device in locked}
        else:
            existing = self.existing_ids(ids)
        owners = self.identifier_owners([adapter.identifier for row in rows for adapter in row.adapters])
        outcomes, creates, updates = [], [], []
        for row in rows:
            taken = [
                {"name": adapter.name, "message": f"another device's adapter has {column} {value}"}
                for adapter in row.adapters
                for column, value in [adapter.identifier]
                if owners.get((column, value), row.id) != row.id
            ]
            if row.id in existing and self.mode == Mode.CREATE:
                outcomes.append((row, Failure(row.line, row.raw, [{"name": "id", "message": EXISTS}])))
            elif row.id in existing and self.mode == Mode.SKIP:
                outcomes.append((row, "skipped"))
            elif taken:
                outcomes.append((row, Failure(row.line, row.raw, taken)))
            elif row.id in existing:
                updates.append(row)
            else:
                creates.append(row)
                outcomes.append((row, "created"))
        self.create(creates, now)
        outcomes += self.update(updates, existing, owners, now)
        return outcomes

    def existing_ids(self, ids: list[str]) -> set[str]:
        """The ids of these that a device has."""
        found = set()
        for start in range(0, len(ids), 10_000):  # SQLite bounds the parameters of one query
            found.update(filter_in(Device.objects, "id", ids[start : start + 10_000]).values_list("pk", flat=True))
        return found

    def create_prepared(self, rows: PreparedRows) -> list[tuple[None, str]] | None:
        """Create the rows in one go (the usual case of a large import); None when one of them exists already or has
        an adapter identifier another device has, nothing of the batch written, to be judged row by row."""
        if self.check_first and (self.existing_ids(rows.ids) or self.identifier_owners(rows.identifiers())):
            return None
        adapter_lines = [line for lines in rows.adapter_lines for line in lines]
        try:
            with (
                transaction.atomic(),
                contextlib.nullcontext() if self.check_references else reference_checks_skipped(),
            ):
                devices_copy_encoded(rows.devices, rows.events, rows.feed, source=self.source)
                if adapter_lines:
                    copy_lines(NetworkAdapter, ADAPTER_COLUMNS, adapter_lines)
                    feed = [line for lines in rows.adapter_feed for line in lines]
                    publish_encoded(EncodedChanges("device.adapter.added", self.source, feed))
        except IntegrityError:
            self.check_first = True
            return None
        return [(None, "created")] * len(rows)

    def identifier_owners(self, identifiers: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
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

    def create(self, rows: list[DeviceRow], now: datetime) -> None:
        """Create the rows' devices, events and adapters."""
        if not rows:
            return
        if all(row.copy for row in rows):  # prepared by the validating process
            devices, events, feed, _, _ = zip(*(row.copy for row in rows), strict=True)
            devices_copy_encoded(devices, events, feed, source=self.source)
            adapter_lines = [line for row in rows for line in row.copy[3]]
            if adapter_lines:
                copy_lines(NetworkAdapter, ADAPTER_COLUMNS, adapter_lines)
                adapter_feed = [line for row in rows for line in row.copy[4]]
                publish_encoded(EncodedChanges("device.adapter.added", self.source, adapter_feed))
            return
        devices = [device_values(row, now) for row in rows]
        devices_bulk_insert(devices=devices, source=self.source)
        dms_of = {device["id"]: device["dms_owner"] for device in devices}
        self.add_adapters([values for row in rows for values in adapter_values(row, now)], dms_of)

    def update(self, rows: list[DeviceRow], existing: dict, owners: dict, now: datetime) -> list:
        """Upsert: the row's fields onto the stored device, and its adapters not there yet; unchanged rows are
        skipped."""
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
            changed = field_changes(device, row.device)
            if changed or adding:  # new adapters change the device's representation too: a new ETag
                updates.append(DeviceUpdate(device, changed))
            new_adapters += adapter_values(row, now, adding)
            outcomes.append((row, "updated" if changed or adding else "skipped"))
        devices_bulk_update(updates=updates, at=now, source=self.source)
        self.add_adapters(new_adapters, {row.id: existing[row.id].dms_owner for row in rows})
        return outcomes

    def add_adapters(self, adapters: list[list], dms_of: dict[str, str]) -> None:
        """Insert adapters (rows of `adapter_values`), each a `device.adapter.added` change; `dms_of` maps each
        device's id to its DMS."""
        if adapters:
            copy_rows(NetworkAdapter, ADAPTER_COLUMNS, adapters)
            publish([Change("device.adapter.added", values[1], self.source, adapter=adapter_of(values),
                            dms=dms_of[values[1]]) for values in adapters])  # fmt: skip


def device_values(row: DeviceRow, now: datetime) -> dict:
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


def adapter_of(values: list) -> NetworkAdapter:
    """An adapter of `adapter_values`, unsaved: what its change shows."""
    return NetworkAdapter(**adapter_fields(values))


def adapter_fields(values: list) -> dict:
    """An adapter of `adapter_values` as its columns' values by name."""
    return dict(zip(ADAPTER_COLUMNS, values, strict=True))


def adapter_values(row: DeviceRow, now: datetime, adapters: list[Adapter] | None = None) -> list[list]:
    """The values of `ADAPTER_COLUMNS` for the row's adapters (or these of them), a microsecond apart so that they
    are listed, and exported, in the row's order."""
    values = []
    for index, adapter in enumerate(row.adapters if adapters is None else adapters):
        at = now + ONE_MICROSECOND * index
        fields = {"id": uuid.uuid4(), "device_id": row.id, "description": "", "created_at": at, "updated_at": at}
        fields.update(adapter.fields)
        values.append([fields.get(column) for column in ADAPTER_COLUMNS])
    return values
