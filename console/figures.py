"""The fleet dashboard's figures: each one aggregation, through the code that answers `/stats` and `group_by`
(devices/aggregation.py), the group counts of the group tree (groups/counting.py) and the feed's daily counts
(console/eventcounts.py). Each number comes with the admin list that shows exactly those devices or events."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.urls import reverse

from devices.aggregation import MAX_LIMIT, count_by
from devices.models import Device
from groups.counting import largest_groups

from .admin import EXPIRY_WINDOWS
from .charts import PALETTE, STATUS_COLOURS, Chart, horizontal_bars, stacked_columns
from .eventcounts import events_per_day

EVENT_DAYS = 30
LARGEST_GROUPS = 10
EXPIRY_DMS_ROWS = 20


def devices_url(**params) -> str:
    return f"{reverse('admin:devices_device_changelist')}?{urlencode(params)}"


def events_url(**params) -> str:
    return f"{reverse('admin:events_event_changelist')}?{urlencode(params)}"


@dataclass(frozen=True)
class Count:
    """A number of the dashboard and the list of what it counts."""

    count: int
    url: str
    figure: str  # names the number for tests and tools: "expiry:dms-a:7"

    @property
    def text(self) -> str:
        return f"{self.count:,}"


@dataclass
class ExpiryRow:
    dms: str  # "" for devices of no DMS
    counts: list[Count]  # one per window


@dataclass
class Dashboard:
    now: datetime
    total: int
    status_chart: Chart
    expiry_windows: tuple
    expiry_rows: list[ExpiryRow]
    expiry_totals: list[Count]
    event_chart: Chart
    event_types: list[tuple[str, str]]  # (type, colour)
    event_rows: list[tuple[str, list[Count]]]  # (day, a count per type), newest first
    groups_chart: Chart
    groups_stale: bool

    @property
    def total_text(self) -> str:
        return f"{self.total:,}"


def fleet_dashboard(now: datetime) -> Dashboard:
    total, status_chart = status_figure()
    expiry_rows, expiry_totals = expiry_figure(now)
    event_chart, event_types, event_rows = events_figure(now)
    groups_chart, groups_stale = groups_figure()
    return Dashboard(now, total, status_chart, EXPIRY_WINDOWS, expiry_rows, expiry_totals, event_chart, event_types,
                     event_rows, groups_chart, groups_stale)  # fmt: skip


def status_figure() -> tuple[int, Chart]:
    """Devices per status: `/stats`'s answer, one aggregation over every device."""
    stats = Device.objects.all().stats()
    items = [
        (status, count, devices_url(status__exact=status), STATUS_COLOURS[status], f"status:{status}")
        for status, count in stats["status_distribution"].items()
    ]
    return stats["total"], horizontal_bars(items)


def expiry_figure(now: datetime) -> tuple[list[ExpiryRow], list[Count]]:
    """Devices whose identity expires within each window, per DMS: one `group_by=dms_owner` aggregation per window
    over a range of the expiry index. The DMSs with the most devices in the longest window come first."""
    since = now.isoformat()
    by_window, totals = {}, {}
    for days in EXPIRY_WINDOWS:
        counted = count_by(Device.objects.identity_expiring(now, days), "dms_owner", MAX_LIMIT)
        by_window[days] = {bucket["key"] or "": bucket["count"] for bucket in counted["buckets"]}
        totals[days] = counted["total"]
    longest = by_window[EXPIRY_WINDOWS[-1]]
    owners = sorted(longest, key=lambda dms: (-longest[dms], dms))[:EXPIRY_DMS_ROWS]

    def count(dms: str, days: int) -> Count:
        url = devices_url(dms_owner=dms, expires_within=days, expires_from=since)
        return Count(by_window[days].get(dms, 0), url, f"expiry:{dms}:{days}")

    rows = [ExpiryRow(dms, [count(dms, days) for days in EXPIRY_WINDOWS]) for dms in owners]
    every_dms = [
        Count(totals[days], devices_url(expires_within=days, expires_from=since), f"expiry-total:{days}")
        for days in EXPIRY_WINDOWS
    ]
    return rows, every_dms


def events_figure(now: datetime):
    """The feed's events per day (UTC) and type over the last 30 days, from the kept daily counts."""
    last = now.date()
    first = last - timedelta(days=EVENT_DAYS - 1)
    counts = events_per_day(first, last)
    days = [(first + timedelta(days=offset)).isoformat() for offset in range(EVENT_DAYS)]
    names = sorted({name for _, name in counts})
    series = [(name, PALETTE[index % len(PALETTE)]) for index, name in enumerate(names)]
    values = {(day.isoformat(), name): events for (day, name), events in counts.items()}
    chart = stacked_columns(days, series, values, lambda day, name: events_url(type=name, day=day))
    rows = [
        (
            day,
            [
                Count(values.get((day, name), 0), events_url(type=name, day=day), f"events:{day}:{name}")
                for name in names
            ],
        )
        for day in reversed(days)
        if any((day, name) in values for name in names)
    ]
    return chart, series, rows


def groups_figure() -> tuple[Chart, bool]:
    """The largest groups by their stored member counts (groups/counting.py, as the group tree shows them)."""
    groups = largest_groups(LARGEST_GROUPS)
    items = [
        (group.name, group.member_count.devices, devices_url(group=group.pk), "#1565c0", f"group:{group.pk}")
        for group in groups
    ]
    return horizontal_bars(items), any(group.member_count_stale for group in groups)
