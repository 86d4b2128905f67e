"""The feed in the operators' console: a device's page lists its latest events in the feed, each linking into it."""

from urllib.parse import urlencode

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from devices.admin import register_device_panel
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
