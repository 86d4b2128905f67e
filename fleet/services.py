"""Fleet actions: dry runs, jobs and their cancellation (contract, section 9). The worker runs the jobs (jobs.py)."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from devmanager.access import visible_dms_list
from devmanager.errors import Conflict, Invalid, NotFound

from . import selection
from .actions import ACTIONS
from .models import Job, JobStatus


@dataclass(frozen=True)
class DryRun:
    count: int
    sample: list[str]
    confirmation: str


def dry_run(*, action: str, params: dict, filters: list[str], q: str) -> DryRun:
    """How many devices the action would act on now, ten of them, and the confirmation its execution needs.
    `params`, `filters` and `q` are normalised (`actions.validated_params`, `selection.normalised`)."""
    ACTIONS[action].authorise(params)
    devices = selection.selected(filters, q)
    count = devices.count()
    token = selection.confirmation(action, params, filters, q, count)
    return DryRun(count, selection.sample(devices) if count else [], token)


def job_create(*, action: str, params: dict, filters: list[str], q: str, confirmation: str, actor: str) -> Job:
    """A queued job for the worker. A selection of more than one device needs the `confirmation` of a dry run of the
    same action, params and selection; the job never acts on more devices than that dry run counted. A restricted
    key's job acts within its DMSs (`dms`), as its dry run counted."""
    ACTIONS[action].authorise(params)
    if confirmation:
        limit = selection.confirmed_count(confirmation, action, params, filters, q)
    else:
        limit = selection.selected(filters, q).count()
        if limit > 1:
            raise Invalid({"confirmation": [
                f"the selection matches {limit} devices: acting on more than one needs the confirmation of a dry run"
            ]})  # fmt: skip
    return Job.objects.create(
        action=action, params=params, filter=filters, q=q, limit=limit, actor=actor, dms=visible_dms_list()
    )


@transaction.atomic
def job_cancel(*, job_id) -> Job:
    """Stop a job: a queued one at once, a running one between two batches (the devices changed stay changed); a
    Conflict when it has finished."""
    try:
        job = Job.objects.select_for_update().get(pk=job_id)
    except Job.DoesNotExist as exc:
        raise NotFound(f"No job {str(job_id)!r}.") from exc
    if job.finished:
        raise Conflict(f"The job has already finished ({job.status}).")
    if job.status == JobStatus.QUEUED:
        job.status, job.finished_at, job.message = JobStatus.CANCELLED, timezone.now(), "Cancelled before it started."
    job.cancel_requested = True
    job.save(update_fields=["status", "finished_at", "message", "cancel_requested"])
    return job
