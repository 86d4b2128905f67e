"""Model fields shared by the apps."""

from django.db import models
from django.db.models.fields.json import KeyTransform

from .strictjson import parse_json


class JSONField(models.JSONField):
    """Django's JSONField, its documents read through orjson (`strictjson.parse_json`) rather than the json module:
    a fleet job's batch reads four documents of each of a thousand devices, a page of the device list fifty, and
    the json module took a tenth of a batch's Python time. What orjson cannot keep exact (an integer beyond 64 bits,
    a run of 19 digits) still goes through the json module."""

    def from_db_value(self, value, expression, connection):
        if value is None or self.decoder is not None:
            return super().from_db_value(value, expression, connection)
        if isinstance(expression, KeyTransform) and not isinstance(value, str):
            return value  # SQLite extracts a key's scalar value in its own type
        try:
            return parse_json(value)
        except ValueError:
            return value

    def deconstruct(self):
        """Django's field, for the migrations: the columns and what they store are the same, only the reading
        differs (and the migrations' historical models read with Django's)."""
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs
