"""`/api-keys`: creating, listing and revoking API keys through the API (contract, section 10). Every method needs
`keys:write`. A key sees, revokes and creates only keys within it (`ApiKey.covers`): any other key answers 404, as a
missing one does. A staff session sees every key and may grant anything."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.response import Response

from devmanager.api.filters import FilterLanguageBackend
from devmanager.api.pagination import BookmarkPagination, ListQueryMixin
from devmanager.api.views import created_location

from .. import services
from ..models import ApiKey
from . import examples
from .serializers import ApiKeySerializer, ApiKeyWithPlaintextSerializer, ApiKeyWriteSerializer

KEY_ID = OpenApiParameter("key_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The API key's id.")
TAGS = ["api-keys"]
MAX_KEY_ID = 2**63 - 1  # a bigint


def granting_key(request) -> ApiKey | None:
    """The key acting, which bounds what it sees and grants; None for a staff session, which is unrestricted."""
    return request.auth if isinstance(request.auth, ApiKey) else None


@extend_schema_view(
    list=extend_schema(
        operation_id="listApiKeys", summary="List the API keys within the calling key, newest first", tags=TAGS
    ),
    retrieve=extend_schema(operation_id="getApiKey", summary="Get an API key", tags=TAGS, parameters=[KEY_ID]),
    create=extend_schema(
        operation_id="createApiKey",
        summary="Create an API key with at most the calling key's scopes, DMSs and lifetime (the answer holds the "
        "key, shown only here)",
        description="Scope `keys:write`. Only the key's hash is stored. 400 `validation_error`: a field invalid or "
        "unknown, an unknown scope; 403 `access_denied` (naming `scopes`, `dms` or `expires_at`): more scopes, other "
        "DMSs or a longer life than the calling key has.",
        tags=TAGS,
        request=ApiKeyWriteSerializer,
        responses={201: ApiKeyWithPlaintextSerializer},
        examples=examples.CREATE,
    ),
    destroy=extend_schema(
        operation_id="revokeApiKey",
        summary="Revoke an API key (at once, everywhere; revoking a revoked key changes nothing)",
        description="Scope `keys:write`. Every process refuses the key at once (401 `invalid_apikey`). 404 "
        "`not_found`: no such key among those within the calling key.",
        tags=TAGS,
        parameters=[KEY_ID],
        responses={204: None},
        examples=examples.REVOKE,
    ),
)
class ApiKeyViewSet(ListQueryMixin, viewsets.GenericViewSet):
    """API keys; `keys:write` for every method, reads included, since the list shows who holds which access."""

    scope_resource = "keys"
    scope_access = "write"
    serializer_class = ApiKeySerializer
    filter_backends = [FilterLanguageBackend]
    filter_fields: dict = {}
    pagination_class = BookmarkPagination
    sort_fields = {"created_at": "created_at"}
    default_sort = "created_at"
    default_sort_mode = "desc"
    lookup_url_kwarg = "key_id"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        return ApiKey.objects.within(granting_key(self.request))

    def get_serializer_class(self):
        return ApiKeyWriteSerializer if self.request.method == "POST" else ApiKeySerializer

    def get_object(self) -> ApiKey:
        """The key of the path's id among those the caller may see; anything else (another key, not an id) is 404."""
        raw = self.kwargs["key_id"]
        found = None
        if raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_KEY_ID)) and int(raw) <= MAX_KEY_ID:
            found = self.get_queryset().filter(pk=int(raw)).first()
        if found is None:
            raise Http404(f"No API key {raw[:100]!r}.")
        return found

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ApiKeySerializer(page, many=True).data)

    def create(self, request):
        serializer = ApiKeyWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, plaintext = services.api_key_create(**serializer.validated_data, granted_by=granting_key(request))
        location = created_location(request, key.pk)
        body = ApiKeyWithPlaintextSerializer(key, context={"plaintext": plaintext}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": location})

    def retrieve(self, request, key_id=None):
        return Response(ApiKeySerializer(self.get_object()).data)

    def destroy(self, request, key_id=None):
        services.api_key_revoke(key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
