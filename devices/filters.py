"""The device fields of the filter language (contract, section 2). Apps above `devices` add fields of their own
with `register_device_filter_field` (adapters: the identifiers of a device's adapters)."""

from devmanager.api.filtering import ArrayField, DateField, EnumField, FieldSpec, JsonField, StringField

from .choices import DEFAULT_SLOT, DeviceStatus, EventType

IDENTITY = JsonField("slots", prefix=(DEFAULT_SLOT,))

DEVICE_FILTER_FIELDS = {
    "id": StringField("id"),
    "alias": StringField("alias"),
    "dms_owner": StringField("dms_owner"),
    "status": EnumField("status", DeviceStatus.values),
    "tags": ArrayField("tag_terms", exact_prefix="=", folded_prefix="~"),
    "creation_timestamp": DateField("creation_timestamp"),
    "updated_timestamp": DateField("updated_timestamp"),
    "metadata": JsonField("metadata"),
    # The identity slot is one entry of `slots`: rooting the path there keeps the slots' GIN index usable.
    "identity": IDENTITY,
    "identity_slot": IDENTITY,  # an alias: the same field, so that both spellings normalise alike
}


def register_device_filter_field(name: str, field: FieldSpec) -> None:
    """Make `name` a device field of the filter language, from an app's `AppConfig.ready()`."""
    DEVICE_FILTER_FIELDS[name] = field


EVENT_FILTER_FIELDS = {
    "type": EnumField("type", EventType.values),
    "timestamp": DateField("timestamp"),
}
