"""The filter backend: the list query's `filter` expressions, compiled by the filter language, on the queryset."""

from django.conf import settings
from django.db.models import Q
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend

from .filtering import compile_filters
from .filtering.expression import ExpressionError, compile_expression
from .filtering.fields import FilterErrors
from .pagination import refuse_unknown_parameters, single_param

FILTER_PARAMETER_DESCRIPTION = "Repeatable `<field>[<operator>]<value>` expressions, all of which must hold, e.g. "


def refuse_too_many_filters(filters) -> None:
    """A 400 naming `filter` when a request gives more filters than `DEVMANAGER_MAX_FILTERS` (each one's length is
    the filter language's to judge)."""
    if len(filters) > settings.DEVMANAGER_MAX_FILTERS:
        raise exceptions.ValidationError({"filter": [f"at most {settings.DEVMANAGER_MAX_FILTERS} filters"]})


def filter_condition(filters, fields) -> Q:
    """The AND of `filter` expressions against a resource's fields; a 400 naming each bad one (`filter[i]`)."""
    refuse_too_many_filters(filters)
    try:
        return compile_filters(filters, fields)
    except FilterErrors as exc:
        raise exceptions.ValidationError(exc.errors) from exc


def counted_devices(request, queryset, fields, extra: tuple[str, ...] = ()):
    """What a count of devices (`/stats`, a group's stats) counts: `queryset` narrowed by the request's `filter`s
    and `q`; `extra` names the other parameters the count takes."""
    refuse_unknown_parameters(request, ("filter", "q", *extra))
    params = request.query_params
    q = single_param(params, "q") or ""
    return queryset.filter(filter_condition(params.getlist("filter"), fields) & expression_condition(q, fields))


def expression_condition(q: str, fields) -> Q:
    """A `q` (an empty one is absent) as a condition; a 400 naming `q`, with the character position, otherwise."""
    if not q:
        return Q()
    try:
        return compile_expression(q, fields)
    except ExpressionError as exc:
        raise exceptions.ValidationError({"q": [str(exc)]}) from exc


def search_condition(text: str, columns: tuple[str, ...]) -> Q:
    """`search`: one of the columns contains the text, ignoring case (folded as the `_ic` filters fold)."""
    condition = Q()
    for column in columns if text else ():
        condition |= Q(**{f"{column}__fold_contains": text})
    return condition


class FilterLanguageBackend(BaseFilterBackend):
    """Applies the filters of the request (or of its bookmark) against the view's `filter_fields`, with its `q` and
    `search` where the view takes them (`query_parameters`); the view is a `ListQueryMixin`, whose `list_query` the
    paginator reads too."""

    def filter_queryset(self, request, queryset, view):
        query = view.list_query
        condition = filter_condition(query.filters, view.filter_fields) & expression_condition(
            query.q, view.filter_fields
        )
        if query.search:
            condition &= search_condition(query.search, view.search_columns)
        return queryset.filter(condition)

    def get_schema_operation_parameters(self, view):
        fields = getattr(view, "filter_fields", {})
        parameters = [filter_parameter(fields)]
        if "q" in getattr(view, "query_parameters", ()):
            parameters += [q_parameter(), search_parameter()]
        return parameters


def filter_parameter(fields) -> dict:
    """The OpenAPI description of the `filter` query parameter over these fields."""
    names = ", ".join(f"`{name}`" for name in fields)
    return {
        "name": "filter",
        "required": False,
        "in": "query",
        "description": f"{FILTER_PARAMETER_DESCRIPTION}`status[eq]:ACTIVE`. Fields: {names}.",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    }


def q_parameter() -> dict:
    return {
        "name": "q",
        "required": False,
        "in": "query",
        "description": (
            "One boolean expression over the filter language's atoms, ANDed with `filter`: `and`, `or`, `not`, "
            "parentheses, values unquoted or in quotes, e.g. `status[in]:EXPIRED,REVOKED or (tags[ct]:critical and "
            "not dms_owner[eq]:lab)`. At most 4,096 characters, 64 atoms, 16 levels."
        ),
        "schema": {"type": "string", "maxLength": 4096},
    }


def search_parameter() -> dict:
    return {
        "name": "search",
        "required": False,
        "in": "query",
        "description": "Devices whose id or alias contains the text, ignoring case; ANDed with the filters.",
        "schema": {"type": "string"},
    }
