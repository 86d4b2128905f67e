"""Keyset pagination with signed, self-contained bookmarks.

A list request is described by a `ListQuery`: its filters, sort and page size. The first page is read from
the query string; every later page from the bookmark, which carries that query together with the sort key and
id of the last row served. A page is then `WHERE (sort_key, id) > (last_key, last_id) ORDER BY sort_key, id
LIMIT page_size + 1`: page 10,000 costs what page 1 costs, and rows inserted or deleted meanwhile neither
shift nor repeat the rows of a walk.
"""

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.conf import settings
from django.core import signing
from django.db import models
from rest_framework import exceptions
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from devmanager.replicas import lsn_number, require_position, with_read_position
from devmanager.validation import NUL_MESSAGE

from .filtering import normalise_filters
from .filtering.expression import ExpressionError, normalise_expression
from .filtering.fields import FilterErrors

BOOKMARK_SALT = "devmanager.bookmark.v1"
INCLUDE_VALUES = ("total_count",)
LIST_PARAMETERS = ("filter", "sort_by", "sort_mode", "page_size", "bookmark", "include")
# Parameters of the lists of devices only (`query_parameters` of their views): a boolean expression and a search.
DEVICE_LIST_PARAMETERS = ("q", "search")


@dataclass(frozen=True)
class ListQuery:
    """What a list request asks for; the part a bookmark must reproduce exactly is `signature`."""

    filters: tuple[str, ...] = ()
    q: str = ""  # a boolean expression (section 8), ANDed with the filters
    search: str = ""  # id or alias contains it, ignoring case
    sort_by: str = ""
    sort_mode: str = "asc"
    page_size: int = 25
    include: frozenset[str] = field(default_factory=frozenset)
    after: tuple | None = None  # (sort key, id) of the last row of the previous page
    path: str = ""  # the list's URL path: a bookmark serves only the list that issued it
    position: int = 0  # with replicas: how far the database that served the previous page had come (its WAL)

    @property
    def descending(self) -> bool:
        return self.sort_mode == "desc"


def _invalid(name: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({name: [message]})


def parse_integer(raw: str | None, name: str, default, maximum: int, minimum: int = 1) -> int:
    """A query parameter that is an integer from `minimum` to `maximum` (`default` when absent); a 400 naming it
    otherwise."""
    if raw is None:
        return default
    # isascii: str.isdigit() also accepts digits such as "²" that int() refuses. The length first: Python refuses to
    # read a number of thousands of digits (a ValueError, which would be a 500).
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(maximum)) or not minimum <= int(raw) <= maximum:
        raise _invalid(name, f"must be an integer from {minimum} to {maximum}")
    return int(raw)


def _parse_page_size(raw: str | None, default: int) -> int:
    return parse_integer(raw, "page_size", default, settings.DEVMANAGER_PAGE_SIZE_MAX)


def _parse_include(values: list[str]) -> frozenset[str]:
    include = {item.strip() for value in values for item in value.split(",") if item.strip()}
    unknown = include - set(INCLUDE_VALUES)
    if unknown:
        raise _invalid("include", f"unknown value {sorted(unknown)[0]!r}; allowed: {', '.join(INCLUDE_VALUES)}")
    return frozenset(include)


def parse_page_size(request) -> int:
    """The request's `page_size` (the default when absent); a 400 when it is not a whole number in range."""
    return _parse_page_size(single_param(request.query_params, "page_size"), settings.DEVMANAGER_PAGE_SIZE_DEFAULT)


def single_param(params, name: str) -> str | None:
    """A query parameter given at most once (a 400 naming it otherwise), or None."""
    values = params.getlist(name)
    if len(values) > 1:
        raise _invalid(name, "must be given at most once")
    return values[0] if values else None


def encode_bookmark(query: ListQuery, last_key, last_id, position: int | None = None) -> str:
    # JSON carries strings: datetimes and UUIDs travel as text and are parsed back by the model field.
    if isinstance(last_key, datetime):
        last_key = last_key.isoformat()
    elif not isinstance(last_key, str | int | float | bool | type(None)):
        last_key = str(last_key)
    if not isinstance(last_id, str | int):
        last_id = str(last_id)
    payload = {
        "f": list(query.filters),
        "q": query.q,
        "t": query.search,
        "s": query.sort_by,
        "m": query.sort_mode,
        "p": query.page_size,
        "k": [last_key, last_id],
        "l": query.path,
    }
    if position is not None:
        payload["w"] = position
    return signing.dumps(payload, salt=BOOKMARK_SALT, compress=True)


def decode_bookmark(bookmark: str) -> dict:
    try:
        payload = signing.loads(bookmark, salt=BOOKMARK_SALT)
    except (signing.BadSignature, ValueError, UnicodeError, OverflowError) as exc:
        raise _invalid("bookmark", "is not a bookmark this service issued (forged, truncated or foreign)") from exc
    valid = (
        isinstance(payload, dict)
        and isinstance(payload.get("f"), list)
        and all(isinstance(item, str) for item in payload["f"])
        and isinstance(payload.get("s"), str)
        and payload.get("m") in ("asc", "desc")
        and isinstance(payload.get("p"), int)
        and isinstance(payload.get("k"), list)
        and len(payload["k"]) == 2
        and isinstance(payload.get("l"), str)
        and isinstance(payload.get("q", ""), str)
        and isinstance(payload.get("t", ""), str)
        and type(payload.get("w", 0)) is int
    )
    if not valid:
        raise _invalid("bookmark", "is not a bookmark of this list")
    return payload


@dataclass(frozen=True)
class SentParameters:
    """The list parameters of the query string, each checked on its own."""

    filters: tuple[str, ...]
    q: str | None
    search: str | None
    sort_by: str | None
    sort_mode: str | None
    page_size: str | None
    include: frozenset[str]
    bookmark: str | None


def _sent_parameters(request, sort_fields: dict[str, str], extra: tuple[str, ...]) -> SentParameters:
    refuse_unknown_parameters(request, (*LIST_PARAMETERS, *extra))
    params = request.query_params
    sort_by, sort_mode = single_param(params, "sort_by"), single_param(params, "sort_mode")
    if sort_by is not None and sort_by not in sort_fields:
        raise _invalid("sort_by", f"unknown sort field {sort_by!r}; allowed: {', '.join(sort_fields)}")
    if sort_mode is not None and sort_mode not in ("asc", "desc"):
        raise _invalid("sort_mode", "must be asc or desc")
    return SentParameters(
        filters=tuple(params.getlist("filter")),
        q=single_param(params, "q") or None,  # an empty q is absent
        search=_search(single_param(params, "search")),
        sort_by=sort_by,
        sort_mode=sort_mode,
        page_size=single_param(params, "page_size"),
        include=_parse_include(params.getlist("include")),
        bookmark=single_param(params, "bookmark"),
    )


class ListQueryMixin:
    """A list view's query, parsed once from the request (or its bookmark) and read by the filter backend and the
    paginator. The view declares `sort_fields`, `default_sort`, `default_sort_mode` and `filter_fields`; a list
    under one device or group sets `bookmark_scope` (in `get_queryset`), so that its bookmarks serve any spelling
    of that device's or group's path."""

    default_sort_mode = "asc"
    filter_fields: dict = {}
    bookmark_scope: str | None = None
    query_parameters: tuple[str, ...] = ()  # beyond LIST_PARAMETERS: DEVICE_LIST_PARAMETERS for lists of devices

    @cached_property
    def list_query(self) -> ListQuery:
        sent = _sent_parameters(self.request, self.sort_fields, self.query_parameters)
        scope = self.bookmark_scope or self.request.path
        if not sent.bookmark:
            return ListQuery(
                filters=sent.filters,
                q=sent.q or "",
                search=sent.search or "",
                sort_by=sent.sort_by or self.default_sort,
                sort_mode=sent.sort_mode or self.default_sort_mode,
                page_size=_parse_page_size(sent.page_size, settings.DEVMANAGER_PAGE_SIZE_DEFAULT),
                include=sent.include,
                path=scope,
            )
        return _bookmark_query(sent, scope, self.sort_fields, self.filter_fields)


def _bookmark_query(sent: SentParameters, scope: str, sort_fields: dict[str, str], filter_fields: dict) -> ListQuery:
    """The query a bookmark carries, with its page's `page_size` and `include`; the other parameters sent beside it
    may only repeat the bookmark's, in any order or spelling."""
    payload = decode_bookmark(sent.bookmark)
    if payload["s"] not in sort_fields or payload["l"] != scope:
        raise _invalid("bookmark", "is not a bookmark of this list")
    query = ListQuery(
        filters=tuple(payload["f"]),
        q=payload.get("q", ""),
        search=payload.get("t", ""),
        sort_by=payload["s"],
        sort_mode=payload["m"],
        page_size=_parse_page_size(sent.page_size, payload["p"]),
        include=sent.include,
        after=tuple(payload["k"]),
        path=scope,
        position=payload.get("w", 0),
    )
    # The walk never goes back in time: this page is read from a database at least as far as the last one was.
    require_position(query.position)
    if sent.filters and not _same_filters(sent.filters, query.filters, filter_fields):
        raise _invalid("filter", "differs from the bookmark's filters; send the bookmark alone")
    if sent.q is not None and not _same_expression(sent.q, query.q, filter_fields):
        raise _invalid("q", "differs from the bookmark's q; send the bookmark alone")
    if sent.search is not None and sent.search != query.search:
        raise _invalid("search", "differs from the bookmark's search")
    if sent.sort_by is not None and sent.sort_by != query.sort_by:
        raise _invalid("sort_by", "differs from the bookmark's sort_by")
    if sent.sort_mode is not None and sent.sort_mode != query.sort_mode:
        raise _invalid("sort_mode", "differs from the bookmark's sort_mode")
    return query


def _same_filters(sent: tuple[str, ...], issued: tuple[str, ...], fields: dict) -> bool:
    if sent == issued:
        return True
    try:
        return normalise_filters(sent, fields) == normalise_filters(issued, fields)
    except FilterErrors as exc:
        raise exceptions.ValidationError(exc.errors) from exc


def _same_expression(sent: str, issued: str, fields: dict) -> bool:
    if sent == issued:
        return True
    try:
        return bool(issued) and normalise_expression(sent, fields) == normalise_expression(issued, fields)
    except ExpressionError as exc:
        raise _invalid("q", str(exc)) from exc


def _search(text: str | None) -> str | None:
    if text and "\x00" in text:  # PostgreSQL text cannot hold it: no id or alias contains it
        raise _invalid("search", NUL_MESSAGE)
    return text or None  # an empty search is absent


def refuse_unknown_parameters(request, allowed) -> None:
    """A misspelled parameter (`Filter`, `filter[]`, `sortby`) is a 400 naming it: ignored, it would widen the
    answer, and a script acting on what a list returns would act on too much."""
    unknown = [name for name in request.query_params if name not in allowed]
    if unknown:
        message = f"unknown query parameter; this operation takes {', '.join(allowed)}"
        raise exceptions.ValidationError({name: [message] for name in unknown})


class RowComparison(models.Func):
    """`(sort key, id) > (last key, last id)` (`<` when descending): one row comparison, which the (sort key, id)
    index serves directly (PostgreSQL and SQLite alike), and which costs far less to build than the same condition
    spelled as three lookups. Sort keys are never NULL, for which a row comparison would answer differently."""

    conditional = True
    output_field = models.BooleanField()

    def __init__(self, keys: list[tuple[models.Field, object]], operator: str):
        columns = [models.F(field.attname) for field, _ in keys]
        super().__init__(*columns, *(models.Value(value, output_field=field) for field, value in keys))
        self.operator = operator

    def as_sql(self, compiler, connection, **extra):
        compiled = [compiler.compile(expression) for expression in self.get_source_expressions()]
        half = len(compiled) // 2
        columns, values = [sql for sql, _ in compiled[:half]], [sql for sql, _ in compiled[half:]]
        params = [param for _, expression_params in compiled for param in expression_params]
        return f"({', '.join(columns)}) {self.operator} ({', '.join(values)})", params


def _key_value(model_field: models.Field, raw):
    """Turn a bookmark's stored sort key back into the field's Python value."""
    try:
        return model_field.to_python(raw)
    except Exception as exc:  # a validly signed bookmark never gets here; stay safe anyway
        raise _invalid("bookmark", "is not a bookmark of this list") from exc


class BookmarkPagination(BasePagination):
    """Seek pagination on the view's `sort_fields` (API name -> model field), ties broken by `id`."""

    def paginate_queryset(self, queryset, request, view=None):
        self.query = query = view.list_query
        field_name = view.sort_fields[query.sort_by]
        model_field = queryset.model._meta.get_field(field_name)
        self.total = queryset.count() if "total_count" in query.include else None

        prefix = "-" if query.descending else ""
        ordering = [f"{prefix}pk"] if model_field.primary_key else [f"{prefix}{field_name}", f"{prefix}pk"]
        ordered = queryset.order_by(*ordering)
        if query.after is not None:
            ordered = ordered.filter(self._after(model_field, queryset.model, query))
        rows = list(with_read_position(ordered)[: query.page_size + 1])
        self.next = ""
        if len(rows) > query.page_size:
            rows = rows[: query.page_size]
            last = rows[-1]
            position = lsn_number(last.wal_position) if hasattr(last, "wal_position") else None
            self.next = encode_bookmark(query, model_field.value_from_object(last), last.pk, position)
        return rows

    @staticmethod
    def _after(model_field, model, query: ListQuery) -> RowComparison:
        last_key = _key_value(model_field, query.after[0])
        last_id = _key_value(model._meta.pk, query.after[1])
        keys = (
            [(model_field, last_key)]
            if model_field.primary_key
            else [(model_field, last_key), (model._meta.pk, last_id)]
        )
        return RowComparison(keys, "<" if query.descending else ">")

    def get_paginated_response(self, data):
        body = {"next": self.next, "list": data}
        if self.total is not None:
            body["total"] = self.total
        return Response(body)

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "list"],
            "properties": {
                "next": {"type": "string", "description": "Bookmark of the next page; empty on the last page."},
                "list": schema,
                "total": {"type": "integer", "description": "Count of all matches, with include=total_count."},
            },
        }

    def get_schema_operation_parameters(self, view):
        sort_fields = list(getattr(view, "sort_fields", {}))
        return [
            _param("page_size", "integer", "Results per page, 1 to 1000 (default 25).", minimum=1, maximum=1000),
            _param("bookmark", "string", "The `next` of the previous page; it carries the filters and sort."),
            _param("sort_by", "string", f"Sort field (default {getattr(view, 'default_sort', '')}).", enum=sort_fields),
            _param(
                "sort_mode",
                "string",
                f"Sort direction (default {getattr(view, 'default_sort_mode', 'asc')}).",
                enum=["asc", "desc"],
            ),
            _param("include", "string", "`total_count` adds the count of all matches.", enum=list(INCLUDE_VALUES)),
        ]


def _param(name: str, type_: str, description: str, **schema) -> dict:
    return {
        "name": name,
        "required": False,
        "in": "query",
        "description": description,
        "schema": {"type": type_, **schema},
    }
