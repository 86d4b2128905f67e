from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.api.serializers import DeviceSerializer
from devices.api.views import (
    DEVICE_ID,
    DEVICE_SEARCH_COLUMNS,
    DEVICE_SORT_FIELDS,
    STATS_PARAMETERS,
    STATS_RESPONSE,
    device_from_path,
    stats_answer,
)
from devices.filters import DEVICE_FILTER_FIELDS
from devices.models import Device
from devmanager.api.filters import FilterLanguageBackend
from devmanager.api.pagination import (
    DEVICE_LIST_PARAMETERS,
    BookmarkPagination,
    ListQueryMixin,
    refuse_unknown_parameters,
)
from devmanager.api.views import created_location, get_by_uuid, not_modified, parse_bool_param, request_source

from .. import services
from ..filters import GROUP_FILTER_FIELDS
from ..models import DeviceGroup
from ..querysets import Membership, attach_inherited, member_devices
from . import examples
from .serializers import (
    DeviceGroupLinkSerializer,
    DeviceGroupSerializer,
    DeviceGroupWriteSerializer,
)

GROUP_ID = OpenApiParameter("group_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The group's id.")
IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="Apply only if the group's ETag matches."
)
WRITE_RULES = (
    "Scope `groups:write` (group definitions are shared: a key limited to DMSs may write them too). `If-Match` with "
    "a stale ETag: 412 `precondition_failed`."
)


def get_group(group_id) -> DeviceGroup:
    """The group of a path id; a string that is not a UUID names no group (404, not 400)."""
    group = get_by_uuid(DeviceGroup.objects.all(), group_id, "device group")
    attach_inherited([group])
    return group


def group_response(group: DeviceGroup, status_code=status.HTTP_200_OK, headers=None) -> Response:
    attach_inherited([group])
    return Response(
        DeviceGroupSerializer(group).data, status=status_code, headers={"ETag": group.etag, **(headers or {})}
    )


@extend_schema_view(
    list=extend_schema(operation_id="listDeviceGroups", summary="List device groups", tags=["device-groups"]),
    create=extend_schema(
        operation_id="createDeviceGroup",
        summary="Create a device group",
        description=f"{WRITE_RULES} The id is generated when absent; the answer carries `Location` and `ETag` "
        "(`group.created` in the feed). 400 `validation_error`: a field invalid or unknown, a `parent_id` that names "
        "no group, more than 16 levels or 32 criteria; 409 `conflict`: the id exists, or a sibling has the name.",
        tags=["device-groups"],
        request=DeviceGroupWriteSerializer,
        responses={201: DeviceGroupSerializer},
        examples=examples.CREATE,
    ),
    retrieve=extend_schema(
        operation_id="getDeviceGroup", summary="Get a device group", tags=["device-groups"], parameters=[GROUP_ID]
    ),
    update=extend_schema(
        operation_id="updateDeviceGroup",
        summary="Update a device group (the fields present replace the stored ones)",
        description=f"{WRITE_RULES} `parent_id: null` makes it a root, `criteria: []` clears them (`group.updated` "
        "in the feed). 400 `validation_error`: a field invalid, or a parent that is the group or one of its "
        "descendants; 409 `conflict`: a sibling has the name.",
        tags=["device-groups"],
        parameters=[GROUP_ID, IF_MATCH],
        request=DeviceGroupWriteSerializer,
        responses={200: DeviceGroupSerializer},
        examples=examples.UPDATE,
    ),
    destroy=extend_schema(
        operation_id="deleteDeviceGroup",
        summary="Delete a device group (children move up, or go with ?cascade=true)",
        description=f"{WRITE_RULES} Its children move up to its parent (roots if it had none), or with "
        "`cascade=true` the whole subtree goes (`group.deleted` in the feed). Devices are never deleted.",
        tags=["device-groups"],
        parameters=[
            GROUP_ID,
            IF_MATCH,
            OpenApiParameter("cascade", OpenApiTypes.BOOL, description="Delete the whole subtree."),
        ],
        examples=examples.DELETE,
    ),
)
class DeviceGroupViewSet(ListQueryMixin, viewsets.GenericViewSet):
    """Hierarchical dynamic device groups."""

    queryset = DeviceGroup.objects.all()
    serializer_class = DeviceGroupSerializer
    filter_backends = [FilterLanguageBackend]
    filter_fields = GROUP_FILTER_FIELDS
    pagination_class = BookmarkPagination
    scope_resource = "groups"
    sort_fields = {"name": "name", "created_at": "created_at", "updated_at": "updated_at"}
    default_sort = "created_at"
    lookup_url_kwarg = "group_id"
    lookup_value_regex = "[^/]+"
    etag_resource = True
    also_requires = ()  # the stats action counts devices: devices:read too

    def get_serializer_class(self):
        # The body of POST and PUT, for OPTIONS (which DRF answers with the view's serializer).
        writing = self.request.method in ("POST", "PUT")
        return DeviceGroupWriteSerializer if writing else DeviceGroupSerializer

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        attach_inherited(page)
        return self.get_paginated_response(DeviceGroupSerializer(page, many=True).data)

    def create(self, request):
        serializer = DeviceGroupWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        group = services.group_create(**serializer.validated_data, actor=request_source(request))
        location = created_location(request, group.pk)
        return group_response(group, status.HTTP_201_CREATED, {"Location": location})

    def retrieve(self, request, group_id=None):
        group = get_group(group_id)
        if not_modified(request, group.etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": group.etag})
        return group_response(group)

    def update(self, request, group_id=None):
        group = get_group(group_id)
        serializer = DeviceGroupWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        if fields.pop("id", group.pk) != group.pk:
            raise serializers.ValidationError({"id": ["a group's id cannot change"]})
        updated = services.group_update(
            group_id=group.pk, if_match=request.headers.get("If-Match"), actor=request_source(request), **fields
        )
        return group_response(updated)

    def destroy(self, request, group_id=None):
        refuse_unknown_parameters(request, ("cascade",))  # `?Cascade=true` must not quietly move the children up
        group = get_group(group_id)
        cascade = parse_bool_param(request, "cascade")
        services.group_delete(
            group_id=group.pk, cascade=cascade, if_match=request.headers.get("If-Match"), actor=request_source(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="getDeviceGroupStats",
        summary="Device counts of a group, in total and per status (or per value of group_by)",
        tags=["device-groups"],
        parameters=[GROUP_ID, *STATS_PARAMETERS],
        responses={200: STATS_RESPONSE},
    )
    @action(detail=True, methods=["get"], also_requires=("devices:read",))
    def stats(self, request, group_id=None):
        return Response(stats_answer(request, member_devices(get_group(group_id))))


@extend_schema_view(
    get=extend_schema(
        operation_id="listDeviceGroupMembers",
        summary="The devices of a group (its criteria and inherited ones), with the device list's parameters",
        tags=["device-groups"],
        parameters=[GROUP_ID],
    )
)
class DeviceGroupDeviceListView(ListQueryMixin, ListAPIView):
    """`GET /device-groups/{id}/devices`: the group's members, with the device list's parameters."""

    serializer_class = DeviceSerializer
    filter_backends = [FilterLanguageBackend]
    filter_fields = DEVICE_FILTER_FIELDS
    query_parameters = DEVICE_LIST_PARAMETERS
    search_columns = DEVICE_SEARCH_COLUMNS
    pagination_class = BookmarkPagination
    scope_resource = "groups"
    also_requires = ("devices:read",)  # it lists devices, which no groups scope may reveal
    sort_fields = DEVICE_SORT_FIELDS
    default_sort = "creation_timestamp"

    def get_queryset(self):
        group = get_group(self.kwargs["group_id"])
        self.bookmark_scope = f"group-devices:{group.pk}"  # the group's id in any case
        return member_devices(group).for_representation()


def _device(device_id: str) -> Device:
    return device_from_path(device_id)


def _link(device: Device, group: DeviceGroup) -> dict:
    return {"device_id": device.pk, "group_id": group.pk, "group": DeviceGroupSerializer(group).data}


@extend_schema_view(
    get=extend_schema(
        operation_id="listDeviceMemberships",
        summary="The groups a device is in",
        tags=["devices"],
        parameters=[DEVICE_ID],
    )
)
class DeviceMembershipListView(ListQueryMixin, ListAPIView):
    """`GET /devices/{id}/device-groups`: one link per group the device is in, with the group list's parameters."""

    serializer_class = DeviceGroupLinkSerializer
    filter_backends = [FilterLanguageBackend]
    filter_fields = GROUP_FILTER_FIELDS
    pagination_class = BookmarkPagination
    scope_resource = "devices"
    sort_fields = DeviceGroupViewSet.sort_fields
    default_sort = "created_at"

    def get_queryset(self):
        self.device = _device(self.kwargs["device_id"])
        self.bookmark_scope = f"device-groups:{self.device.pk}"  # any spelling of the device's path
        self.membership = Membership(self.device)
        return DeviceGroup.objects.filter(pk__in=self.membership.group_ids)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        self.membership.attach_inherited(page)
        return self.get_paginated_response([_link(self.device, group) for group in page])


class DeviceMembershipDetailView(APIView):
    """`GET /devices/{id}/device-groups/{group_id}`: the link, or 404 when the device is not a member."""

    scope_resource = "devices"

    @extend_schema(
        operation_id="getDeviceMembership",
        summary="Whether a device is in a group",
        tags=["devices"],
        parameters=[DEVICE_ID, GROUP_ID],
        responses={200: DeviceGroupLinkSerializer},
    )
    def get(self, request, device_id, group_id):
        device = _device(device_id)
        group = get_group(group_id)
        if not member_devices(group).filter(pk=device.pk).exists():
            raise Http404(f"Device {device.pk!r} is not in group {group.pk}.")
        return Response(_link(device, group))
