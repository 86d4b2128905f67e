"""The feed in the operators' console: a device's page lists its latest events in the feed, each linking into it."""

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django.contrib import admin
from django.db import connections, router
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from devices.admin import CappedCountPaginator, long_value, register_device_panel
from devmanager.timestamps import format_timestamp

from .envelope import API_PREFIX
from .models import Event

SHOWN = 20


@admin.display(description="In the fleet feed")
def feed_events(device) -> str:
    """The device's latest events in the feed (newest first), each a link to the feed from that event on."""
    if not device.pk:
        return "-"
    events = list(Event.objects.filter(subject=device.pk, type__startswith="device.").order_by("-position")[:SHOWN])
    if not events:
        return "(none)"
    feed = f"{API_PREFIX}/events"
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
        (
            (f"{feed}?{urlencode({'after': event.position - 1})}", event.position, event.type,
             format_timestamp(event.time), event.actor)
            for event in events
        ),
    )  # fmt: skip
    everything = f"{feed}?{urlencode({'filter': f'subject[eq]:{device.pk}'})}"
    return format_html(
        '<table><tr><th>id</th><th>type</th><th>time</th><th>actor</th></tr>{}</table><p><a href="{}">All of this '
        "device's events in the feed</a></p>",
        rows,
        everything,
    )


register_device_panel("feed_events", feed_events)


class EventTypeListFilter(admin.SimpleListFilter):
    """The feed's event types, read from the (type, position) index by a loose index scan: Django's own filter on
    the field runs a DISTINCT over every event."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        types = distinct_event_types()
        if self.value() is not None and self.value() not in types:
            types.append(self.value())
        return [(name, name) for name in types]

    def queryset(self, request, queryset):
        return queryset if self.value() is None else queryset.filter(type=self.value())


class EventDayListFilter(admin.SimpleListFilter):
    """The events of one day (UTC), `day=YYYY-MM-DD`: the dashboard's events per day link here."""

    title = "day (UTC)"
    parameter_name = "day"
    shown_days = 7

    def lookups(self, request, model_admin):
        today = timezone.now().date()
        days = [(today - timedelta(days=back)).isoformat() for back in range(self.shown_days)]
        if self.value() and self.value() not in days:
            days.append(self.value())
        return [(day, day) for day in days]

    def queryset(self, request, queryset):
        try:
            day = date.fromisoformat(self.value()) if self.value() else None
        except ValueError:
            return queryset.none()
        return queryset if day is None else queryset.filter(time__range=day_range(day))


def day_range(day: date) -> tuple[datetime, datetime]:
    """The first and last instant of a UTC day, as `time__range` takes them (microseconds are the finest)."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1, microseconds=-1)


def distinct_event_types(limit: int = 100) -> list[str]:
    """The event types in the feed, in order: each step asks the (type, position) index for the next one."""
    table = Event._meta.db_table
    with connections[router.db_for_read(Event)].cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE types(type, n) AS ("
            f"  SELECT MIN(type), 1 FROM {table}"
            f"  UNION ALL"
            f"  SELECT (SELECT MIN(type) FROM {table} WHERE type > types.type), n + 1"
            f"  FROM types WHERE types.type IS NOT NULL AND n < %s"
            f") SELECT type FROM types WHERE type IS NOT NULL",
            [limit],
        )
        return [name for (name,) in cursor.fetchall()]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The fleet feed, read-only, newest first: the dashboard's event counts link here, filtered by type and day."""

    list_display = ["position", "type", long_value("subject", "Subject"), "time", "actor"]  # a device id: long
    list_filter = [EventTypeListFilter, EventDayListFilter]
    search_fields = ["subject__exact"]
    search_help_text = "An exact subject: a device id or a group id."
    ordering = ["-position"]
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50

    class Media:
        css = {"all": ["devices/admin.css"]}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
