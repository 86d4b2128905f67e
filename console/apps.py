from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operators' console above every other app: the fleet dashboard, the admin's index (docs/console.md)."""

    name = "console"
    verbose_name = "Fleet console"

    def ready(self):
        from devmanager.worker import register_work

        from .eventcounts import keep_events_tallied

        register_work("event counts", keep_events_tallied)
