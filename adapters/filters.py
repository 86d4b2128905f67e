"""Filters of adapters: the filter language's fields for a device's adapters (the identifiers of any of them,
`imei[eq]:…`), and the plain query parameters of a device's adapter list (django-filter)."""

import django_filters

from devmanager.api.filtering import RelatedValueField

from .identifiers import normalise_eui, normalise_imei, normalise_uuid
from .models import AdapterType, NetworkAdapter

ADAPTER_IDENTIFIER_FIELDS = {
    "imei": RelatedValueField(NetworkAdapter, "device", "imei", normalise_imei),
    "dev_eui": RelatedValueField(NetworkAdapter, "device", "dev_eui", normalise_eui),
    "dvn_uuid": RelatedValueField(NetworkAdapter, "device", "dvn_uuid", normalise_uuid),
}


class NetworkAdapterFilterSet(django_filters.FilterSet):
    """`GET /devices/{id}/network-adapters?type=lora`."""

    type = django_filters.ChoiceFilter(
        choices=AdapterType.choices,
        help_text="Only the adapters of this type.",
        error_messages={"invalid_choice": f"must be one of {', '.join(AdapterType.values)}"},
    )

    class Meta:
        model = NetworkAdapter
        fields = ["type"]
