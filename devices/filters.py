"""The device fields of the filter language (contract, section 2)."""

from adapters.identifiers import normalise_eui, normalise_imei, normalise_uuid
from adapters.models import NetworkAdapter
from devmanager.api.filtering import ArrayField, DateField, EnumField, JsonField, RelatedValueField, StringField

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
    # The identifiers of any of the device's network adapters.
    "imei": RelatedValueField(NetworkAdapter, "device", "imei", normalise_imei),
    "dev_eui": RelatedValueField(NetworkAdapter, "device", "dev_eui", normalise_eui),
    "dvn_uuid": RelatedValueField(NetworkAdapter, "device", "dvn_uuid", normalise_uuid),
}

EVENT_FILTER_FIELDS = {
    "type": EnumField("type", EventType.values),
    "timestamp": DateField("timestamp"),
}
