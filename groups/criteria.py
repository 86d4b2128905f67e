"""Group definitions <-> the filter language: a criterion is one filter expression and a group's `q` one boolean
expression, compiled by the same code as the lists' `filter` and `q`."""

from django.db.models import Q

from devices.filters import DEVICE_FILTER_FIELDS
from devmanager.api.filtering import FilterError, compile_filter
from devmanager.api.filtering.expression import compile_expression


def criterion_text(criterion: dict) -> str:
    # Always write the `:` separator: the parser drops exactly one, so a value starting with `:` or `=` survives.
    return f"{criterion['field']}[{criterion['operand']}]:{criterion['value']}"


def compile_criteria(criteria: list[dict]) -> Q:
    """The AND of the criteria; raises FilterError (validated criteria never do)."""
    condition = Q()
    for criterion in criteria:
        condition &= compile_filter(criterion_text(criterion), DEVICE_FILTER_FIELDS)
    return condition


CRITERION_MEMBERS = ("field", "operand", "value")


def criterion_error(criterion) -> str | None:
    """What is wrong with a criterion (its shape: an object of the strings `field`, `operand` and `value`; then its
    filter), or None. The API's serializer, the admin's form and the group services all ask here."""
    if not isinstance(criterion, dict):
        return "must be an object with field, operand and value"
    unknown = sorted(set(criterion) - set(CRITERION_MEMBERS))
    if unknown:
        return f"unknown member {unknown[0]!r}"
    for member in CRITERION_MEMBERS:
        if not isinstance(criterion.get(member), str):
            return f"{member} must be a string"
    try:
        compile_filter(criterion_text(criterion), DEVICE_FILTER_FIELDS)
    except FilterError as exc:
        return str(exc)
    return None


def compile_definition(criteria: list[dict], q: str) -> Q:
    """What a group's own definition selects: its criteria AND its `q` (empty: none); raises FilterError."""
    return compile_criteria(criteria) & (compile_expression(q, DEVICE_FILTER_FIELDS) if q else Q())


def q_error(q: str) -> str | None:
    """What is wrong with a group's `q` (the message gives the character position), or None."""
    try:
        compile_expression(q, DEVICE_FILTER_FIELDS)
    except FilterError as exc:
        return str(exc)
    return None
