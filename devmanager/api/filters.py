"""The filter backend: the list query's `filter` expressions, compiled by the filter language, on the queryset."""

from django.conf import settings
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend

from .filtering import compile_filters
from .filtering.fields import FilterErrors
from .pagination import get_list_query


class FilterLanguageBackend(BaseFilterBackend):
    """Applies the filters of the request (or of its bookmark) against the view's `filter_fields`."""

    def filter_queryset(self, request, queryset, view):
        query = get_list_query(request, view)
        if len(query.filters) > settings.DEVMANAGER_MAX_FILTERS:
            raise exceptions.ValidationError({"filter": [f"at most {settings.DEVMANAGER_MAX_FILTERS} filters"]})
        try:
            condition = compile_filters(query.filters, view.filter_fields)
        except FilterErrors as exc:
            raise exceptions.ValidationError(exc.errors) from exc
        return queryset.filter(condition)

    def get_schema_operation_parameters(self, view):
        fields = ", ".join(f"`{name}`" for name in getattr(view, "filter_fields", {}))
        return [
            {
                "name": "filter",
                "required": False,
                "in": "query",
                "description": (
                    "Repeatable `<field>[<operator>]<value>` expressions, all of which must hold, e.g. "
                    f"`status[eq]:ACTIVE`. Fields: {fields}."
                ),
                "schema": {"type": "array", "items": {"type": "string"}},
                "style": "form",
                "explode": True,
            }
        ]
