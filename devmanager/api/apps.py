from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "devmanager.api"
    label = "api"
    verbose_name = "API access"

    def ready(self):
        from . import schema  # noqa: F401  registers the OpenAPI authentication extensions
        from .request_id import install_log_record_factory

        install_log_record_factory()
