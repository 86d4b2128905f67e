from django.db import models


class DeviceStatus(models.TextChoices):
    NO_IDENTITY = "NO_IDENTITY"
    ACTIVE = "ACTIVE"
    RENEWAL_WINDOW = "RENEWAL_WINDOW"
    ABOUT_TO_EXPIRE = "ABOUT_TO_EXPIRE"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    DECOMMISSIONED = "DECOMMISSIONED"


# The statuses whose identity no longer matters: left out of the identity expiry windows (dashboard, admin).
RETIRED_STATUSES = (DeviceStatus.REVOKED, DeviceStatus.DECOMMISSIONED)


class SlotStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    RENEWAL_WINDOW = "RENEWAL_WINDOW"
    ABOUT_TO_EXPIRE = "ABOUT_TO_EXPIRE"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


class EventType(models.TextChoices):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    PROVISIONED = "PROVISIONED"
    RENEWED = "RENEWED"
    IDENTITY_UPDATED = "IDENTITY-UPDATED"
    STATUS_UPDATED = "STATUS-UPDATED"
    METADATA_UPDATED = "METADATA-UPDATED"
    DECOMMISSIONED = "DECOMMISSIONED"


SLOT_TYPES = ("X509", "TOKEN", "SSH_KEY", "OTHER")

# The identity slot is the slot of this name in `Device.slots`.
DEFAULT_SLOT = "default"
