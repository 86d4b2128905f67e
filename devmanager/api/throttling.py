"""Per-key rate limits: DEVMANAGER_THROTTLE_RATE requests per API key, counted in the `throttle` cache."""

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Each API key (or staff user, in the documentation pages) gets its own budget; 429 with Retry-After beyond it.

    The counts live in the `throttle` cache: per process by default, shared by every process and server with
    DEVMANAGER_THROTTLE_CACHE=database."""

    scope = "api_key"

    @property
    def cache(self):
        return caches["throttle"]

    def get_rate(self):
        # Read per request rather than frozen at import, so a settings change (and a test) takes effect.
        return settings.DEVMANAGER_THROTTLE_RATE or None

    def get_cache_key(self, request, view):
        if request.auth is not None and hasattr(request.auth, "pk"):
            ident = f"key:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None  # unauthenticated requests are refused before throttling
        return self.cache_format % {"scope": self.scope, "ident": ident}
