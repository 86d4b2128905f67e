"""`/webhooks`: subscriptions to the fleet feed, their secrets, replays, test sends and delivery log (contract,
section 7). Scopes `webhooks:read` / `webhooks:write`; a write also needs `events:read`, since a subscription
receives the events."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from devmanager.api.filters import FilterLanguageBackend
from devmanager.api.pagination import BookmarkPagination, ListQueryMixin
from devmanager.api.views import created_location, get_by_uuid

from .. import services
from ..models import Delivery, Subscription
from . import examples
from .serializers import (
    DeliverySerializer,
    ReplaySerializer,
    SubscriptionSerializer,
    SubscriptionWithSecretSerializer,
    SubscriptionWriteSerializer,
    TestOutcomeSerializer,
)

WEBHOOK_ID = OpenApiParameter(
    "webhook_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The webhook subscription's id."
)
TAGS = ["webhooks"]
WRITE_RULES = "Scopes `webhooks:write` and `events:read` (a subscription receives the events)."


def get_subscription(subscription_id) -> Subscription:
    return get_by_uuid(Subscription.objects.all(), subscription_id, "webhook")


class WebhookScopes:
    """Reads need `webhooks:read`; writes `webhooks:write` and `events:read`."""

    scope_resource = "webhooks"

    @property
    def also_requires(self) -> tuple[str, ...]:
        return () if self.request.method in permissions.SAFE_METHODS else ("events:read",)


@extend_schema_view(
    list=extend_schema(operation_id="listWebhooks", summary="List webhook subscriptions", tags=TAGS),
    retrieve=extend_schema(
        operation_id="getWebhook", summary="Get a webhook subscription", tags=TAGS, parameters=[WEBHOOK_ID]
    ),
    create=extend_schema(
        operation_id="createWebhook",
        summary="Subscribe an HTTPS endpoint to the feed's events (the answer holds the secret, shown only here)",
        description=f"{WRITE_RULES} The subscription delivers the matching events committed after its creation; "
        "created by a key limited to DMSs, only its devices' events. 400 `validation_error`: a field invalid or "
        "unknown, a `q` that does not parse, a URL not `https:` or whose host resolves to a loopback, private, "
        "link-local or multicast address.",
        tags=TAGS,
        request=SubscriptionWriteSerializer,
        responses={201: SubscriptionWithSecretSerializer},
        examples=examples.CREATE,
    ),
    partial_update=extend_schema(
        operation_id="updateWebhook",
        summary="Change a webhook subscription (`active: true` re-enables a disabled one)",
        description=f"{WRITE_RULES} The fields given replace the stored ones; 400 `validation_error` as at creation.",
        tags=TAGS,
        parameters=[WEBHOOK_ID],
        request=SubscriptionWriteSerializer,
        responses={200: SubscriptionSerializer},
        examples=examples.UPDATE,
    ),
    destroy=extend_schema(
        operation_id="deleteWebhook",
        summary="Delete a webhook subscription",
        description=f"{WRITE_RULES} Nothing more is delivered; its delivery log goes with it.",
        tags=TAGS,
        parameters=[WEBHOOK_ID],
        examples=examples.DELETE,
    ),
)
class WebhookViewSet(WebhookScopes, ListQueryMixin, viewsets.GenericViewSet):
    """Webhook subscriptions."""

    queryset = Subscription.objects.all()
    serializer_class = SubscriptionSerializer
    filter_backends = [FilterLanguageBackend]
    filter_fields: dict = {}
    pagination_class = BookmarkPagination
    sort_fields = {"created_at": "created_at"}
    default_sort = "created_at"
    lookup_url_kwarg = "webhook_id"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_serializer_class(self):
        return SubscriptionWriteSerializer if self.request.method in ("POST", "PATCH") else SubscriptionSerializer

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(SubscriptionSerializer(page, many=True).data)

    def create(self, request):
        serializer = SubscriptionWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = services.subscription_create(**serializer.validated_data)
        location = created_location(request, subscription.pk)
        body = SubscriptionWithSecretSerializer(subscription).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": location})

    def retrieve(self, request, webhook_id=None):
        return Response(SubscriptionSerializer(get_subscription(webhook_id)).data)

    def partial_update(self, request, webhook_id=None):
        subscription = get_subscription(webhook_id)
        serializer = SubscriptionWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        updated = services.subscription_update(subscription_id=subscription.pk, **serializer.validated_data)
        return Response(SubscriptionSerializer(updated).data)

    def destroy(self, request, webhook_id=None):
        services.subscription_delete(subscription_id=get_subscription(webhook_id).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="rotateWebhookSecret",
        summary="A new secret; for 24 hours deliveries are signed with the old one too",
        description=f"{WRITE_RULES} No body. The answer holds the new secret, shown only here.",
        tags=TAGS,
        parameters=[WEBHOOK_ID],
        request=None,
        responses={200: SubscriptionWithSecretSerializer},
        examples=examples.ROTATE_SECRET,
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, webhook_id=None):
        subscription = services.subscription_rotate_secret(subscription_id=get_subscription(webhook_id).pk)
        return Response(SubscriptionWithSecretSerializer(subscription).data)

    @extend_schema(
        operation_id="replayWebhook",
        summary="Deliver again every matching event after an event id",
        description=f"{WRITE_RULES} The subscription's position moves back to `after`; the worker delivers from "
        "there, in feed order. 400 `validation_error`: `after` is not an event id, or is beyond the feed's "
        "last; 410 `gone`: it is older than the events kept.",
        tags=TAGS,
        parameters=[WEBHOOK_ID],
        request=ReplaySerializer,
        responses={202: SubscriptionSerializer},
        examples=examples.REPLAY,
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, webhook_id=None):
        subscription = get_subscription(webhook_id)
        serializer = ReplaySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        replayed = services.subscription_replay(subscription_id=subscription.pk, **serializer.validated_data)
        return Response(SubscriptionSerializer(replayed).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="testWebhook",
        summary="Send a `webhook.test` event now and say how the endpoint answered",
        description=f"{WRITE_RULES} No body. The event is signed as deliveries are; nothing is recorded. An endpoint "
        "that fails is still a 200, whose `error` says why.",
        tags=TAGS,
        parameters=[WEBHOOK_ID],
        request=None,
        responses={200: TestOutcomeSerializer},
        examples=examples.TEST,
    )
    @action(detail=True, methods=["post"])
    def test(self, request, webhook_id=None):
        outcome = services.subscription_test(subscription_id=get_subscription(webhook_id).pk)
        return Response(
            {"status_code": outcome.status_code, "duration_ms": outcome.duration_ms, "error": outcome.error or None}
        )


@extend_schema_view(
    get=extend_schema(
        operation_id="listWebhookDeliveries",
        summary="A webhook's delivery attempts, newest first",
        tags=TAGS,
        parameters=[WEBHOOK_ID],
    )
)
class DeliveryListView(WebhookScopes, ListQueryMixin, ListAPIView):
    """`GET /webhooks/{id}/deliveries`: the delivery log of one subscription."""

    serializer_class = DeliverySerializer
    filter_backends = [FilterLanguageBackend]
    filter_fields: dict = {}
    pagination_class = BookmarkPagination
    sort_fields = {"timestamp": "id"}
    default_sort = "timestamp"
    default_sort_mode = "desc"

    def get_queryset(self):
        subscription = get_subscription(self.kwargs["webhook_id"])
        self.bookmark_scope = f"webhook-deliveries:{subscription.pk}"
        return Delivery.objects.filter(subscription=subscription)
