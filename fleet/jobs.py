"""Running fleet-action jobs in `python manage.py worker`, batch by batch.

A worker thread claims a job (queued, or running with a heartbeat older than `DEVMANAGER_JOB_HEARTBEAT_TIMEOUT`:
its worker died) by writing its own token into the row. Each batch is one transaction that locks the job's row,
checks the token is still its own and no cancellation was asked, acts on the next devices of the selection (by id,
after `cursor`) through the devices' services, and saves the counters, the first errors, the new `cursor` and the
heartbeat: the devices' changes and the job's progress commit together, so a worker killed between two batches
leaves a job that the next one resumes after the last device done, and no device is changed twice.

The selection is resolved once, in the job's first transaction: the ids the filters match then are copied into
`JobDevice` rows by one `INSERT … SELECT`; if there are more than the dry run counted, the job fails before changing
anything. Devices that come to match later (created, or changed since) are not picked up.
"""

import logging
import os
import socket
import threading
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .actions import ACTIONS
from .models import MAX_ERRORS, Job, JobDevice, JobStatus
from .selection import selected

logger = logging.getLogger(__name__)
POLL_SECONDS = 1.0


def run_jobs(stopping: threading.Event) -> None:
    """The worker's loop (registered in apps.py): claim a job, run it to its end or until stopping; again."""
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    while not stopping.is_set():
        job = claim(token)
        if job is None:
            stopping.wait(timeout=POLL_SECONDS)
            continue
        run(job.pk, token, stopping)


def claim(token: str) -> Job | None:
    """Take the oldest job waiting for a worker, or None."""
    now = timezone.now()
    stale = now - settings.DEVMANAGER_JOB_HEARTBEAT_TIMEOUT
    abandoned = Q(status=JobStatus.RUNNING) & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale))
    with transaction.atomic():
        job = (
            Job.objects.select_for_update(skip_locked=True)
            .filter(Q(status=JobStatus.QUEUED) | abandoned)
            .order_by("created_at")
            .first()
        )
        if job is None:
            return None
        job.status, job.worker, job.heartbeat_at = JobStatus.RUNNING, token, now
        job.started_at = job.started_at or now
        job.save(update_fields=["status", "worker", "heartbeat_at", "started_at"])
    logger.info("Job %s (%s) claimed.", job.pk, job.action)
    return job


def run(job_id, token: str, stopping: threading.Event) -> None:
    """Batches of the job until it ends or the worker stops; a stopping worker hands the job back at once."""
    try:
        while not stopping.is_set():
            if not step(job_id, token):
                return
    except Exception as exc:
        logger.exception("Job %s stopped by an error.", job_id)
        _fail(job_id, token, f"The job stopped on an error: {exc}")
        return
    with transaction.atomic():
        Job.objects.filter(pk=job_id, worker=token, status=JobStatus.RUNNING).update(heartbeat_at=None, worker="")


def step(job_id, token: str) -> bool:
    """One transaction of the job: its selection resolved, or one batch done. False once the job has ended (or is
    no longer this worker's)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status != JobStatus.RUNNING or job.worker != token:
            return False
        if job.cancel_requested:
            _finish(job, JobStatus.CANCELLED, "Cancelled.")
            return False
        if not job.selected:
            return _select(job)
        device_ids = list(
            JobDevice.objects.filter(job=job, device_id__gt=job.cursor)
            .order_by("device_id")
            .values_list("device_id", flat=True)[: settings.DEVMANAGER_JOB_BATCH_SIZE]
        )
        if not device_ids:
            _finish(job, JobStatus.SUCCEEDED, "")
            return False
        outcomes = ACTIONS[job.action].apply(device_ids, job.params, job.actor)
        failures = [outcome for outcome in outcomes if outcome.error]
        job.processed += len(outcomes)
        job.failed += len(failures)
        job.succeeded += len(outcomes) - len(failures)
        room = MAX_ERRORS - len(job.errors)
        job.errors += [{"device_id": failure.device_id, "message": failure.error} for failure in failures[:room]]
        job.cursor, job.heartbeat_at = device_ids[-1], timezone.now()
        job.save(update_fields=["processed", "failed", "succeeded", "errors", "cursor", "heartbeat_at"])
        return True


def _select(job: Job) -> bool:
    """Copy the ids the selection matches now into the job's rows, unless there are more than the dry run counted
    (the job then fails, having changed nothing)."""
    matching = selected(job.filter, job.q).values("pk")
    sql, params = matching.query.sql_with_params()
    job_key = JobDevice._meta.get_field("job").get_db_prep_value(job.pk, connection)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {JobDevice._meta.db_table} (job_id, device_id) SELECT %s, s.* FROM ({sql}) AS s",
            [job_key, *params],
        )
        count = cursor.rowcount
        if count > job.limit:
            transaction.set_rollback(True)
    if count > job.limit:
        _finish(job, JobStatus.FAILED, (
            f"The selection matches {count} devices now, more than the {job.limit} the dry run counted; nothing was "
            "changed. Make a new dry run to act on them."
        ))  # fmt: skip
        return False
    job.selected, job.total, job.heartbeat_at = True, count, timezone.now()
    job.save(update_fields=["selected", "total", "heartbeat_at"])
    return True


def _finish(job: Job, status: str, message: str) -> None:
    job.status, job.message, job.finished_at, job.worker = status, message, timezone.now(), ""
    job.save(update_fields=["status", "message", "finished_at", "worker"])
    JobDevice.objects.filter(job=job).delete()


def _fail(job_id, token: str, message: str) -> None:
    try:
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job_id)
            if job.worker == token and job.status == JobStatus.RUNNING:
                _finish(job, JobStatus.FAILED, message[:2000])
    except Exception:  # the database is gone: the job stays running, and is claimed again once its heartbeat is old
        logger.exception("Job %s could not be marked failed.", job_id)
