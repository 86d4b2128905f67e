import re
from dataclasses import dataclass

from django.conf import settings

from devmanager.validation import NUL_MESSAGE

# `field[op]value`, with one optional `:` or `=` between `]` and the value.
FILTER_PATTERN = re.compile(
    r"(?P<field>[A-Za-z_][A-Za-z0-9_]*)\[(?P<operator>[A-Za-z_]+)\](?P<separator>[:=]?)(?P<value>.*)", re.DOTALL
)


class FilterError(ValueError):
    """A filter that cannot be applied; the message says what is wrong with it."""


@dataclass(frozen=True)
class Filter:
    field: str
    operator: str  # lower-cased, aliases not yet resolved
    value: str
    text: str


def parse_filter(text: str) -> Filter:
    if len(text) > settings.DEVMANAGER_MAX_FILTER_LENGTH:
        raise FilterError(f"is longer than {settings.DEVMANAGER_MAX_FILTER_LENGTH} characters")
    if "\x00" in text:
        raise FilterError(NUL_MESSAGE)
    match = FILTER_PATTERN.fullmatch(text)
    if match is None:
        raise FilterError("is not of the form <field>[<operator>]<value>, e.g. status[eq]:ACTIVE")
    if not match["separator"] and match["value"].startswith("["):
        # `id[eq][ne]:x` is a typo far more often than a comparison with the text "[ne]:x".
        raise FilterError("has a second [operator]; a value that starts with [ must follow a ':' (id[eq]:[x])")
    return Filter(
        field=match["field"],
        operator=match["operator"].lower(),
        value=match["value"],
        text=text,
    )
