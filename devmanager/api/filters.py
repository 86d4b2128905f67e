"""The filter backend: the list query's `filter` expressions, compiled by the filter language, on the queryset."""

from django.conf import settings
from django.db.models import Q
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend

from .filtering import compile_filters
from .filtering.fields import FilterErrors
from .pagination import refuse_unknown_parameters

FILTER_PARAMETER_DESCRIPTION = "Repeatable `<field>[<operator>]<value>` expressions, all of which must hold, e.g. "


def filter_condition(filters, fields) -> Q:
    """The AND of `filter` expressions against a resource's fields; a 400 naming each bad one (`filter[i]`)."""
    if len(filters) > settings.DEVMANAGER_MAX_FILTERS:
        raise exceptions.ValidationError({"filter": [f"at most {settings.DEVMANAGER_MAX_FILTERS} filters"]})
    try:
        return compile_filters(filters, fields)
    except FilterErrors as exc:
        raise exceptions.ValidationError(exc.errors) from exc


def counted_devices(request, queryset, fields):
    """What a count of devices (`/stats`, a group's stats) counts: `queryset` narrowed by the request's filters;
    `filter` is the only parameter such a count takes."""
    refuse_unknown_parameters(request, ("filter",))
    return queryset.filter(filter_condition(request.query_params.getlist("filter"), fields))


class FilterLanguageBackend(BaseFilterBackend):
    """Applies the filters of the request (or of its bookmark) against the view's `filter_fields`; the view is a
    `ListQueryMixin`, whose `list_query` the paginator reads too."""

    def filter_queryset(self, request, queryset, view):
        return queryset.filter(filter_condition(view.list_query.filters, view.filter_fields))

    def get_schema_operation_parameters(self, view):
        return [filter_parameter(getattr(view, "filter_fields", {}))]


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
