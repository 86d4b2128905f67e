import uuid
from datetime import datetime

from django.db import models
from django.utils import timezone

from devmanager.access import CreatedWithinQuerySet, RestrictedManager

EVENT_TYPES = (
    "device.created",
    "device.updated",
    "device.metadata.updated",
    "device.identity.updated",
    "device.status.updated",
    "device.decommissioned",
    "device.deleted",
    "device.adapter.added",
    "device.adapter.updated",
    "device.adapter.removed",
    "group.created",
    "group.updated",
    "group.deleted",
)


class SubscriptionStatus(models.TextChoices):
    HEALTHY = "healthy"
    FAILING = "failing"
    DISABLED = "disabled"


class Subscription(models.Model):
    """A webhook: the feed's events that match `event_types` and `q`, POSTed to `url` in feed order. `position` is
    the last event handed out (delivered, given up, or passed over as not matching); the head event's failed
    attempts so far, and when to try it again, are kept beside it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=1000, blank=True, default="")
    event_types = models.JSONField(default=list)  # names, or prefixes ending in `*`; empty: every type
    q = models.TextField(blank=True, default="")  # a boolean expression over the device of device events
    # The DMSs of the key that created it (None: every device): only their devices' events are delivered.
    dms = models.JSONField(null=True, blank=True, editable=False)
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, editable=False)
    # Secrets replaced by a rotation, each still signing until its expiry: [[secret, ISO expiry], ...].
    previous_secrets = models.JSONField(default=list, blank=True, editable=False)
    # Grows when the services move the cursor or forget its failures (a replay, re-enabling): the worker's
    # bookkeeping applies only to the version it read.
    version = models.PositiveIntegerField(default=0, editable=False)
    position = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)  # failed attempts at `retrying_event`
    retrying_event = models.BigIntegerField(null=True, blank=True)  # the head event that failed
    failing_since = models.DateTimeField(null=True, blank=True)  # the head event's first failure
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_count = models.BigIntegerField(default=0)
    failed_count = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedManager.from_queryset(CreatedWithinQuerySet)()

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["created_at", "id"], name="webhook_created_idx")]

    def __str__(self):
        return self.url

    @property
    def status(self) -> str:
        if not self.active:
            return SubscriptionStatus.DISABLED
        return SubscriptionStatus.FAILING if self.failing_since is not None else SubscriptionStatus.HEALTHY

    def secrets(self, now=None) -> list[str]:
        """The secrets deliveries are signed with: the current one, and each replaced one for 24 h after its
        rotation."""
        return [self.secret, *(secret for secret, _ in self.live_previous_secrets(now))]

    def live_previous_secrets(self, now=None) -> list[list[str]]:
        now = now or timezone.now()
        return [[secret, expires] for secret, expires in self.previous_secrets if datetime.fromisoformat(expires) > now]


class DeliveryOutcome(models.TextChoices):
    DELIVERED = "delivered"
    FAILED = "failed"
    GIVEN_UP = "given_up"


class Delivery(models.Model):
    """One attempt to deliver an event to a subscription, as its delivery log lists it."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.BigIntegerField()
    webhook_id = models.CharField(max_length=100)
    attempt = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=DeliveryOutcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    error = models.TextField(blank=True, default="")
    response = models.TextField(blank=True, default="")  # the first KiB of the answer's body
    timestamp = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["subscription", "-id"], name="delivery_subscription_idx"),
            models.Index(fields=["timestamp"], name="delivery_timestamp_idx"),
        ]

    def __str__(self):
        return f"event {self.event_id} attempt {self.attempt}: {self.outcome}"
