from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Change events"

    def ready(self):
        # Every change the write door makes is recorded in the feed, in the change's transaction.
        from devices.changes import register_change_listener

        from .recording import record_changes, record_encoded

        register_change_listener(record_changes, record_encoded)
