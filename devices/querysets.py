from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import NamedTuple

from django.conf import settings
from django.db import connections, models, router
from django.db.models import ExpressionWrapper, F, TextField
from django.db.models.fields.json import KeyTransform
from django.utils.dateparse import parse_datetime

from devmanager.access import RestrictedManager, RestrictedQuerySet
from devmanager.api.filtering import compile_filters

from .filters import DEVICE_FILTER_FIELDS, identity_expiring_filters

# The JSON columns a device's representation shows.
DOCUMENT_FIELDS = ("tags", "metadata", "slots")

# Other ways than its id to name a device in a path, registered by higher apps (`register_device_reference`).
DEVICE_REFERENCES: list[Callable[[str], models.QuerySet | None]] = []


def register_device_reference(lookup: Callable[[str], models.QuerySet | None]) -> None:
    """From an app's `AppConfig.ready()`: `lookup(text)` gives a queryset of the id (`values("device_id")`) of the
    device the text names (one at most: a unique identifier), or None when the text is not of its form."""
    DEVICE_REFERENCES.append(lookup)


class DeviceQuerySet(RestrictedQuerySet):
    def restriction(self, dms: list[str]) -> models.Q:
        return models.Q(dms_owner__in=dms)

    def for_representation(self):
        """What `device_representation` reads, fetched for it: the JSON columns (and the identity slot within `slots`)
        as their stored text, in `<name>_json`, which the response passes through without decoding and encoding it
        again. The decoded fields are deferred: read them through another query. The recent events come from
        `attach_recent_events`, which the device serializer calls once for a whole page."""
        return self.documents_as_text()

    def documents_as_text(self, *, decoded: Collection[str] = ()):
        """The JSON columns but those `decoded` (and the identity slot, unless `slots` is decoded) fetched as their
        stored text, in `<name>_json`, which a device's representation and its events' data pass through as they are;
        the fields fetched as text, and the tag terms, are deferred: reading one takes a query of its own."""
        from .choices import DEFAULT_SLOT

        as_text = [name for name in DOCUMENT_FIELDS if name not in decoded]
        # The columns themselves, typed as text: Django reads jsonb as text, then decodes it in the field (skipped).
        raw = {f"{name}_json": ExpressionWrapper(F(name), output_field=TextField()) for name in as_text}
        if "slots" in as_text:
            raw["identity_json"] = ExpressionWrapper(KeyTransform(DEFAULT_SLOT, "slots"), output_field=TextField())
        return self.defer("tag_terms", *as_text).annotate(**raw)

    def resolve(self, reference: str):
        """The device a path names: the one with that id or, for another form a higher app registered (adapters:
        `imei:…`, `deveui:…`, `dvnuuid:…` and their `urn:dev:` forms), the device it names. One indexed query; a
        device whose own id is the string wins."""
        if "\x00" in reference:  # PostgreSQL text cannot hold NUL: no device has such an id
            return self.none()
        owners = next((ids for lookup in DEVICE_REFERENCES if (ids := lookup(reference)) is not None), None)
        if owners is None:
            return self.filter(pk=reference)
        # An identifier names one device at most (unique per adapter column): compared as one value, both sides of
        # the OR are lookups of the primary key (`pk IN (subquery)` would be planned as a scan of every device).
        own_id_first = models.Case(models.When(pk=reference, then=0), default=1)
        named = models.Q(pk=reference) | models.Q(pk=models.Subquery(owners[:1]))
        return self.filter(named).order_by(own_id_first)[:1]

    def matching(self, filters):
        """Devices satisfying every filter-language expression; raises FilterError naming each bad one."""
        from devmanager.api.filtering import compile_filters

        from .filters import DEVICE_FILTER_FIELDS

        return self.filter(compile_filters(filters, DEVICE_FILTER_FIELDS))

    def identity_expiring(self, since: datetime, days: int):
        """Devices whose identity expires within `days` days from `since` (neither revoked nor decommissioned, whose
        identity no longer matters): a range of the expiry index. The dashboard counts them, the admin lists them,
        and a fleet action over that list selects them by the same filters (`identity_expiring_filters`)."""
        return self.filter(compile_filters(identity_expiring_filters(since, days), DEVICE_FILTER_FIELDS))

    def stats(self) -> dict:
        """`{"total", "status_distribution"}` as /stats and the group stats answer it."""
        distribution = self.status_distribution()
        return {"total": sum(distribution.values()), "status_distribution": distribution}

    def status_distribution(self) -> dict[str, int]:
        """The count of devices in every status, all seven present: the `status` buckets of `count_by`."""
        from .aggregation import MAX_LIMIT, count_by
        from .choices import DeviceStatus

        counts = {bucket["key"]: bucket["count"] for bucket in count_by(self, "status", MAX_LIMIT)["buckets"]}
        return {status: counts.get(status, 0) for status in DeviceStatus.values}


class DeviceManager(RestrictedManager.from_queryset(DeviceQuerySet)):
    """Every query of devices starts here, and sees only the devices the running code may see
    (`devmanager.access`: a restricted API key's DMSs). Django's own internals (cascades, a relation's object) go
    through the plain base manager, which is never restricted."""


class RecentEvent(NamedTuple):
    timestamp: datetime
    type: str
    description: str


def attach_recent_events(devices) -> None:
    """Give each device `recent_events`, its most recent events (newest first), ranked per device by a window function
    served by the (device, timestamp) index: one query for a page. Plain rows, not the ORM's public way to the same
    (`Prefetch("events", queryset=...[:20])`), which took 2.1x the time for a page of 25 devices of 30 events and of
    1,000 (5.0 vs 2.4 ms, 264 vs 128 ms: tests/bench/bench_recent_events.py, see docs/benchmarks.md)."""

    from .models import DeviceEvent

    if not devices:
        return
    placeholders = ", ".join(["%s"] * len(devices))
    with connections[router.db_for_read(DeviceEvent)].cursor() as cursor:  # where the page's devices were read
        cursor.execute(
            f"SELECT device_id, timestamp, type, description FROM ("
            f"  SELECT device_id, timestamp, type, description,"
            f"    ROW_NUMBER() OVER (PARTITION BY device_id ORDER BY timestamp DESC) AS position"
            f"  FROM {DeviceEvent._meta.db_table} WHERE device_id IN ({placeholders})"
            f") ranked WHERE position <= %s ORDER BY device_id, timestamp DESC",
            [*(device.pk for device in devices), settings.DEVMANAGER_RECENT_EVENTS],
        )
        rows = cursor.fetchall()
    by_device = {device.pk: [] for device in devices}
    for device_id, timestamp, type_, description in rows:
        by_device[device_id].append(RecentEvent(_aware(timestamp), type_, description))
    for device in devices:
        device.recent_events = by_device[device.pk]


def _aware(value) -> datetime:
    # PostgreSQL hands back aware datetimes; SQLite hands back text in UTC.
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
