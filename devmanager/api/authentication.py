"""Bearer API keys for clients, and the admin's session for staff."""

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from devmanager.access import restrict
from devmanager.replicas import require_position

from .models import ApiKey, is_key_shaped


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer ak_<32 hex>`; the request's `auth` is the ApiKey."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None  # no credentials: the permission check answers invalid_auth unless a session applies
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise exceptions.AuthenticationFailed("Authorization must be `Bearer <api key>`.", code="invalid_auth")
        if not is_key_shaped(token):
            raise exceptions.AuthenticationFailed("The token is not an API key (ak_ + 32 hex).", code="invalid_auth")
        key = ApiKey.objects.lookup(token)
        if key is None or not key.is_active:
            raise exceptions.AuthenticationFailed("The API key is unknown, revoked or expired.", code="invalid_apikey")
        key.mark_used()
        restrict(key.dms)  # every device query of the request sees the key's DMSs only (devmanager.access)
        request._request.devmanager_key = key  # its writes are noted for its next reads (devmanager.replicas)
        require_position(key.last_write_to_see())
        return (AnonymousUser(), key)

    def authenticate_header(self, request):
        return self.keyword


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """Staff logged into the admin may use the API from the browser (CSRF enforced on writes)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result
