"""`GET /events`: the fleet feed (contract, section 7), oldest first, by position."""

from django.conf import settings
from django.core import signing
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from devmanager.api.exceptions import Gone
from devmanager.api.filtering import normalise_filters
from devmanager.api.filtering.fields import FilterErrors
from devmanager.api.filters import filter_condition, filter_parameter
from devmanager.api.pagination import parse_integer, refuse_unknown_parameters, single_param

from ..envelope import event_object
from ..filters import FEED_FILTER_FIELDS
from ..models import Event, FeedCounter
from ..waiting import wait_for_events
from .streaming import SLOTS, event_stream

FEED_SALT = "devmanager.feed.v1"
FEED_PARAMETERS = ("filter", "page_size", "bookmark", "after", "wait")
MAX_WAIT_SECONDS = 30
MAX_POSITION = 2**63 - 1
EVENT_SCHEMA = inline_serializer(
    "FeedEvent",
    {
        "specversion": serializers.CharField(),
        "id": serializers.CharField(help_text="The event's position in the feed: a decimal integer."),
        "type": serializers.CharField(),
        "source": serializers.CharField(),
        "subject": serializers.CharField(),
        "time": serializers.CharField(),
        "datacontenttype": serializers.CharField(),
        "actor": serializers.CharField(help_text="`key:<name>`, `admin:<username>` or `command:<name>`."),
        "data": serializers.DictField(),
    },
)
FEED_PAGE = inline_serializer(
    "FeedPage",
    {
        "next": serializers.CharField(help_text="Never empty: send it back as `bookmark` for what comes after."),
        "list": EVENT_SCHEMA.__class__(many=True),
    },
)


class FeedView(APIView):
    scope_resource = "events"

    @extend_schema(
        summary="The fleet feed: every change, oldest first",
        tags=["events"],
        parameters=[
            OpenApiParameter("bookmark", OpenApiTypes.STR, description="A `next` of an earlier page."),
            OpenApiParameter("after", OpenApiTypes.INT, description="Start after this event's id."),
            OpenApiParameter("page_size", OpenApiTypes.INT),
            OpenApiParameter(
                "Last-Event-ID",
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                description="With `Accept: text/event-stream`: resume after this event.",
            ),
            OpenApiParameter(
                "wait",
                OpenApiTypes.INT,
                description="Seconds (0 to 30) to hold the request when nothing comes after the position, until an "
                "event commits (long polling).",
            ),
            OpenApiParameter(
                "filter",
                OpenApiTypes.STR,
                many=True,
                description=filter_parameter(FEED_FILTER_FIELDS)["description"]
                + " Operators: `type` eq, in, ct (a prefix such as `device.`); `subject` eq, in; `actor` eq; `time` "
                "bf, af.",
            ),
        ],
        responses={(200, "application/json"): FEED_PAGE, (200, "text/event-stream"): OpenApiTypes.STR},
        description="With `Accept: text/event-stream` the feed is streamed as Server-Sent Events (`id:` the event's "
        "id, `event:` its type, `data:` the event), resumed after the `Last-Event-ID` header's event, with a comment "
        "line at least every 15 s, until the server ends the stream (DEVMANAGER_SSE_MAX_SECONDS); a server streaming "
        "as many feeds as it may answers 429.",
    )
    def get(self, request):
        refuse_unknown_parameters(request, FEED_PARAMETERS)
        params = request.query_params
        page_size = parse_integer(
            single_param(params, "page_size"), "page_size", settings.DEVMANAGER_PAGE_SIZE_DEFAULT,
            settings.DEVMANAGER_PAGE_SIZE_MAX,
        )  # fmt: skip
        wait = parse_integer(single_param(params, "wait"), "wait", 0, MAX_WAIT_SECONDS, minimum=0)
        filters, after = _position(params)
        condition = filter_condition(filters, FEED_FILTER_FIELDS)
        if "text/event-stream" in request.headers.get("Accept", ""):
            return _stream(request, condition, after)
        events, last = wait_for_events(lambda: _page(condition, after, page_size), wait, found=lambda page: page[0])
        return Response({"next": _bookmark(last, filters), "list": [event_object(event) for event in events]})


def _stream(request, condition, after: int | None):
    """Server-Sent Events from the position (or `Last-Event-ID`); a bad position is answered before streaming."""
    last_id = request.headers.get("Last-Event-ID")
    if last_id is not None:
        after = _event_id(last_id, "Last-Event-ID")
    _page(condition, after, 1)  # a position gone or not yet handed out: 410 or 400 now, while the answer can say so
    if not SLOTS.take():
        raise exceptions.Throttled(detail="This server streams as many feeds as it may; reconnect shortly.")
    return event_stream(lambda position, size: _page(condition, position, size), after)


def _page(condition, after: int | None, page_size: int) -> tuple[list[Event], int]:
    """The events after the position (None: from the oldest kept) that the condition selects, and the position
    after which the next page starts."""
    counter = FeedCounter.objects.filter(pk=1).values_list("position", "pruned_through").first() or (0, 0)
    committed, pruned_through = counter  # read before the events: every position up to it is visible below
    if after is None:
        after = pruned_through
    if after < pruned_through:
        raise Gone(f"Events up to {pruned_through} have been pruned; start at the oldest kept with no position.")
    if after > committed:
        raise exceptions.ValidationError({"after": [f"no event {after} yet: the feed's last is {committed}"]})
    events = list(Event.objects.filter(condition, position__gt=after).order_by("position")[:page_size])
    # A short page has every matching event up to `committed`: the next one can only come after it.
    last = events[-1].position if len(events) == page_size else max([committed, *(e.position for e in events)])
    return events, last


def _position(params) -> tuple[list[str], int | None]:
    """The filters and the position to start after, from the bookmark or from `after` (None: the oldest kept)."""
    filters = params.getlist("filter")
    bookmark, after = single_param(params, "bookmark"), single_param(params, "after")
    if bookmark:
        if after is not None:
            raise exceptions.ValidationError({"after": ["send the bookmark alone"]})
        try:
            payload = signing.loads(bookmark, salt=FEED_SALT)
        except signing.BadSignature as exc:
            raise exceptions.ValidationError({"bookmark": ["is not a bookmark of the feed"]}) from exc
        if filters and _normalised(filters) != _normalised(payload["f"]):
            raise exceptions.ValidationError(
                {"filter": ["differs from the bookmark's filters; send the bookmark alone"]}
            )
        return payload["f"], payload["a"]
    _normalised(filters)  # a bad filter is a 400 before anything else
    if after is None:
        return filters, None
    return filters, _event_id(after, "after")


def _event_id(raw: str, name: str) -> int:
    """An event id as a client sends it back: a position, which fits a bigint."""
    return parse_integer(raw, name, None, MAX_POSITION, minimum=0)


def _normalised(filters: list[str]) -> list[str]:
    try:
        return normalise_filters(filters, FEED_FILTER_FIELDS)
    except FilterErrors as exc:
        raise exceptions.ValidationError(exc.errors) from exc


def _bookmark(position: int, filters: list[str]) -> str:
    return signing.dumps({"a": position, "f": filters}, salt=FEED_SALT, compress=True)
