from rest_framework import exceptions, permissions

from .models import ApiKey


class HasScope(permissions.BasePermission):
    """The view's `scope_resource` decides the scope: `<resource>:read` for reads, `<resource>:write` otherwise, or
    always `<resource>:<scope_access>` when the view names one (`/api-keys`: `keys:write` even to read); a view that
    also returns or counts devices names `devices:read` in `also_requires` (no other scope reveals a device)."""

    def has_permission(self, request, view):
        key = request.auth
        if isinstance(key, ApiKey):
            for scope in required_scopes(request, view):
                if not key.has_scope(scope):
                    raise exceptions.PermissionDenied(f"The API key lacks the scope {scope}.")
            return True
        if request.user.is_staff:
            return True
        raise exceptions.NotAuthenticated()


def required_scopes(request, view) -> list[str]:
    access = getattr(view, "scope_access", None) or ("read" if request.method in permissions.SAFE_METHODS else "write")
    return [f"{view.scope_resource}:{access}", *getattr(view, "also_requires", ())]
