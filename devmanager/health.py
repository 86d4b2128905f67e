"""Liveness and readiness probes for load balancers and orchestrators, and metrics for Prometheus; no API key."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import CollectorRegistry, generate_latest

from devmanager import replicas
from devmanager.api.exceptions import error_response

# Figures read from the database at each scrape (apps register their collectors: webhook deliveries), the same
# whichever process answers; the request counts of django_prometheus are per process.
DATABASE_METRICS = CollectorRegistry(auto_describe=True)


def register_metrics_collector(collector) -> None:
    """Add a prometheus_client collector whose figures come from the database to /metrics."""
    DATABASE_METRICS.register(collector)


register_metrics_collector(replicas.ReplicaCollector())


# csrf_exempt: a POST is a 405 for these, not a CSRF refusal (403); they change nothing and read no cookie.
@csrf_exempt
@require_safe
def healthz(request):
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_safe
def readyz(request):
    """Ready while the primary answers; each replica's state and lag beside it (one that is down or lags is skipped,
    never a reason to take the server out of service)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return error_response(503, "service_unavailable", "The database is not reachable.")
    databases = {"default": {"role": "primary", "state": "ok"}}
    limit = settings.DEVMANAGER_REPLICA_MAX_LAG_SECONDS
    for alias, state in replicas.STATES.current().items():
        lagging = state.reachable and state.lag_seconds > limit
        databases[alias] = {
            "role": "replica",
            "state": "lagging" if lagging else "ok" if state.reachable else "unreachable",
            "lag_seconds": None if state.lag_seconds is None else round(state.lag_seconds, 3),
            **({"error": state.error} if state.error else {}),
        }
    return JsonResponse({"status": "ok", "database": "ok", "databases": databases})


@csrf_exempt
@require_safe
def metrics(request):
    """Prometheus' text format (requests, latencies and responses by view, status and method; the process), for
    `Authorization: Bearer <DEVMANAGER_METRICS_TOKEN>`. Without a token it is open in debug mode only: request counts
    by view and status are no business of whoever can reach the port."""
    token = settings.DEVMANAGER_METRICS_TOKEN
    if not token and not settings.DEBUG:
        message = "The metrics are off: set DEVMANAGER_METRICS_TOKEN and scrape with `Authorization: Bearer <it>`."
        return error_response(403, "access_denied", message)
    if token and not constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}"):
        message = "The metrics need `Authorization: Bearer <DEVMANAGER_METRICS_TOKEN>`."
        return error_response(401, "invalid_auth", message)
    response = ExportToDjangoView(request)
    response.content += generate_latest(DATABASE_METRICS)
    return response
