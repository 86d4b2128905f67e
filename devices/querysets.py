from django.conf import settings
from django.db import models


class DeviceQuerySet(models.QuerySet):
    def matching(self, filters):
        """Devices satisfying every filter-language expression; raises FilterError naming each bad one."""
        from devmanager.api.filtering import compile_filters

        from .filters import DEVICE_FILTER_FIELDS

        return self.filter(compile_filters(filters, DEVICE_FILTER_FIELDS))

    def with_recent_events(self):
        """Prefetch each device's most recent events in one query for the whole page (a window function)."""
        from .models import DeviceEvent

        recent = DeviceEvent.objects.order_by("-timestamp")[: settings.DEVMANAGER_RECENT_EVENTS]
        return self.prefetch_related(models.Prefetch("events", queryset=recent, to_attr="recent_events"))

    def status_distribution(self) -> dict[str, int]:
        """The count of devices in every status, all seven present."""
        from .choices import DeviceStatus

        counts = dict(self.order_by().values_list("status").annotate(n=models.Count("*")).values_list("status", "n"))
        return {status: counts.get(status, 0) for status in DeviceStatus.values}


class DeviceEventQuerySet(models.QuerySet):
    pass
