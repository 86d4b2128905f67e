"""Reading the feed: a page of the events after a position that a condition selects, and where the next one starts.
The feed's API (`GET /events`, its stream) reads with it, and so can any follower of the feed (a webhook's worker).

A condition may name the device's fields (`filters.device_q`): those are read out of each event's JSON, which no
index serves, so a page looks at no more than `SCAN_WINDOW` positions past its start. Positions are the primary key
and have no holes, so that is an index range of at most `SCAN_WINDOW` rows whatever the condition: a selective one
gives a short page, or an empty one, whose next position is past every event it looked at, never past one it did
not look at.
"""

from collections.abc import Iterable

from django.db.models import Q
from rest_framework import exceptions

from devmanager.api.exceptions import Gone

from .filters import device_events
from .models import Event, FeedCounter
from .waiting import wait_for_events

SCAN_WINDOW = 10_000


def visible_events(dms: Iterable[str] | None) -> Q:
    """The events a caller restricted to DMSs may see (contract, section 10): those of its devices, before or after
    the change (a device moved out is seen leaving), and every group's (group definitions are shared). Events
    recorded before the feed kept their DMS (migration events 0003) are shown to unrestricted callers only."""
    if dms is None:
        return Q()
    listed = sorted(dms)
    return Q(type__startswith="group.") | Q(dms__in=listed) | Q(dms_before__in=listed)


def feed_page(condition: Q, after: int | None, page_size: int) -> tuple[list[Event], int]:
    """The events after the position (None: from the oldest kept) that the condition selects, at most `page_size`,
    among the next `SCAN_WINDOW` positions; and the position after which the next page starts. Raises `Gone` for a
    pruned position, a ValidationError for one not handed out yet."""
    events, last, _ = _scan(condition, after, page_size)
    return events, last


def wait_for_page(condition: Q, after: int | None, page_size: int, timeout: float) -> tuple[list[Event], int]:
    """`feed_page`, held up to `timeout` seconds while it finds nothing (`wait=`, long polling). Each look goes on
    from where the one before stopped, so it reads only what has committed since; a look that stopped at the end of
    its window, short of the feed's end, is answered at once: the next request goes on from there."""
    position = after

    def look():
        nonlocal position
        events, position, more = _scan(condition, position, page_size)
        return events, position, more

    events, last, _ = wait_for_events(look, timeout, found=lambda scan: scan[0] or scan[2])
    return events, last


def _scan(condition: Q, after: int | None, page_size: int) -> tuple[list[Event], int, bool]:
    """`feed_page`, and whether positions handed out lie beyond the window it looked at."""
    counter = FeedCounter.objects.filter(pk=1).values_list("position", "pruned_through").first() or (0, 0)
    committed, pruned_through = counter  # read before the events: every position up to it is visible below
    if after is None:
        after = pruned_through
    if after < pruned_through:
        raise Gone(f"Events up to {pruned_through} have been pruned; start at the oldest kept with no position.")
    if after > committed:
        raise exceptions.ValidationError({"after": [f"no event {after} yet: the feed's last is {committed}"]})
    end = min(after + SCAN_WINDOW, committed)
    selected = device_events().filter(condition, position__gt=after, position__lte=end).order_by("position")
    events = list(selected[:page_size])
    # A short page has every matching event up to `end`: the next one can only come after it.
    last = events[-1].position if len(events) == page_size else end
    return events, last, end < committed
