"""`GET /events`: the fleet feed (contract, section 7), oldest first, by position."""

from django.conf import settings
from django.core import signing
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from devmanager.access import visible_dms
from devmanager.api.filtering import normalise_filters
from devmanager.api.filtering.expression import MAX_LENGTH, ExpressionError
from devmanager.api.filtering.fields import FilterErrors
from devmanager.api.filters import filter_condition, filter_parameter
from devmanager.api.pagination import parse_integer, refuse_unknown_parameters, single_param
from devmanager.replicas import reads_from_primary

from ..envelope import event_object
from ..filters import FEED_FILTER_FIELDS, device_q, normalise_device_q
from ..reading import SCAN_WINDOW, feed_page, visible_events, wait_for_page
from .streaming import SLOTS, event_stream

FEED_SALT = "devmanager.feed.v1"
FEED_PARAMETERS = ("filter", "q", "page_size", "bookmark", "after", "wait")
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
        operation_id="listFeedEvents",
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
            OpenApiParameter(
                "q",
                {"type": "string", "maxLength": MAX_LENGTH},
                description="One boolean expression (`and`, `or`, `not`, parentheses) over the device fields of the "
                "filter language, applied to the device in `data.device`, ANDed with `filter`, e.g. "
                "`status[in]:EXPIRED,REVOKED or (tags[ct]:critical and not dms_owner[eq]:lab)`. Events without a "
                "device (group and adapter events) always match. At most 4,096 characters, 64 atoms, 16 levels. A "
                f"page looks at no more than {SCAN_WINDOW:,} positions: with a selective `q` it may be short, or "
                "empty, with a `next` further on.",
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
        filters, q, after = _position(params)
        # The caller's DMSs are read now: a stream goes on after the request's restriction has been lifted.
        condition = filter_condition(filters, FEED_FILTER_FIELDS) & _device_condition(q) & visible_events(visible_dms())
        if "text/event-stream" in request.headers.get("Accept", ""):
            return _stream(request, condition, after)
        if wait:
            reads_from_primary()  # a long poll wakes on the primary's notifications: a replica may not have them yet
        events, last = wait_for_page(condition, after, page_size, wait)
        return Response({"next": _bookmark(last, filters, q), "list": [event_object(event) for event in events]})


def _stream(request, condition, after: int | None):
    """Server-Sent Events from the position (or `Last-Event-ID`); a bad position is answered before streaming."""
    last_id = request.headers.get("Last-Event-ID")
    if last_id is not None:
        after = _event_id(last_id, "Last-Event-ID")
    feed_page(condition, after, 1)  # a position gone or not yet handed out: 410 or 400 now, while the answer can say so
    if not SLOTS.take():
        raise exceptions.Throttled(detail="This server streams as many feeds as it may; reconnect shortly.")
    return event_stream(lambda position, size, timeout: wait_for_page(condition, position, size, timeout), after)


def _position(params) -> tuple[list[str], str, int | None]:
    """The filters, the `q` (normalised) and the position to start after, from the bookmark or from `after` (None:
    the oldest kept)."""
    filters, q = params.getlist("filter"), single_param(params, "q") or None  # an empty q is absent
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
        issued_q = payload.get("q", "")  # normalised
        if q is not None and _normalised_q(q) != issued_q:
            raise exceptions.ValidationError({"q": ["differs from the bookmark's q; send the bookmark alone"]})
        return payload["f"], issued_q, payload["a"]
    _normalised(filters)  # a bad filter is a 400 before anything else
    q = _normalised_q(q or "")
    if after is None:
        return filters, q, None
    return filters, q, _event_id(after, "after")


def _event_id(raw: str, name: str) -> int:
    """An event id as a client sends it back: a position, which fits a bigint."""
    return parse_integer(raw, name, None, MAX_POSITION, minimum=0)


def _normalised(filters: list[str]) -> list[str]:
    try:
        return normalise_filters(filters, FEED_FILTER_FIELDS)
    except FilterErrors as exc:
        raise exceptions.ValidationError(exc.errors) from exc


def _normalised_q(q: str) -> str:
    try:
        return normalise_device_q(q)
    except ExpressionError as exc:
        raise exceptions.ValidationError({"q": [str(exc)]}) from exc


def _device_condition(q: str):
    try:
        return device_q(q)
    except ExpressionError as exc:
        raise exceptions.ValidationError({"q": [str(exc)]}) from exc


def _bookmark(position: int, filters: list[str], q: str) -> str:
    return signing.dumps({"a": position, "f": filters, "q": q}, salt=FEED_SALT, compress=True)
