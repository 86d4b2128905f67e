import uuid

from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.api.views import DEVICE_ID, IF_MATCH, device_from_path
from devmanager.api.pagination import parse_page_size, refuse_unknown_parameters
from devmanager.api.views import created_location, request_source

from .. import services
from ..filters import NetworkAdapterFilterSet
from ..models import AdapterType, NetworkAdapter
from . import examples
from .serializers import NetworkAdapterSerializer, NetworkAdapterWriteSerializer, network_adapter_schema

ADAPTER_ID = OpenApiParameter("adapter_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The adapter's id.")
WRITE_RULES = (
    "Scope `devices:write`; a key limited to DMSs reaches only its DMSs' devices (any other: 404 `not_found`). "
    "`If-Match` is checked against the device's ETag (412 `precondition_failed`)."
)
# The list answers in the shape of every list, though it is never more than one page.
ADAPTER_LIST = inline_serializer(
    "NetworkAdapterList",
    fields={
        "next": serializers.CharField(help_text="Always empty: a device's adapters fit in one page."),
        "list": network_adapter_schema(many=True),
    },
)


class NetworkAdapterListView(GenericAPIView):
    """`/devices/{id}/network-adapters`: a device's adapters (all in one page; at most 16) and adding one."""

    scope_resource = "devices"
    filter_backends = [DjangoFilterBackend]
    filterset_class = NetworkAdapterFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the model, with no device in the path
            return NetworkAdapter.objects.none()
        return NetworkAdapter.objects.filter(device=device_from_path(self.kwargs["device_id"]))

    def get_serializer(self, *args, **kwargs):
        return NetworkAdapterWriteSerializer(*args, **kwargs)  # the body of POST, which OPTIONS describes

    @extend_schema(
        operation_id="listNetworkAdapters",
        summary="A device's network adapters",
        tags=["network-adapters"],
        filters=True,  # `type`, from the filter set: the answer is a list, though not a paginated one
        parameters=[
            DEVICE_ID,
            OpenApiParameter(
                "page_size", OpenApiTypes.INT, description="Accepted (1 to 1000) and moot: one page holds them all."
            ),
        ],
        responses={200: ADAPTER_LIST},
    )
    def get(self, request, device_id):
        # `page_size`, which generic list clients send, is checked and has nothing to do: one page holds them all.
        refuse_unknown_parameters(request, ("type", "page_size"))
        parse_page_size(request)
        types = request.query_params.getlist("type")
        if len(types) > 1:  # django-filter would read the last one
            raise exceptions.ValidationError({"type": ["must be given at most once"]})
        if types == [""]:  # django-filter would read no filter
            raise exceptions.ValidationError({"type": [f"must be one of {', '.join(AdapterType.values)}"]})
        adapters = self.filter_queryset(self.get_queryset())
        return Response({"next": "", "list": NetworkAdapterSerializer(adapters, many=True).data})

    @extend_schema(
        operation_id="createNetworkAdapter",
        summary="Add a network adapter",
        description=f"{WRITE_RULES} Adds a `cellular` (`imei`), `lora` (`dev_eui`) or `generic` (`dvn_uuid`, "
        "generated when absent) adapter, stored normalised (`device.adapter.added` in the feed). 400 "
        "`validation_error`: an invalid identifier or a field of another type; 409 `conflict`: another adapter has "
        "the identifier, or the device has 16 already.",
        tags=["network-adapters"],
        parameters=[DEVICE_ID],
        request=NetworkAdapterWriteSerializer,
        responses={201: network_adapter_schema()},
        examples=examples.CREATE,
    )
    def post(self, request, device_id):
        device = device_from_path(device_id)
        serializer = NetworkAdapterWriteSerializer(data=request.data, context={"creating": True})
        serializer.is_valid(raise_exception=True)
        adapter = services.adapter_create(
            device_id=device.pk, actor=request_source(request), **serializer.validated_data
        )
        location = created_location(request, adapter.pk)
        return Response(
            NetworkAdapterSerializer(adapter).data, status=status.HTTP_201_CREATED, headers={"Location": location}
        )


class NetworkAdapterDetailView(APIView):
    """`/devices/{id}/network-adapters/{adapter_id}`: update the non-identifying fields, or delete."""

    scope_resource = "devices"
    etag_resource = True  # PUT and DELETE honour If-Match against the device's ETag (412)

    def get_serializer(self, *args, **kwargs):
        return NetworkAdapterWriteSerializer(*args, **kwargs)  # the body of PUT, which OPTIONS describes

    def _adapter(self, device_id: str, adapter_id: str) -> NetworkAdapter:
        device = device_from_path(device_id)
        try:
            return NetworkAdapter.objects.get(device=device, pk=uuid.UUID(adapter_id))
        except (ValueError, NetworkAdapter.DoesNotExist) as exc:
            raise Http404(f"No network adapter {adapter_id[:100]!r} on device {device.pk[:100]!r}.") from exc

    @extend_schema(
        operation_id="updateNetworkAdapter",
        summary="Update a network adapter (its identifier and type never change)",
        description=f"{WRITE_RULES} The fields given replace the stored ones (`device.adapter.updated` in the feed); "
        "the identifier equal to the stored one is a no-op. 400 `validation_error`: a different identifier or type, "
        "or a field of another type.",
        tags=["network-adapters"],
        parameters=[DEVICE_ID, ADAPTER_ID, IF_MATCH],
        request=NetworkAdapterWriteSerializer,
        responses={200: network_adapter_schema()},
        examples=examples.UPDATE,
    )
    def put(self, request, device_id, adapter_id):
        adapter = self._adapter(device_id, adapter_id)
        serializer = NetworkAdapterWriteSerializer(data=request.data, context={"type": adapter.type})
        serializer.is_valid(raise_exception=True)
        updated = services.adapter_update(
            adapter=adapter,
            if_match=request.headers.get("If-Match"),
            actor=request_source(request),
            **serializer.validated_data,
        )
        return Response(NetworkAdapterSerializer(updated).data)

    @extend_schema(
        operation_id="deleteNetworkAdapter",
        summary="Delete a network adapter",
        description=f"{WRITE_RULES} Removes the adapter (`device.adapter.removed` in the feed): the device is no "
        "longer found by its identifier. 404 `not_found`: no such adapter on that device.",
        tags=["network-adapters"],
        parameters=[DEVICE_ID, ADAPTER_ID, IF_MATCH],
        responses={204: None},
        examples=examples.DELETE,
    )
    def delete(self, request, device_id, adapter_id):
        adapter = self._adapter(device_id, adapter_id)
        services.adapter_delete(
            adapter=adapter, if_match=request.headers.get("If-Match"), actor=request_source(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
