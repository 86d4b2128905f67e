"""The feed's fields of the filter language (contract, section 7): `type` (`eq`, `in`, `ct` for a prefix such as
`device.`), `subject` (`eq`, `in`), `actor` (`eq`), `time` (`bf`, `af`)."""

from django.db.models import Q

from devmanager.api.filtering import DateField, FieldSpec
from devmanager.api.filtering.fields import split_list


class PrefixField(FieldSpec):
    """A name matched whole, in a list, or by its start (`ct`): event types read as a hierarchy (`device.`)."""

    type_name = "string"
    operators = {"eq": "eq", "in": "in_", "ct": "ct"}

    def eq(self, value):
        return Q(**{self.column: value})

    def in_(self, value):
        return Q(**{f"{self.column}__in": split_list(value)})

    def ct(self, value):
        return Q(**{f"{self.column}__startswith": value})


class ExactField(PrefixField):
    operators = {"eq": "eq", "in": "in_"}


class OneValueField(PrefixField):
    operators = {"eq": "eq"}


class InstantField(DateField):
    """A time compared as before or after an instant only."""

    operators = {"bf": "bf", "af": "af"}


FEED_FILTER_FIELDS = {
    "type": PrefixField("type"),
    "subject": ExactField("subject"),
    "actor": OneValueField("actor"),
    "time": InstantField("time"),
}
