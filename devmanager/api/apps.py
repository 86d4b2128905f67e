from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "devmanager.api"
    label = "api"
    verbose_name = "API access"

    def ready(self):
        from django.db.backends.signals import connection_created

        from devmanager.db import use_c_timestamp_loader

        from . import schema  # noqa: F401  registers the OpenAPI authentication extensions
        from .filtering.jsonpath import register_sqlite_functions
        from .filtering.lookups import register_sqlite_fold
        from .request_id import install_log_record_factory

        install_log_record_factory()
        connection_created.connect(register_sqlite_functions, dispatch_uid="devmanager_sqlite_functions")
        connection_created.connect(register_sqlite_fold, dispatch_uid="devmanager_sqlite_fold")
        connection_created.connect(use_c_timestamp_loader, dispatch_uid="devmanager_c_timestamp_loader")
