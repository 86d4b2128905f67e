from django.apps import AppConfig


class TransferConfig(AppConfig):
    """Bulk transfer of the fleet: import and export (JSON Lines, CSV) and synthetic seeding, above the apps whose
    data it moves (devices, their adapters, group membership)."""

    name = "transfer"
    verbose_name = "Bulk transfer"
