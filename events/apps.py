from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Change events"

    def ready(self):
        # Every change the write door makes is recorded in the feed, in the change's transaction.
        from django.db.backends.signals import connection_created

        from devices.changes import register_change_listener

        from .models import json_as_text
        from .recording import record_changes, record_encoded

        register_change_listener(record_changes, record_encoded)
        connection_created.connect(json_as_text, dispatch_uid="devmanager_json_as_text")
