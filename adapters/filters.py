"""The filter language's fields for a device's adapters: the identifiers of any of them (`imei[eq]:…`)."""

from devmanager.api.filtering import RelatedValueField

from .identifiers import normalise_eui, normalise_imei, normalise_uuid
from .models import NetworkAdapter

ADAPTER_IDENTIFIER_FIELDS = {
    "imei": RelatedValueField(NetworkAdapter, "device", "imei", normalise_imei),
    "dev_eui": RelatedValueField(NetworkAdapter, "device", "dev_eui", normalise_eui),
    "dvn_uuid": RelatedValueField(NetworkAdapter, "device", "dvn_uuid", normalise_uuid),
}
