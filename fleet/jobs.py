"""Running fleet-action jobs in `python manage.py worker`, batch by batch, in parts that run side by side.

A job is run in two kinds of work, each claimed by a worker thread writing its own token into a row (a row nobody
holds, or whose holder's heartbeat is older than `DEVMANAGER_JOB_HEARTBEAT_TIMEOUT`: it died):

- **The selection** (the job's row): the ids the filters match now are copied into `JobDevice` rows by one
  `INSERT … SELECT`; if there are more than the dry run counted, the job fails before changing anything. Devices that
  come to match later (created, or changed since) are not picked up. The ids are then cut into up to
  `DEVMANAGER_JOB_STREAMS` contiguous parts (`JobStream`), so that a large job keeps several threads (and the
  database's cores) busy: a batch's time is half Python and half database, one after the other.
- **A part** (a `JobStream` row): each batch is one transaction that locks the part's row, checks the token is still
  its own and the job still running, acts on the part's next devices (by id, after `cursor`) through the devices'
  services, adds its counts to the job's and saves the part's new `cursor` and heartbeat: a batch's changes and
  progress commit together, so a worker killed between two batches leaves a part that the next one resumes after
  the last device done, and no device is changed twice. The part that finds itself the last one done ends the job.

Locks are taken in one order (a part's row, then the feed's counter as the batch records its events, then the
job's row for the counts), and a batch that finds the job no longer running (cancelled, failed) by then is rolled
back: once a job has ended, no device changes in its name.
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

from devmanager.access import restricted_to

from .actions import ACTIONS
from .models import FINISHED, MAX_ERRORS, Job, JobDevice, JobStatus, JobStream
from .selection import selected

logger = logging.getLogger(__name__)
POLL_SECONDS = 1.0


def run_jobs(stopping: threading.Event) -> None:
    """The worker's loop (registered in apps.py): resolve a job's selection, or run a part of a job to its end or
    until stopping; again."""
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    _forget_selections(Job.objects.all())  # what a worker ending between a job's end and the deletion left behind
    while not stopping.is_set():
        if not work_once(token, stopping):
            stopping.wait(timeout=POLL_SECONDS)


def work_once(token: str, stopping: threading.Event) -> bool:
    """Claim one piece of work and do it: a job's selection, or a part of a job; False if there was none."""
    if (job := claim_selection(token)) is not None:
        select(job.pk, token)
    elif (stream := claim_stream(token)) is not None:
        run(stream.pk, token, stopping)
    else:
        return False
    return True


def _abandoned() -> Q:
    """Work whose holder is gone: handed back, or silent for longer than the heartbeat timeout."""
    stale = timezone.now() - settings.DEVMANAGER_JOB_HEARTBEAT_TIMEOUT
    return Q(worker="") | Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale)


def claim_selection(token: str) -> Job | None:
    """Take the oldest job whose selection is still to resolve, or None."""
    waiting = Q(status=JobStatus.QUEUED) | (Q(status=JobStatus.RUNNING, selected=False) & _abandoned())
    with transaction.atomic():
        job = Job.objects.select_for_update(skip_locked=True).filter(waiting).order_by("created_at").first()
        if job is None:
            return None
        now = timezone.now()
        job.status, job.worker, job.heartbeat_at = JobStatus.RUNNING, token, now
        job.started_at = job.started_at or now
        job.save(update_fields=["status", "worker", "heartbeat_at", "started_at"])
    logger.info("Job %s (%s) claimed.", job.pk, job.action)
    return job


def claim_stream(token: str) -> JobStream | None:
    """Take the first part of the oldest running job that no live worker runs, or None."""
    with transaction.atomic():
        stream = (
            JobStream.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_abandoned(), done=False, job__status=JobStatus.RUNNING)
            .order_by("job__created_at", "number")
            .first()
        )
        if stream is None:
            return None
        stream.worker, stream.heartbeat_at = token, timezone.now()
        stream.save(update_fields=["worker", "heartbeat_at"])
    return stream


def select(job_id, token: str) -> None:
    """Copy the ids the selection matches now into the job's rows and cut them into parts, unless there are more
    than the dry run counted (the job then fails, having changed nothing)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        if job.status != JobStatus.RUNNING or job.worker != token or job.selected:
            return
        if job.cancel_requested:
            _finish(job, JobStatus.CANCELLED, "Cancelled.")
            return
        with transaction.atomic():
            count = _copy_selection(job)
            if count > job.limit:
                transaction.set_rollback(True)
        if count > job.limit:
            _finish(job, JobStatus.FAILED, (
                f"The selection matches {count} devices now, more than the {job.limit} the dry run counted; nothing "
                "was changed. Make a new dry run to act on them."
            ))  # fmt: skip
            return
        job.selected, job.total, job.worker, job.heartbeat_at = True, count, "", None
        job.save(update_fields=["selected", "total", "worker", "heartbeat_at"])
        if count == 0:
            _finish(job, JobStatus.SUCCEEDED, "")
            return
        _cut(job, count)


def _copy_selection(job: Job) -> int:
    with restricted_to(job.dms):  # a restricted key's job selects among its DMSs' devices only
        matching = selected(job.filter, job.q).values("pk")
    sql, params = matching.query.sql_with_params()
    job_key = JobDevice._meta.get_field("job").get_db_prep_value(job.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {JobDevice._meta.db_table} (job_id, device_id) SELECT %s, s.* FROM ({sql}) AS s",
            [job_key, *params],
        )
        return cursor.rowcount


def _cut(job: Job, count: int) -> None:
    """The job's parts: up to DEVMANAGER_JOB_STREAMS, of at least one batch each, contiguous by device id."""
    parts = max(1, min(settings.DEVMANAGER_JOB_STREAMS, count // settings.DEVMANAGER_JOB_BATCH_SIZE))
    ids = JobDevice.objects.filter(job=job).order_by("device_id").values_list("device_id", flat=True)
    cursor = ""
    for number in range(parts):
        # The last part ends at the greatest id, read from the end of the index rather than counted up to.
        last = ids.last() if number == parts - 1 else ids[(number + 1) * count // parts - 1]
        JobStream.objects.create(job=job, number=number, cursor=cursor, last=last)
        cursor = last


def run(stream_id, token: str, stopping: threading.Event) -> None:
    """Batches of a job's part until it ends or the worker stops; a stopping worker hands the part back at once."""
    try:
        while not stopping.is_set():
            if not step(stream_id, token):
                _forget_selections(Job.objects.filter(streams__pk=stream_id))
                return
    except Exception as exc:
        logger.exception("A part of a job stopped on an error.")
        _fail(stream_id, token, f"The job stopped on an error: {exc}")
        _forget_selections(Job.objects.filter(streams__pk=stream_id))
        return
    with transaction.atomic():
        JobStream.objects.filter(pk=stream_id, worker=token).update(worker="", heartbeat_at=None)


def _forget_selections(jobs) -> None:
    """Delete the selection rows of those of these jobs that have ended, in a transaction of their own: the batch
    that ends a job holds the feed's counter until it commits, and every write recording an event would wait for
    the deletion (a million rows, 0.45 s)."""
    JobDevice.objects.filter(job__in=jobs.filter(status__in=FINISHED).values("pk")).delete()


def step(stream_id, token: str) -> bool:
    """One batch of a job's part, in one transaction. False once the part is done or the job has ended (or the part
    is no longer this worker's)."""
    with transaction.atomic():
        stream = JobStream.objects.select_for_update(of=("self",)).select_related("job").get(pk=stream_id)
        job = stream.job
        if stream.done or stream.worker != token or job.status != JobStatus.RUNNING:
            return False
        if job.cancel_requested:
            _end_running(job.pk, JobStatus.CANCELLED, "Cancelled.")
            return False
        device_ids = list(
            JobDevice.objects.filter(job=job, device_id__gt=stream.cursor, device_id__lte=stream.last)
            .order_by("device_id")
            .values_list("device_id", flat=True)[: settings.DEVMANAGER_JOB_BATCH_SIZE]
        )
        with restricted_to(job.dms):  # a device moved out of the key's DMSs since the selection is not touched
            outcomes = ACTIONS[job.action].apply(device_ids, job.params, job.actor) if device_ids else []
        if not _count(job.pk, outcomes):  # the job ended meanwhile: nothing of this batch stays
            transaction.set_rollback(True)
            return False
        stream.cursor, stream.heartbeat_at = (device_ids or [stream.cursor])[-1], timezone.now()
        stream.done = stream.cursor == stream.last or not device_ids
        stream.save(update_fields=["cursor", "heartbeat_at", "done"])
        if stream.done:
            _end_if_last(job.pk)
        return not stream.done


def _count(job_id, outcomes: list) -> bool:
    """Add a batch's outcomes to the job's counters and first errors; False if the job is no longer running."""
    job = Job.objects.select_for_update().get(pk=job_id)
    if job.status != JobStatus.RUNNING:
        return False
    failures = [outcome for outcome in outcomes if outcome.error]
    job.processed += len(outcomes)
    job.failed += len(failures)
    job.succeeded += len(outcomes) - len(failures)
    job.errors += [{"device_id": failure.device_id, "message": failure.error}
                   for failure in failures[: MAX_ERRORS - len(job.errors)]]  # fmt: skip
    job.save(update_fields=["processed", "failed", "succeeded", "errors"])
    return True


def _end_if_last(job_id) -> None:
    """End the job if every part is done (the job's row locked: of two parts ending at once, the second sees both)."""
    job = Job.objects.select_for_update().get(pk=job_id)
    if job.status == JobStatus.RUNNING and not JobStream.objects.filter(job=job, done=False).exists():
        _finish(job, JobStatus.SUCCEEDED, "")


def _end_running(job_id, status: str, message: str) -> None:
    """End the job, unless another part has ended it first (its row locked, its status read again)."""
    job = Job.objects.select_for_update().get(pk=job_id)
    if job.status == JobStatus.RUNNING:
        _finish(job, status, message)


def _finish(job: Job, status: str, message: str) -> None:
    job.status, job.message, job.finished_at, job.worker = status, message, timezone.now(), ""
    job.save(update_fields=["status", "message", "finished_at", "worker"])


def _fail(stream_id, token: str, message: str) -> None:
    try:
        with transaction.atomic():
            stream = JobStream.objects.select_for_update(of=("self",)).get(pk=stream_id)
            if stream.worker == token:
                _end_running(stream.job_id, JobStatus.FAILED, message[:2000])
    except Exception:  # the database is gone: the part stays claimed, and is claimed again once its heartbeat is old
        logger.exception("Job of part %s could not be marked failed.", stream_id)
