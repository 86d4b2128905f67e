from django.conf import settings
from django.db import models
from django.db.models.query import ModelIterable


class DeviceQuerySet(models.QuerySet):
    _with_recent_events = False

    def _clone(self):
        clone = super()._clone()
        clone._with_recent_events = self._with_recent_events
        return clone

    def _fetch_all(self):
        fetching = self._result_cache is None
        super()._fetch_all()
        if fetching and self._with_recent_events and self._iterable_class is ModelIterable:
            attach_recent_events(self._result_cache)

    def with_recent_events(self):
        """Give each fetched device `recent_events` (newest first): one query for the whole page."""
        clone = self._chain()
        clone._with_recent_events = True
        return clone

    def matching(self, filters):
        """Devices satisfying every filter-language expression; raises FilterError naming each bad one."""
        from devmanager.api.filtering import compile_filters

        from .filters import DEVICE_FILTER_FIELDS

        return self.filter(compile_filters(filters, DEVICE_FILTER_FIELDS))

    def status_distribution(self) -> dict[str, int]:
        """The count of devices in every status, all seven present."""
        from .choices import DeviceStatus

        counts = dict(self.order_by().values_list("status").annotate(n=models.Count("*")).values_list("status", "n"))
        return {status: counts.get(status, 0) for status in DeviceStatus.values}


def attach_recent_events(devices) -> None:
    """The most recent events of each device, ranked per device by a window function served by the
    (device, timestamp) index. Written as SQL because the ORM's prefetch builds the same query at several times
    the cost, on every page."""
    from .models import DeviceEvent

    if not devices:
        return
    table = DeviceEvent._meta.db_table
    placeholders = ", ".join(["%s"] * len(devices))
    events = DeviceEvent.objects.raw(
        f"SELECT id, device_id, timestamp, type, description, source FROM ("
        f"  SELECT *, ROW_NUMBER() OVER (PARTITION BY device_id ORDER BY timestamp DESC) AS position"
        f"  FROM {table} WHERE device_id IN ({placeholders})"
        f") ranked WHERE position <= %s ORDER BY device_id, timestamp DESC",
        [*(device.pk for device in devices), settings.DEVMANAGER_RECENT_EVENTS],
    )
    by_device = {device.pk: [] for device in devices}
    for event in events:
        by_device[event.device_id].append(event)
    for device in devices:
        device.recent_events = by_device[device.pk]


class DeviceEventQuerySet(models.QuerySet):
    pass
