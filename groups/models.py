import uuid

from django.db import models
from django.utils import timezone
from mptt.models import MPTTModel, TreeForeignKey

MAX_DEPTH = 16  # a root is level 1
MAX_CRITERIA = 32


class DeviceGroup(MPTTModel):
    """A dynamic group: devices matching its criteria and `q`, and all its ancestors' criteria and `q`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    parent = TreeForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    # [{"field", "operand", "value"}], each one an expression of the filter language.
    criteria = models.JSONField(default=list, blank=True)
    # One boolean expression of the filter language (contract, section 8), ANDed with the criteria; "" is none.
    q = models.TextField(blank=True, default="")
    version = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class MPTTMeta:
        order_insertion_by = []

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="%(app_label)s_%(class)s_unique_parent_name"),
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(parent__isnull=True),
                name="%(app_label)s_%(class)s_unique_root_name",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="devicegroup_created_idx"),
            models.Index(fields=["updated_at", "id"], name="devicegroup_updated_idx"),
            models.Index(fields=["name", "id"], name="devicegroup_name_idx"),
        ]

    def __str__(self):
        return self.name

    @property
    def etag(self) -> str:
        return f'"{self.version}-{int(self.created_at.timestamp() * 1_000_000):x}"'


class GroupMemberCount(models.Model):
    """A group's member count as last counted (groups/counting.py): what the group tree and the dashboard show."""

    group = models.OneToOneField(DeviceGroup, primary_key=True, on_delete=models.CASCADE, related_name="counted")
    devices = models.PositiveBigIntegerField()
    # When the count began: a change of the group or of an ancestor after it makes the count stale.
    counted_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["-devices"], name="groupmembercount_devices_idx")]

    def __str__(self):
        return f"{self.group_id}: {self.devices} devices at {self.counted_at.isoformat()}"
