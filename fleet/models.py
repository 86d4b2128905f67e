import uuid

from django.db import models
from django.utils import timezone

from devmanager.access import CreatedWithinQuerySet, RestrictedManager


class Action(models.TextChoices):
    ADD_TAGS = "add_tags"
    REMOVE_TAGS = "remove_tags"
    SET_DMS = "set_dms"
    PATCH_METADATA = "patch_metadata"
    DECOMMISSION = "decommission"
    DELETE = "delete"


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # it ran to the end, even if some devices failed
    FAILED = "failed"  # the job itself could not run: `message` says why
    CANCELLED = "cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
MAX_ERRORS = 100  # the devices' errors a job keeps: the first ones


class Job(models.Model):
    """A fleet action (contract, section 9): one change applied by the worker to every device a selection matches,
    batch by batch (fleet/jobs.py). The row is the job's truth: its state and counters; who resolves its selection
    (`worker`, alive while `heartbeat_at` is recent); its parts (`JobStream`) say how far each has gone."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.CharField(max_length=32, choices=Action.choices)
    params = models.JSONField(default=dict, blank=True)
    filter = models.JSONField(default=list, blank=True)  # the selection's filters, normalised
    q = models.TextField(blank=True, default="")  # and its expression, normalised
    limit = models.PositiveBigIntegerField()  # the devices the dry run counted: the job never acts on more
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    message = models.TextField(blank=True, default="")
    total = models.PositiveBigIntegerField(default=0)
    processed = models.PositiveBigIntegerField(default=0)
    succeeded = models.PositiveBigIntegerField(default=0)
    failed = models.PositiveBigIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # the first MAX_ERRORS {"device_id", "message"}
    selected = models.BooleanField(default=False)  # the selection is resolved into `JobDevice` rows
    cancel_requested = models.BooleanField(default=False)
    worker = models.CharField(max_length=64, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    actor = models.CharField(max_length=300, blank=True, default="")
    # The DMSs of the key that started the job (None: every device): its selection and batches see only theirs.
    dms = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedManager.from_queryset(CreatedWithinQuerySet)()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at", "id"], name="job_created_idx"),
            models.Index(fields=["status", "created_at"], name="job_status_idx"),
        ]

    def __str__(self):
        return f"{self.action} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class JobDevice(models.Model):
    """A device of a job's selection, resolved when the job starts: the job walks these by id, so that devices that
    come to match later (created, or changed, since) are left alone."""

    # No constraint in the database: `_copy_selection` writes a job's rows in the transaction that holds the job's
    # row locked, so the reference cannot fail, and checking it cost a million-device job 3.4 s at its commit
    # (docs/benchmarks.md). Deleting a job deletes its rows all the same (Django's cascade).
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="devices", db_index=False, db_constraint=False)
    device_id = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "device_id"], name="job_device_unique")]

    def __str__(self):
        return f"{self.job_id}: {self.device_id}"


class JobStream(models.Model):
    """A part of a job's selection (its devices after `cursor` up to `last`, by id), run batch by batch by one worker
    thread: a job's parts run side by side, in the threads of one worker or of several. `cursor` is the last device
    done, committed with each batch's changes; `worker` runs the part while `heartbeat_at` is recent."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="streams")
    number = models.PositiveSmallIntegerField()
    cursor = models.CharField(max_length=255, blank=True, default="")
    last = models.CharField(max_length=255)
    done = models.BooleanField(default=False)
    worker = models.CharField(max_length=64, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="job_stream_unique")]

    def __str__(self):
        return f"{self.job_id} #{self.number}"
