"""The filter backend: `filter=<field>[<op>]<value>` parameters applied to a list's queryset."""

from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend

from .pagination import get_list_query


class FilterLanguageBackend(BaseFilterBackend):
    """Applies the list query's filters (from the query string, or from the bookmark)."""

    def filter_queryset(self, request, queryset, view):
        query = get_list_query(request, view)
        if query.filters:
            raise exceptions.ValidationError(
                {
                    f"filter[{index}]": ["the filter language is not available yet"]
                    for index in range(len(query.filters))
                }
            )
        return queryset

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "filter",
                "required": False,
                "in": "query",
                "description": "Repeatable `<field>[<operator>]<value>` expressions, all of which must hold.",
                "schema": {"type": "array", "items": {"type": "string"}},
                "style": "form",
                "explode": True,
            }
        ]
