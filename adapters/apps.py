from django.apps import AppConfig


class AdaptersConfig(AppConfig):
    name = "adapters"
    verbose_name = "Network adapters"

    def ready(self):
        # A device is named by its adapters' identifiers too: in paths, and in the filter language.
        from devices.filters import register_device_filter_field
        from devices.querysets import register_device_reference

        from .filters import ADAPTER_IDENTIFIER_FIELDS
        from .identifiers import device_ids_named_by

        register_device_reference(device_ids_named_by)
        for name, field in ADAPTER_IDENTIFIER_FIELDS.items():
            register_device_filter_field(name, field)
