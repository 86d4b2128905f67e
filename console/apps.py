from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operators' console above every other app: the fleet dashboard, the admin's index (docs/console.md)."""

    name = "console"
    verbose_name = "Fleet console"
