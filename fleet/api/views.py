"""`/device-actions`: fleet actions, their dry runs and their jobs (contract, section 9). Scope `devices:read` to
read, `devices:write` to act."""

from urllib.parse import quote

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from devmanager.api.filtering import EnumField
from devmanager.api.filters import FilterLanguageBackend, refuse_too_many_filters
from devmanager.api.pagination import BookmarkPagination, ListQueryMixin
from devmanager.api.views import get_by_uuid, request_source

from .. import services
from ..actions import validated_params
from ..models import Action, Job, JobStatus
from ..selection import normalised
from .serializers import ActionRequestSerializer, DryRunSerializer, JobSerializer

JOB_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's id.")
TAGS = ["device actions"]


def get_job(job_id) -> Job:
    return get_by_uuid(Job.objects.all(), job_id, "job")


@extend_schema_view(
    list=extend_schema(summary="List fleet-action jobs, newest first", tags=TAGS),
    retrieve=extend_schema(summary="Get a job: its status and progress", tags=TAGS, parameters=[JOB_ID]),
)
class DeviceActionViewSet(ListQueryMixin, viewsets.GenericViewSet):
    """Fleet actions and their jobs."""

    queryset = Job.objects.all()
    serializer_class = JobSerializer
    filter_backends = [FilterLanguageBackend]
    filter_fields = {"status": EnumField("status", JobStatus.values), "action": EnumField("action", Action.values)}
    pagination_class = BookmarkPagination
    scope_resource = "devices"
    sort_fields = {"created_at": "created_at"}
    default_sort = "created_at"
    default_sort_mode = "desc"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "head", "options"]

    def get_serializer_class(self):
        return ActionRequestSerializer if self.request.method == "POST" and self.action == "create" else JobSerializer

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(JobSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(JobSerializer(get_job(pk)).data)

    @extend_schema(
        summary="Apply an action to every device a selection matches: a dry run (count, sample, confirmation) or a job",
        tags=TAGS,
        request=ActionRequestSerializer,
        responses={
            200: OpenApiResponse(DryRunSerializer, description="The dry run: nothing was changed."),
            202: OpenApiResponse(JobSerializer, description="The job, queued for the worker."),
        },
    )
    def create(self, request):
        body = ActionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        params = validated_params(data["action"], data.get("params"))
        refuse_too_many_filters(data["filter"])
        filters, q = normalised(data["filter"], data["q"])
        if data["dry_run"]:
            outcome = services.dry_run(action=data["action"], params=params, filters=filters, q=q)
            return Response(DryRunSerializer(outcome).data)
        job = services.job_create(
            action=data["action"],
            params=params,
            filters=filters,
            q=q,
            confirmation=data["confirmation"],
            actor=request_source(request),
        )
        location = request.build_absolute_uri(f"{request.path.rstrip('/')}/{quote(str(job.pk))}")
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(
        summary="Cancel a job: queued, it never runs; running, it stops between two batches (409 once finished)",
        tags=TAGS,
        parameters=[JOB_ID],
        request=None,
        responses={202: JobSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = services.job_cancel(job_id=get_job(pk).pk)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
