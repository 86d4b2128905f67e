import uuid

from django.db import models
from django.utils import timezone

from devices.models import Device

MAX_ADAPTERS_PER_DEVICE = 16


class AdapterType(models.TextChoices):
    CELLULAR = "cellular"
    LORA = "lora"
    GENERIC = "generic"

    @property
    def identifier_field(self) -> str:
        """The field that identifies an adapter of this type, unique across all devices."""
        return {"cellular": "imei", "lora": "dev_eui", "generic": "dvn_uuid"}[self.value]


class Activation(models.TextChoices):
    OTAA = "OTAA"
    ABP = "ABP"


class NetworkAdapter(models.Model):
    """A device's network interface and the identifier networks know it by, unique across all devices."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="adapters")
    type = models.CharField(max_length=16, choices=AdapterType.choices)
    # cellular
    imei = models.CharField(max_length=16, null=True, blank=True, unique=True)
    iccid = models.CharField(max_length=22, null=True, blank=True)
    imsi = models.CharField(max_length=15, null=True, blank=True)
    msisdn = models.CharField(max_length=16, null=True, blank=True)
    # lora
    dev_eui = models.CharField(max_length=16, null=True, blank=True, unique=True)
    join_eui = models.CharField(max_length=16, null=True, blank=True)
    activation = models.CharField(max_length=4, choices=Activation.choices, null=True, blank=True)
    # generic
    dvn_uuid = models.UUIDField(null=True, blank=True, unique=True)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(type=AdapterType.CELLULAR, imei__isnull=False)
                    | models.Q(type=AdapterType.LORA, dev_eui__isnull=False)
                    | models.Q(type=AdapterType.GENERIC, dvn_uuid__isnull=False)
                ),
                name="%(app_label)s_%(class)s_identifier_of_type",
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.identifier}"

    @property
    def identifier(self) -> str:
        return str(getattr(self, AdapterType(self.type).identifier_field))
