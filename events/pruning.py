"""Retention: the feed's oldest events go, as a prefix of the feed, in short transactions.

`prune_events` removes every event up to the last one recorded before the cutoff (an event's time is when its
change was recorded, so times grow along the feed, but for clocks of several servers differing by moments). Rows
go in batches of consecutive positions, each its own transaction, read through the primary key: no long lock, and
writers keep appending meanwhile. `FeedCounter.pruned_through` then says where the feed now starts: a position
before it is `gone` (410). Partitioning by month would turn pruning into dropping partitions; at the sizes
measured (docs/benchmarks.md) the batched delete keeps each transaction under a second, and a plain table keeps
SQLite and PostgreSQL on one code path.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Max

from .models import Event, FeedCounter

BATCH = 10_000
PRUNERS = []  # apps' own records kept as long as the events (the webhooks' delivery log): fn(cutoff) -> count


def register_pruner(prune) -> None:
    """Make `prune_events` call `prune(cutoff)` too, to remove an app's records older than the cutoff."""
    PRUNERS.append(prune)


def prune_records(cutoff: datetime) -> int:
    """The other apps' records older than the cutoff, removed; how many went."""
    return sum(prune(cutoff) for prune in PRUNERS)


def prune_events(cutoff: datetime, batch: int = BATCH) -> int:
    """Remove the events recorded before `cutoff` (the feed's prefix up to the last of them); how many went."""
    last = Event.objects.filter(time__lt=cutoff).aggregate(last=Max("position"))["last"]
    if last is None:
        return 0
    removed, start = 0, FeedCounter.objects.filter(pk=1).values_list("pruned_through", flat=True).first() or 0
    while start < last:
        end = min(start + batch, last)
        # First the feed's new start (a moment on the counter's row, which writers take), then the rows: a reader
        # asking for a position in between is told `gone`, never handed a page that silently skips them.
        FeedCounter.objects.filter(pk=1).update(pruned_through=end)
        with transaction.atomic():
            removed += Event.objects.filter(position__gt=start, position__lte=end).delete()[0]
        start = end
    return removed
