"""`/device-actions`: fleet actions, their dry runs and their jobs (contract, section 9). Scope `devices:read` to
read, `devices:write` to act."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from devmanager.api.filtering import EnumField
from devmanager.api.filters import FilterLanguageBackend, refuse_too_many_filters
from devmanager.api.pagination import BookmarkPagination, ListQueryMixin
from devmanager.api.views import created_location, get_by_uuid, request_source

from .. import services
from ..actions import validated_params
from ..models import Action, Job, JobStatus
from ..selection import normalised
from . import examples
from .serializers import ActionRequestSerializer, DryRunSerializer, JobSerializer

JOB_ID = OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job's id.")
TAGS = ["device actions"]


def get_job(job_id) -> Job:
    return get_by_uuid(Job.objects.all(), job_id, "job")


@extend_schema_view(
    list=extend_schema(operation_id="listDeviceActionJobs", summary="List fleet-action jobs, newest first", tags=TAGS),
    retrieve=extend_schema(
        operation_id="getDeviceActionJob",
        summary="Get a job: its status and progress",
        tags=TAGS,
        parameters=[JOB_ID],
    ),
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
    lookup_url_kwarg = "job_id"
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "head", "options"]

    def get_serializer_class(self):
        return ActionRequestSerializer if self.request.method == "POST" and self.action == "create" else JobSerializer

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(JobSerializer(page, many=True).data)

    def retrieve(self, request, job_id=None):
        return Response(JobSerializer(get_job(job_id)).data)

    @extend_schema(
        operation_id="runDeviceAction",
        summary="Apply an action to every device a selection matches: a dry run (count, sample, confirmation) or a job",
        description="Scope `devices:write`; a key limited to DMSs selects only its DMSs' devices. `dry_run: true` "
        "counts and changes nothing (200); otherwise a job is queued for the worker (202, `Location` set), which "
        "never acts on more devices than the dry run counted. 400 `validation_error`: an unknown action, bad params, "
        "filter or `q`, or a selection of more than one device without a valid `confirmation` of a dry run of the "
        "same action, params and selection; 403 `access_denied`: `set_dms` to a DMS outside the key's.",
        tags=TAGS,
        request=ActionRequestSerializer,
        responses={
            200: OpenApiResponse(DryRunSerializer, description="The dry run: nothing was changed."),
            202: OpenApiResponse(JobSerializer, description="The job, queued for the worker."),
        },
        examples=examples.RUN,
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
        location = created_location(request, job.pk)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(
        operation_id="cancelDeviceActionJob",
        summary="Cancel a job: queued, it never runs; running, it stops between two batches (409 once finished)",
        description="Scope `devices:write`. No body. Devices already changed stay changed. 409 `conflict`: the job "
        "has already finished.",
        tags=TAGS,
        parameters=[JOB_ID],
        request=None,
        responses={202: JobSerializer},
        examples=examples.CANCEL,
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, job_id=None):
        job = services.job_cancel(job_id=get_job(job_id).pk)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
