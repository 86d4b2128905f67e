"""Group criteria <-> the filter language: a criterion is one filter expression, compiled by the same code."""

from django.db.models import Q

from devices.filters import DEVICE_FILTER_FIELDS
from devmanager.api.filtering import FilterError, compile_filter


def criterion_text(criterion: dict) -> str:
    # Always write the `:` separator: the parser drops exactly one, so a value starting with `:` or `=` survives.
    return f"{criterion['field']}[{criterion['operand']}]:{criterion['value']}"


def compile_criteria(criteria: list[dict]) -> Q:
    """The AND of the criteria; raises FilterError (validated criteria never do)."""
    condition = Q()
    for criterion in criteria:
        condition &= compile_filter(criterion_text(criterion), DEVICE_FILTER_FIELDS)
    return condition


def criterion_error(criterion: dict) -> str | None:
    """What is wrong with a criterion, or None."""
    try:
        compile_filter(criterion_text(criterion), DEVICE_FILTER_FIELDS)
    except FilterError as exc:
        return str(exc)
    return None
