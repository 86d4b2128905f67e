"""View plumbing shared by every resource."""

import uuid
from urllib.parse import quote

from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.utils.http import parse_etags
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation

from .models import ApiKey


def request_source(request) -> str:
    """Who is acting, as the feed's `actor`: `key:<name>` for an API key, `admin:<username>` for a staff user (a
    device's history shows the name alone: devices.domain.history_source)."""
    if isinstance(request.auth, ApiKey):
        return f"key:{request.auth.name}"
    if request.user and not isinstance(request.user, AnonymousUser):
        return f"admin:{request.user.get_username()}"
    return ""


def created_location(request, resource_id) -> str:
    """The `Location` of what a POST to a collection created: the collection's URL and the new resource's id (any
    character of an id, `/` included, escaped)."""
    return request.build_absolute_uri(f"{request.path.rstrip('/')}/{quote(str(resource_id), safe='')}")


def uuid_or_none(value) -> uuid.UUID | None:
    """An id given as text (a path's, a query's) as a UUID; None when it is not one."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def get_by_uuid(queryset, object_id, what: str):
    """The object of a path id; a string that is not a UUID names none (404, not 400)."""
    found = queryset.filter(pk=pk).first() if (pk := uuid_or_none(object_id)) else None
    if found is None:
        raise Http404(f"No {what} {str(object_id)[:100]!r}.")
    return found


def not_modified(request, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or a list of entity tags one of which weakly matches the current one."""
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    candidates = parse_etags(header)
    return "*" in candidates or etag.removeprefix("W/") in [tag.removeprefix("W/") for tag in candidates]


def parse_bool_param(request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise exceptions.ValidationError({name: ["must be true or false"]})


class JsonOnlyNegotiation(BaseContentNegotiation):
    """The API speaks JSON whatever the Accept header says, so no client gets a 406."""

    def select_parser(self, request, parsers):
        for parser in parsers:
            if parser.media_type == request.content_type.split(";")[0].strip().lower():
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        # Where a view offers a choice (the schema: YAML or JSON), Accept and ?format= pick it; when nothing
        # matches, the first renderer answers instead of a 406.
        try:
            return DefaultContentNegotiation().select_renderer(request, renderers, format_suffix)
        except (exceptions.NotAcceptable, Http404):
            return renderers[0], renderers[0].media_type
