"""A fleet action's selection: the devices its `filter`s and `q` match (the list's filter language, sections 2 and 8),
bound by a dry run's confirmation as written (normalised), not as the ids it matched."""

from django.core import signing
from django.db.models import Q, QuerySet

from devices.filters import DEVICE_FILTER_FIELDS
from devices.models import Device
from devmanager.access import visible_dms_list
from devmanager.api.filtering import compile_filters
from devmanager.api.filtering.expression import ExpressionError, compile_expression, normalise_expression
from devmanager.api.filtering.fields import FilterErrors, normalise_filters
from devmanager.errors import Invalid
from devmanager.strictjson import jsonb_text

CONFIRMATION_SALT = "devmanager.fleet.confirmation"
CONFIRMATION_SECONDS = 15 * 60
SAMPLE_SIZE = 10


def normalised(filters: list[str], q: str) -> tuple[list[str], str]:
    """One spelling of the selection; Invalid naming `filter[i]` or `q` when one does not compile."""
    try:
        filters = normalise_filters(filters, DEVICE_FILTER_FIELDS)
    except FilterErrors as exc:
        raise Invalid(exc.errors) from exc
    try:
        q = normalise_expression(q, DEVICE_FILTER_FIELDS) if q else ""
    except ExpressionError as exc:
        raise Invalid({"q": [str(exc)]}) from exc
    return filters, q


def selected(filters: list[str], q: str) -> QuerySet:
    """The devices a (normalised) selection matches now."""
    condition = compile_filters(filters, DEVICE_FILTER_FIELDS)
    if q:
        condition &= compile_expression(q, DEVICE_FILTER_FIELDS)
    return Device.objects.filter(condition or Q()).order_by()


def sample(queryset: QuerySet) -> list[str]:
    return list(queryset.order_by("pk").values_list("pk", flat=True)[:SAMPLE_SIZE])


def _binding(action: str, params: dict, filters: list[str], q: str) -> str:
    """What a confirmation is bound to: the action, params and selection, and the DMSs the caller sees (a restricted
    key's count is of its devices, so its confirmation is no one else's)."""
    scope = visible_dms_list()
    return jsonb_text({"action": action, "params": params, "filter": filters, "q": q, "dms": scope})


def confirmation(action: str, params: dict, filters: list[str], q: str, count: int) -> str:
    """A dry run's token: signed, valid for 15 minutes, binding the action, params and selection, and carrying the
    count, which the job may never exceed."""
    payload = {"b": _binding(action, params, filters, q), "n": count}
    return signing.dumps(payload, salt=CONFIRMATION_SALT, compress=True)


def confirmed_count(token: str, action: str, params: dict, filters: list[str], q: str) -> int:
    """The count a confirmation of this action, params and selection carries; Invalid naming `confirmation` when it
    is not one, has expired, or was made for another."""
    try:
        payload = signing.loads(token, salt=CONFIRMATION_SALT, max_age=CONFIRMATION_SECONDS)
    except signing.SignatureExpired as exc:
        raise Invalid({"confirmation": ["has expired: a dry run's confirmation is valid for 15 minutes"]}) from exc
    except signing.BadSignature as exc:
        raise Invalid({"confirmation": ["is not a confirmation from a dry run"]}) from exc
    if not isinstance(payload, dict) or payload.get("b") != _binding(action, params, filters, q):
        raise Invalid({"confirmation": ["was made for another action, params or selection"]})
    return int(payload["n"])
