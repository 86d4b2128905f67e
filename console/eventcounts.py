"""Events per day and type, kept up with the feed: the dashboard's events chart.

Counting the feed's last 30 days on every page load reads every event of them (10,000,000 events: 3.4 s). The
feed only grows at its end (positions become visible in order and without holes: events/recording.py), so the
counts per (day, type) are kept in `EventDayCount` with the position they reach (`EventTally`), and each page load
first counts the events recorded since, in one aggregation over a range of the primary key. Its cost follows the
events recorded since the last load, not the feed's size. Pruning removes a prefix of the feed (events/pruning.py):
the days before the first remaining event are dropped and that event's day is counted again. The worker catches
up every `TALLY_SECONDS` too (`keep_events_tallied`), so that the first load after an import of a million devices
does not count its events itself.
"""

import threading
from datetime import date

from django.db import router, transaction
from django.db.models import Count, F
from django.db.models.functions import TruncDate

from events.admin import day_range
from events.models import Event, FeedCounter

from .models import EventDayCount, EventTally

TALLY_SECONDS = 10.0


def keep_events_tallied(stopping: threading.Event) -> None:
    """The worker's loop: count the events recorded since, every `TALLY_SECONDS`, until stopping."""
    while not stopping.wait(timeout=TALLY_SECONDS):
        events_tally_catch_up()


def events_tally_catch_up() -> None:
    """Count the events recorded since the last call into `EventDayCount`. Concurrent calls wait for each other (the
    tally's row lock), so no event is counted twice."""
    db = router.db_for_write(EventTally)  # the primary: the counts are written, and the feed read, where it is whole
    EventTally.objects.using(db).get_or_create(pk=1)
    with transaction.atomic(using=db):
        tally = EventTally.objects.using(db).select_for_update().get(pk=1)
        feed = FeedCounter.objects.using(db).filter(pk=1).values("position", "pruned_through").first()
        if feed is None:
            return
        if feed["pruned_through"] <= tally.pruned_through and feed["position"] <= tally.position:
            return  # nothing recorded or pruned since: no write
        if feed["pruned_through"] > tally.pruned_through:
            _forget_pruned(db, tally, feed["pruned_through"])
        if feed["position"] > tally.position:
            _add(db, Event.objects.using(db).filter(position__gt=tally.position, position__lte=feed["position"]))
        tally.position = max(tally.position, feed["position"])
        tally.save(using=db)


def _forget_pruned(db: str, tally: EventTally, pruned_through: int) -> None:
    counted = Event.objects.using(db).filter(position__gt=pruned_through, position__lte=tally.position)
    first = counted.order_by("position").values_list("time", flat=True).first()
    if first is None:
        EventDayCount.objects.using(db).all().delete()
    else:
        day = first.date()  # UTC, as the counts' days
        EventDayCount.objects.using(db).filter(day__lte=day).delete()
        _add(db, counted.filter(time__range=day_range(day)))
    tally.pruned_through = pruned_through


def _add(db: str, events) -> None:
    """Add the events' counts per (day, type): one aggregation, then one upsert per (day, type) found."""
    rows = events.order_by().annotate(day=TruncDate("time")).values("day", "type").annotate(n=Count("*"))
    for row in rows:
        counts = EventDayCount.objects.using(db).filter(day=row["day"], type=row["type"])
        if not counts.update(events=F("events") + row["n"]):
            EventDayCount.objects.using(db).create(day=row["day"], type=row["type"], events=row["n"])


def events_per_day(first: date, last: date) -> dict[tuple[date, str], int]:
    """{(day, type): events} for the days from `first` to `last` (UTC), after catching up with the feed."""
    events_tally_catch_up()
    rows = EventDayCount.objects.using(router.db_for_write(EventDayCount)).filter(day__range=(first, last))
    return {(row.day, row.type): row.events for row in rows if row.events}
