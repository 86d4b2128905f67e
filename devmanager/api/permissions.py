from rest_framework import exceptions, permissions

from .models import ApiKey


class HasScope(permissions.BasePermission):
    """The view's `scope_resource` decides the scope: `<resource>:read` for reads, `<resource>:write` otherwise."""

    def has_permission(self, request, view):
        key = request.auth
        if isinstance(key, ApiKey):
            scope = required_scope(request, view)
            if not key.has_scope(scope):
                raise exceptions.PermissionDenied(f"The API key lacks the scope {scope}.")
            return True
        if request.user.is_staff:
            return True
        raise exceptions.NotAuthenticated()


def required_scope(request, view) -> str:
    access = "read" if request.method in permissions.SAFE_METHODS else "write"
    return f"{view.scope_resource}:{access}"
