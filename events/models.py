from django.db import models


class JsonTextField(models.TextField):
    """The type of the feed's `data` until migration 0002 (PostgreSQL's `json`), kept for migration 0001."""

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else "text"


class Event(models.Model):
    """One change in the fleet feed (contract, section 7). `position` is the event's place in the feed, handed out
    by `FeedCounter` at the change's write: see events/recording.py for why no event is ever skipped."""

    position = models.BigIntegerField(primary_key=True)
    type = models.CharField(max_length=64)
    subject = models.CharField(max_length=255)
    time = models.DateTimeField()
    actor = models.CharField(max_length=300, blank=True, default="")
    # Who may see the event (contract, section 10): the DMS of its device after the change (before it, for a
    # deletion), and before it when the change moved the device; both None for a group's event (seen by all). None
    # is not "": a device may have no DMS ("").
    dms = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    dms_before = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # The CloudEvent's `data`, as JSON text: written once, served as it is, and read into only by `q` (which parses
    # it). Plain text rather than PostgreSQL's `json`, whose check on the way in was a tenth of an import's cost of
    # its events: the text is orjson's, or `compact_json`'s, already (with a device's unchanged documents within as
    # PostgreSQL spelled them: a fleet batch copies them from the device's row without decoding them).
    data = models.TextField()

    class Meta:
        indexes = [
            models.Index(fields=["time"], name="event_time_idx"),
            models.Index(fields=["subject", "position"], name="event_subject_idx"),
            models.Index(fields=["type", "position"], name="event_type_idx"),
        ]

    def __str__(self):
        return f"{self.position} {self.type} {self.subject}"


class FeedCounter(models.Model):
    """The last position handed out: one row, updated by every transaction that records events; and the last
    position `prune_events` removed (a position before it is `gone`)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    position = models.BigIntegerField(default=0)
    pruned_through = models.BigIntegerField(default=0)

    def __str__(self):
        return f"feed position {self.position}"
