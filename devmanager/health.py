"""Liveness and readiness probes for load balancers and orchestrators; no key needed."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe

from devmanager.api.exceptions import error_response


@require_safe
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_safe
def readyz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return error_response(503, "service_unavailable", "The database is not reachable.")
    return JsonResponse({"status": "ok", "database": "ok"})
