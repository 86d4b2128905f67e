from django.db import models
from django.utils import timezone

from devmanager.fields import JSONField

from .choices import DEFAULT_SLOT, DeviceStatus, EventType
from .querysets import DeviceManager


class Device(models.Model):
    """A device of the fleet: identity slots, lifecycle status, tags, metadata and its owning DMS."""

    id = models.CharField(primary_key=True, max_length=255)
    alias = models.CharField(max_length=255, blank=True, default="")
    # The tags in the order given, and the terms the tag filters search (`domain.tag_terms`): on PostgreSQL one GIN
    # index over the terms answers a conjunction of tag filters by intersecting posting lists.
    tags = JSONField(default=list, blank=True)
    tag_terms = JSONField(default=list, blank=True, editable=False)
    status = models.CharField(max_length=32, choices=DeviceStatus.choices, default=DeviceStatus.NO_IDENTITY)
    icon = models.CharField(max_length=255, blank=True, default="")
    icon_color = models.CharField(max_length=15, blank=True, default="")
    dms_owner = models.CharField(max_length=255, blank=True, default="")
    metadata = JSONField(default=dict, blank=True)
    slots = JSONField(default=dict, blank=True)
    # The identity slot's expiration_date, as a column so that refresh_device_status finds due devices by index.
    identity_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Bumped by every write; with the creation time it makes the ETag.
    version = models.PositiveBigIntegerField(default=1)
    creation_timestamp = models.DateTimeField(default=timezone.now)
    updated_timestamp = models.DateTimeField(default=timezone.now)

    objects = DeviceManager()

    class Meta:
        ordering = ["creation_timestamp", "id"]
        indexes = [
            models.Index(fields=["creation_timestamp", "id"], name="device_created_idx"),
            models.Index(fields=["updated_timestamp", "id"], name="device_updated_idx"),
            models.Index(fields=["status", "creation_timestamp", "id"], name="device_status_created_idx"),
            models.Index(fields=["dms_owner", "creation_timestamp", "id"], name="device_dms_created_idx"),
            models.Index(fields=["alias", "id"], name="device_alias_idx"),
            # refresh_device_status's ranges, and the dashboard's counts of an expiry window per DMS and status read
            # from the index alone (INCLUDE is PostgreSQL's: elsewhere a plain partial index). Partial: most fleets
            # hold devices without an identity, which no range query asks for.
            models.Index(
                fields=["identity_expires_at"],
                include=["dms_owner", "status"],
                condition=models.Q(identity_expires_at__isnull=False),
                name="device_identity_expiry_idx",
            ),
        ]

    def __str__(self):
        return self.id

    @property
    def identity(self) -> dict | None:
        return self.slots.get(DEFAULT_SLOT)

    def touch(self, at=None) -> None:
        """Mark a change of the device: a new version (so a new ETag) and `updated_timestamp`; the caller saves."""
        self.version += 1
        self.updated_timestamp = at or timezone.now()

    @property
    def etag(self) -> str:
        """A strong ETag: changes with every write, and differs between two devices that reuse an id."""
        return f'"{self.version}-{int(self.creation_timestamp.timestamp() * 1_000_000):x}"'


class DeviceEvent(models.Model):
    """One entry of a device's append-only history; a device's timestamps strictly increase."""

    # The unique (device, timestamp) index serves lookups by device too.
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="events", db_index=False)
    timestamp = models.DateTimeField()
    type = models.CharField(max_length=32, choices=EventType.choices)
    description = models.TextField(blank=True, default="")
    source = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-timestamp"]
        constraints = [
            models.UniqueConstraint(
                fields=["device", "timestamp"], name="%(app_label)s_%(class)s_unique_device_timestamp"
            ),
        ]

    def __str__(self):
        return f"{self.device_id} {self.type} at {self.timestamp.isoformat()}"
