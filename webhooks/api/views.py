"""`/webhooks`: subscriptions to the fleet feed, their secrets, replays, test sends and delivery log (contract,
section 7). Scopes `webhooks:read` / `webhooks:write`; a write also needs `events:read`, since a subscription
receives the events."""

from urllib.parse import quote

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from devmanager.api.filters import FilterLanguageBackend
from devmanager.api.pagination import BookmarkPagination, ListQueryMixin
from devmanager.api.views import get_by_uuid

from .. import services
from ..models import Delivery, Subscription
from .serializers import (
    DeliverySerializer,
    ReplaySerializer,
    SubscriptionSerializer,
    SubscriptionWithSecretSerializer,
    SubscriptionWriteSerializer,
    TestOutcomeSerializer,
)

WEBHOOK_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The webhook's id.")
TAGS = ["webhooks"]


def get_subscription(subscription_id) -> Subscription:
    return get_by_uuid(Subscription.objects.all(), subscription_id, "webhook")


class WebhookScopes:
    """Reads need `webhooks:read`; writes `webhooks:write` and `events:read`."""

    scope_resource = "webhooks"

    @property
    def also_requires(self) -> tuple[str, ...]:
        return () if self.request.method in permissions.SAFE_METHODS else ("events:read",)


@extend_schema_view(
    list=extend_schema(summary="List webhook subscriptions", tags=TAGS),
    retrieve=extend_schema(summary="Get a webhook subscription", tags=TAGS, parameters=[WEBHOOK_ID]),
    create=extend_schema(
        summary="Subscribe an HTTPS endpoint to the feed's events (the answer holds the secret, shown only here)",
        tags=TAGS,
        request=SubscriptionWriteSerializer,
        responses={201: SubscriptionWithSecretSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a webhook subscription (`active: true` re-enables a disabled one)",
        tags=TAGS,
        parameters=[WEBHOOK_ID],
        request=SubscriptionWriteSerializer,
        responses={200: SubscriptionSerializer},
    ),
    destroy=extend_schema(summary="Delete a webhook subscription", tags=TAGS, parameters=[WEBHOOK_ID]),
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
        location = request.build_absolute_uri(f"{request.path.rstrip('/')}/{quote(str(subscription.pk))}")
        body = SubscriptionWithSecretSerializer(subscription).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": location})

    def retrieve(self, request, pk=None):
        return Response(SubscriptionSerializer(get_subscription(pk)).data)

    def partial_update(self, request, pk=None):
        subscription = get_subscription(pk)
        serializer = SubscriptionWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        updated = services.subscription_update(subscription_id=subscription.pk, **serializer.validated_data)
        return Response(SubscriptionSerializer(updated).data)

    def destroy(self, request, pk=None):
        services.subscription_delete(subscription_id=get_subscription(pk).pk)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="A new secret; for 24 hours deliveries are signed with the old one too",
        tags=TAGS,
        parameters=[WEBHOOK_ID],
        request=None,
        responses={200: SubscriptionWithSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        subscription = services.subscription_rotate_secret(subscription_id=get_subscription(pk).pk)
        return Response(SubscriptionWithSecretSerializer(subscription).data)

    @extend_schema(
        summary="Deliver again every matching event after an event id",
        tags=TAGS,
        parameters=[WEBHOOK_ID],
        request=ReplaySerializer,
        responses={202: SubscriptionSerializer},
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        subscription = get_subscription(pk)
        serializer = ReplaySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        replayed = services.subscription_replay(subscription_id=subscription.pk, **serializer.validated_data)
        return Response(SubscriptionSerializer(replayed).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Send a `webhook.test` event now and say how the endpoint answered",
        tags=TAGS,
        parameters=[WEBHOOK_ID],
        request=None,
        responses={200: TestOutcomeSerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        outcome = services.subscription_test(subscription_id=get_subscription(pk).pk)
        return Response(
            {"status_code": outcome.status_code, "duration_ms": outcome.duration_ms, "error": outcome.error or None}
        )


@extend_schema_view(
    get=extend_schema(summary="A webhook's delivery attempts, newest first", tags=TAGS, parameters=[WEBHOOK_ID])
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
        subscription = get_subscription(self.kwargs["pk"])
        self.bookmark_scope = f"webhook-deliveries:{subscription.pk}"
        return Delivery.objects.filter(subscription=subscription)
