from django.db import models


class EventDayCount(models.Model):
    """How many events of one type the feed holds for one day (UTC), as far as `EventTally` has counted."""

    day = models.DateField()
    type = models.CharField(max_length=64)
    events = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "type"], name="%(app_label)s_%(class)s_unique_day_type")]

    def __str__(self):
        return f"{self.day} {self.type}: {self.events}"


class EventTally(models.Model):
    """One row: the feed's position through which `EventDayCount` has counted, and the feed's `pruned_through` it
    last saw (console/eventcounts.py)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    position = models.BigIntegerField(default=0)
    pruned_through = models.BigIntegerField(default=0)

    def __str__(self):
        return f"events counted through {self.position}"
