from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from devmanager.api.filters import FilterLanguageBackend, counted_devices
from devmanager.api.pagination import (
    DEVICE_LIST_PARAMETERS,
    BookmarkPagination,
    ListQueryMixin,
    parse_integer,
    refuse_unknown_parameters,
    single_param,
)
from devmanager.api.parsers import JSONParser, JSONPatchParser, MergePatchParser
from devmanager.api.views import created_location, not_modified, parse_bool_param, request_source

from .. import services
from ..aggregation import DEFAULT_LIMIT, MAX_LIMIT, count_by
from ..filters import DEVICE_FILTER_FIELDS, EVENT_FILTER_FIELDS
from ..models import Device, DeviceEvent
from . import examples
from .serializers import (
    DeviceCreateSerializer,
    DeviceEventSerializer,
    DeviceSerializer,
    DeviceUpdateSerializer,
    IdentitySlotUpdateSerializer,
    MetadataPatchSerializer,
    MetadataReplaceSerializer,
)

DEVICE_SEARCH_COLUMNS = ("id", "alias")  # `search`: the telco API's device search
DEVICE_SORT_FIELDS = {
    "id": "id",
    "alias": "alias",
    "status": "status",
    "dms_owner": "dms_owner",
    "creation_timestamp": "creation_timestamp",
    "updated_timestamp": "updated_timestamp",
}

# The body of each write, by route and method (OPTIONS describes it).
REQUEST_SERIALIZERS = {
    ("device-list", "POST"): DeviceCreateSerializer,
    ("device-detail", "PUT"): DeviceUpdateSerializer,
    ("device-detail", "PATCH"): DeviceUpdateSerializer,
    ("device-idslot", "PUT"): IdentitySlotUpdateSerializer,
    ("device-metadata", "PUT"): MetadataReplaceSerializer,
    ("device-metadata", "PATCH"): MetadataPatchSerializer,
}

DEVICE_ID = OpenApiParameter(
    "device_id",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The device's id, or imei:…, deveui:…, dvnuuid:… (also as urn:dev:…).",
)
IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="Apply only if the device's ETag matches."
)
# What every device write says: who may, and the errors any of them may answer.
WRITE_RULES = (
    "Scope `devices:write`; a key limited to DMSs reaches only its DMSs' devices (any other: 404 `not_found`). "
    "`If-Match` with a stale ETag: 412 `precondition_failed`."
)


def device_from_path(identifier: str, queryset=None) -> Device:
    """The device a path's `{id}` names (its id or one of its adapters' identifiers), or 404."""
    queryset = Device.objects.only("pk") if queryset is None else queryset
    device = next(iter(queryset.resolve(identifier)), None)
    if device is None:
        raise Http404(f"No device {identifier[:100]!r}.")
    return device


class StatusDistributionSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    status_distribution = serializers.DictField(child=serializers.IntegerField())


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}], "nullable": True})
class BucketKeyField(serializers.JSONField):
    """A bucket's key: a value of the key (a string; a metadata path's may be a number or boolean), or null."""


class BucketSerializer(serializers.Serializer):
    key = BucketKeyField()
    count = serializers.IntegerField()


class CountsByKeySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    group_by = serializers.CharField()
    buckets = BucketSerializer(many=True, help_text="By count, the largest first, then by key; null last.")
    other = serializers.IntegerField(help_text="The sum of the counts of the buckets left out by `limit`.")


STATS_RESPONSE = PolymorphicProxySerializer(
    component_name="DeviceStats",
    serializers=[StatusDistributionSerializer, CountsByKeySerializer],
    resource_type_field_name=None,
)


@extend_schema_view(
    list=extend_schema(operation_id="listDevices", summary="List devices", tags=["devices"]),
    create=extend_schema(
        operation_id="createDevice",
        summary="Create a device",
        description="Scope `devices:write`. The new device is `NO_IDENTITY`, with a `CREATED` event "
        "(`device.created` in the feed); the answer carries `Location` and `ETag`. A key limited to DMSs creates "
        "only into them (`dms_id` elsewhere: 403 `access_denied`). 400 `validation_error`: a field invalid or "
        "unknown; 409 `conflict`: the id exists.",
        tags=["devices"],
        request={"application/json": DeviceCreateSerializer},
        responses={201: DeviceSerializer},
        examples=examples.CREATE,
    ),
    retrieve=extend_schema(
        operation_id="getDevice",
        summary="Get a device, by its id or an adapter's identifier (`imei:…`, `deveui:…`, `dvnuuid:…`)",
        tags=["devices"],
        parameters=[DEVICE_ID],
    ),
    destroy=extend_schema(
        operation_id="deleteDevice",
        summary="Delete a device (decommissioned only, unless forced)",
        description=f"{WRITE_RULES} Deletes the device with its history (`device.deleted` in the feed, which "
        "keeps its events). 409 `conflict`: the device is not `DECOMMISSIONED` and `force` is not true.",
        tags=["devices"],
        parameters=[
            DEVICE_ID,
            IF_MATCH,
            OpenApiParameter("force", OpenApiTypes.BOOL, description="Delete even if not decommissioned."),
        ],
        examples=examples.DELETE,
    ),
)
class DeviceViewSet(ListQueryMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The device resource."""

    queryset = Device.objects.for_representation()
    serializer_class = DeviceSerializer
    filter_backends = [FilterLanguageBackend]
    filter_fields = DEVICE_FILTER_FIELDS
    query_parameters = DEVICE_LIST_PARAMETERS
    search_columns = DEVICE_SEARCH_COLUMNS
    pagination_class = BookmarkPagination
    scope_resource = "devices"
    sort_fields = DEVICE_SORT_FIELDS
    default_sort = "creation_timestamp"
    lookup_url_kwarg = "device_id"
    lookup_value_regex = "[^/]+"
    etag_resource = True
    parser_classes = [JSONParser, MergePatchParser]

    def get_serializer_class(self):
        # The body each write takes, for OPTIONS (which DRF answers with the view's serializer).
        route = self.request.resolver_match.url_name if self.request.resolver_match else None
        return REQUEST_SERIALIZERS.get((route, self.request.method), DeviceSerializer)

    def get_object(self):
        device = device_from_path(self.kwargs["device_id"], self.get_queryset())
        self.check_object_permissions(self.request, device)
        return device

    def _device_response(self, device_id: str, status_code=status.HTTP_200_OK, headers=None) -> Response:
        device = self.get_queryset().get(pk=device_id)
        return Response(
            DeviceSerializer(device).data, status=status_code, headers={"ETag": device.etag, **(headers or {})}
        )

    def create(self, request):
        serializer = DeviceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device = services.device_create(**serializer.validated_data, source=request_source(request))
        location = created_location(request, device.id)
        return self._device_response(device.id, status.HTTP_201_CREATED, {"Location": location})

    def retrieve(self, request, device_id=None):
        device = self.get_object()
        if not_modified(request, device.etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": device.etag})
        return Response(DeviceSerializer(device).data, headers={"ETag": device.etag})

    @extend_schema(
        operation_id="updateDevice",
        summary="Change a device's alias, tags, icon, icon colour or DMS (JSON merge patch)",
        description=f"{WRITE_RULES} The fields given change (`null`: back to the default); a change records one "
        "`UPDATED` event naming the fields (`device.updated` in the feed), a body that changes nothing records "
        "nothing. 400 `validation_error`: a field invalid, or not one of these five; 403 `access_denied`: `dms_id` "
        "outside the key's DMSs.",
        tags=["devices"],
        parameters=[DEVICE_ID, IF_MATCH],
        request={"application/merge-patch+json": DeviceUpdateSerializer, "application/json": DeviceUpdateSerializer},
        responses={200: DeviceSerializer},
        examples=examples.UPDATE,
    )
    def partial_update(self, request, device_id=None):
        return self._update(request, partial=True)

    @extend_schema(
        operation_id="replaceDevice",
        summary="Replace a device's alias, tags, icon, icon colour and DMS (one not given: its default)",
        description=f"{WRITE_RULES} As `updateDevice`, but every one of the five fields is set: one not given goes "
        'back to its default (`""`, `[]`).',
        tags=["devices"],
        parameters=[DEVICE_ID, IF_MATCH],
        request={"application/json": DeviceUpdateSerializer},
        responses={200: DeviceSerializer},
        examples=examples.REPLACE,
    )
    def update(self, request, device_id=None):
        return self._update(request, partial=False)

    def _update(self, request, partial: bool) -> Response:
        device = self.get_object()
        serializer = DeviceUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        services.device_update(
            device_id=device.pk,
            source=request_source(request),
            fields=serializer.validated_data,
            if_match=request.headers.get("If-Match"),
        )
        return self._device_response(device.pk)

    def destroy(self, request, device_id=None):
        refuse_unknown_parameters(request, ("force",))  # `?Force=true` must not quietly delete without force
        device = self.get_object()
        force = parse_bool_param(request, "force")
        services.device_delete(
            device_id=device.pk, source=request_source(request), force=force, if_match=request.headers.get("If-Match")
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="decommissionDevice",
        summary="Decommission a device (final, idempotent)",
        description=f"{WRITE_RULES} Sets `DECOMMISSIONED`, revokes an identity slot not already `EXPIRED` or "
        "`REVOKED`, and records one `DECOMMISSIONED` event. Final: repeating it is a 204 that changes nothing, and a "
        "later identity-slot update is a 409 `conflict`. Metadata stays editable.",
        tags=["devices"],
        parameters=[DEVICE_ID, IF_MATCH],
        responses={204: OpenApiResponse(description="Decommissioned (or already was).")},
        examples=examples.DECOMMISSION,
    )
    @action(detail=True, methods=["delete"])
    def decommission(self, request, device_id=None):
        device = self.get_object()
        services.device_decommission(
            device_id=device.pk, source=request_source(request), if_match=request.headers.get("If-Match")
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="updateDeviceIdentitySlot",
        summary="Set the identity slot",
        description=f"{WRITE_RULES} The device's status becomes the slot's; `versions` are merged into the slot's. "
        "Events: `PROVISIONED` for the first slot, `RENEWED` when `active_version` grows, `STATUS-UPDATED` when the "
        "status changes. 400 `validation_error`: a field invalid or unknown; 409 `conflict`: the device is "
        "decommissioned.",
        tags=["devices"],
        parameters=[DEVICE_ID, IF_MATCH],
        request={"application/json": IdentitySlotUpdateSerializer},
        responses={200: DeviceSerializer},
        examples=examples.IDENTITY_SLOT,
    )
    @action(detail=True, methods=["put"])
    def idslot(self, request, device_id=None):
        device = self.get_object()
        serializer = IdentitySlotUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.device_set_identity_slot(
            device_id=device.pk,
            source=request_source(request),
            if_match=request.headers.get("If-Match"),
            **serializer.validated_data,
        )
        return self._device_response(device.pk)

    @extend_schema(
        methods=["PUT"],
        operation_id="replaceDeviceMetadata",
        summary="Replace the metadata (or patch it with `patches`)",
        description=f"{WRITE_RULES} `metadata` replaces the whole object (at most 64 KiB); `patches` applies RFC 6902 "
        "operations as `updateDeviceMetadata` does. Each change records a `METADATA-UPDATED` event. 400 "
        "`validation_error`: not a JSON object, too large, or an unknown field.",
        tags=["devices"],
        parameters=[DEVICE_ID, IF_MATCH],
        request={"application/json": MetadataReplaceSerializer},  # a bare RFC 6902 array is for PATCH only
        responses={200: DeviceSerializer},
        examples=examples.METADATA_REPLACE,
    )
    @extend_schema(
        methods=["PATCH"],
        operation_id="updateDeviceMetadata",
        summary="Patch the metadata (RFC 6902)",
        description=f"{WRITE_RULES} The patch applies wholly or not at all (all six operations, `null` values "
        "included), and the result is at most 64 KiB; a change records a `METADATA-UPDATED` event. 400 "
        "`validation_error`: a malformed operation (named `patches[i]`); 409 `conflict`: a `test` failed or a path "
        "is missing. Either way nothing changes. The bare RFC 6902 array is taken too, as "
        "`Content-Type: application/json-patch+json`.",
        tags=["devices"],
        parameters=[DEVICE_ID, IF_MATCH],
        # One body type: generated clients break on an operation whose bodies differ by content type (an array
        # among them: openapi-python-client 0.29), so the bare array is in the description (docs/api.md).
        request={"application/json": MetadataPatchSerializer},
        responses={200: DeviceSerializer},
        examples=examples.METADATA_PATCH,
    )
    @action(detail=True, methods=["put", "patch"], parser_classes=[JSONParser, JSONPatchParser])
    def metadata(self, request, device_id=None):
        device = self.get_object()
        data = request.data
        if request.method == "PATCH" and isinstance(data, list):
            data = {"patches": data}  # the bare RFC 6902 array
        serializer = (MetadataReplaceSerializer if request.method == "PUT" else MetadataPatchSerializer)(data=data)
        serializer.is_valid(raise_exception=True)
        common = {
            "device_id": device.pk,
            "source": request_source(request),
            "if_match": request.headers.get("If-Match"),
        }
        if "metadata" in serializer.validated_data:
            services.device_replace_metadata(metadata=serializer.validated_data["metadata"], **common)
        else:
            services.device_apply_metadata_patch(operations=serializer.validated_data["patches"], **common)
        return self._device_response(device.pk)

    @extend_schema(
        operation_id="listDmsDevices",
        summary="List the devices of a DMS",
        tags=["devices"],
        parameters=[OpenApiParameter("dms_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The DMS.")],
        responses={200: DeviceSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], url_path=r"dms/(?P<dms_id>[^/]+)")
    def dms(self, request, dms_id=None):
        queryset = self.filter_queryset(self.get_queryset().filter(dms_owner=dms_id))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DeviceSerializer(page, many=True).data)


@extend_schema_view(
    get=extend_schema(
        operation_id="listDeviceEvents",
        summary="A device's events, newest first",
        tags=["devices"],
        parameters=[DEVICE_ID],
    )
)
class DeviceEventListView(ListQueryMixin, ListAPIView):
    """`GET /devices/{id}/events`: the device's whole history, with bookmarks and filters on type and timestamp."""

    serializer_class = DeviceEventSerializer
    filter_backends = [FilterLanguageBackend]
    filter_fields = EVENT_FILTER_FIELDS
    pagination_class = BookmarkPagination
    scope_resource = "devices"
    sort_fields = {"timestamp": "timestamp"}
    default_sort = "timestamp"
    default_sort_mode = "desc"

    def get_queryset(self):
        device = device_from_path(self.kwargs["device_id"])
        self.bookmark_scope = f"device-events:{device.pk}"  # any spelling of the device's path (id, imei:...)
        return DeviceEvent.objects.filter(device=device)


STATS_FILTER = OpenApiParameter(
    "filter",
    OpenApiTypes.STR,
    many=True,
    description="Repeatable `<field>[<operator>]<value>` expressions, as for `GET /devices`: only the devices matching "
    "all of them are counted.",
)
STATS_Q = OpenApiParameter(
    "q",
    OpenApiTypes.STR,
    description="One boolean expression over the filter language's atoms (`and`, `or`, `not`, parentheses), ANDed "
    "with `filter`: only the devices matching it are counted.",
)


STATS_GROUP_BY = OpenApiParameter(
    "group_by",
    OpenApiTypes.STR,
    description="Count the devices per value of a key instead: `status`, `dms_owner`, `tags` (a device counts under "
    "each of its tags), `icon`, `identity.type`, `identity.status` or `metadata:<JSONPath>` (e.g. "
    "`metadata:$.location`, the first value it selects). Absent values count under the key `null`.",
)
STATS_LIMIT = OpenApiParameter(
    "limit",
    OpenApiTypes.INT,
    description=f"With `group_by`: the number of buckets, the largest first (1 to {MAX_LIMIT}, default "
    f"{DEFAULT_LIMIT}); `other` counts the rest.",
)
STATS_PARAMETERS = [STATS_FILTER, STATS_Q, STATS_GROUP_BY, STATS_LIMIT]


def stats_answer(request, queryset) -> dict:
    """What `/stats` and a group's stats answer for the devices of `queryset`: section 3's totals, or with `group_by`
    the counts per value of a key (section 8)."""
    devices = counted_devices(request, queryset, DEVICE_FILTER_FIELDS, extra=("group_by", "limit"))
    group_by = single_param(request.query_params, "group_by")
    limit = single_param(request.query_params, "limit")
    if group_by is None:
        if limit is not None:
            raise serializers.ValidationError({"limit": ["is only taken with group_by"]})
        return devices.stats()
    return count_by(devices, group_by, parse_integer(limit, "limit", DEFAULT_LIMIT, MAX_LIMIT))


class StatsView(APIView):
    """`GET /stats`: the number of devices, in total and per status (or per value of `group_by`), honouring
    `filter` and `q`."""

    scope_resource = "devices"

    @extend_schema(
        operation_id="getDeviceStats",
        summary="Device statistics",
        tags=["devices"],
        parameters=STATS_PARAMETERS,  # not a filter backend's: drf-spectacular would leave the parameters out
        responses={200: STATS_RESPONSE},
    )
    def get(self, request):
        return Response(stats_answer(request, Device.objects.all()))
