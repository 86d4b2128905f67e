from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import health

API_PREFIX = "api/devmanager/v1/"
# The document and its two pages are read, nothing else: any other method (OPTIONS included, which the pages' HTML
# renderer cannot answer) is a 405.
READ_ONLY = {"http_method_names": ["get", "head"]}

urlpatterns = [
    path(API_PREFIX, include("devices.api.urls")),
    path(API_PREFIX, include("groups.api.urls")),
    path(API_PREFIX, include("adapters.api.urls")),
    path(API_PREFIX, include("events.api.urls")),
    path(API_PREFIX, include("webhooks.api.urls")),
    path(API_PREFIX, include("fleet.api.urls")),
    path(API_PREFIX, include("devmanager.api.keys.urls")),
    path("api/schema/", SpectacularAPIView.as_view(**READ_ONLY), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", **READ_ONLY), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", **READ_ONLY), name="redoc"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    # The admin's index is the fleet dashboard (console, the top layer: named here by string, not imported).
    path("admin/", include("console.urls")),
    path("admin/", admin.site.urls),
]
