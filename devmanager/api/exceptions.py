"""The contract's error body, the exceptions that produce it, and DRF's exception handler."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from devmanager import errors

from .request_id import current_request_id

# The error `type` of each status code when nothing more specific is known.
DEFAULT_TYPES = {
    400: "bad_request",
    401: "invalid_auth",
    403: "access_denied",
    404: "not_found",
    405: "method_not_supported",
    406: "bad_request",
    409: "conflict",
    410: "gone",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "bad_request",
    429: "too_many_requests",
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource's state forbids this action."
    default_code = "conflict"


class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "The position is older than the oldest event kept."
    default_code = "gone"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "If-Match does not match the resource's current ETag."
    default_code = "precondition_failed"


class FieldAccessDenied(exceptions.PermissionDenied):
    """403 `access_denied` naming the input at fault (a restricted key's `dms_id` outside its DMSs)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.fields = [{"name": field, "message": message}]


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def default_type(status_code: int) -> str:
    if status_code >= 500:
        return "internal_server_error"
    return DEFAULT_TYPES.get(status_code, "bad_request")


def error_body(status_code: int, error_type: str, message: str, fields: list[dict] | None = None) -> dict:
    return {
        "object": "error",
        "code": status_code,
        "type": error_type,
        "message": message,
        "fields": fields or [],
        "request_id": current_request_id(),
    }


def error_response(status_code: int, error_type: str, message: str, fields: list[dict] | None = None) -> JsonResponse:
    """A plain Django response with the contract's error body, for middleware and non-DRF views."""
    response = JsonResponse(
        error_body(status_code, error_type, message, fields),
        status=status_code,
        json_dumps_params={"separators": (",", ":"), "ensure_ascii": False},
    )
    response.devmanager_error = True
    return response


def flatten_errors(detail, name: str = "") -> list[dict]:
    """Turn DRF's nested error detail into `[{"name": "tags[3]", "message": ...}]`."""
    if isinstance(detail, dict):
        fields = []
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                child = name
            elif isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                child = f"{name}[{key}]"
            else:
                child = f"{name}.{key}" if name else str(key)
            fields.extend(flatten_errors(value, child))
        return fields
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [{"name": name or "body", "message": str(item)} for item in detail]
        fields = []
        for index, item in enumerate(detail):
            if item in ({}, [], ""):
                continue  # a list item without errors
            fields.extend(
                flatten_errors(item, f"{name}[{index}]")
                if isinstance(item, dict | list)
                else [{"name": name or "body", "message": str(item)}]
            )
        return fields
    return [{"name": name or "body", "message": str(detail)}]


def _validation_message(fields: list[dict]) -> str:
    shown = "; ".join(f"{field['name']}: {field['message']}" for field in fields[:5])
    more = f" (and {len(fields) - 5} more)" if len(fields) > 5 else ""
    return f"Invalid request: {shown}{more}"


def _classify(exc: exceptions.APIException) -> tuple[str, str, list[dict]]:
    """The (type, message, fields) of a DRF exception."""
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        return "validation_error", _validation_message(fields), fields
    if isinstance(exc, exceptions.AuthenticationFailed):
        codes = exc.get_codes()
        return (codes if codes in ("invalid_auth", "invalid_apikey") else "invalid_apikey"), str(exc.detail), []
    if isinstance(exc, exceptions.NotAuthenticated):
        return "invalid_auth", "Authentication required: send `Authorization: Bearer <api key>`.", []
    if isinstance(exc, exceptions.MethodNotAllowed):
        return "method_not_supported", str(exc.detail), []
    if isinstance(exc, exceptions.Throttled):
        return "too_many_requests", str(exc.detail), []
    if isinstance(exc, FieldAccessDenied):
        return "access_denied", str(exc.detail), exc.fields
    return default_type(exc.status_code), str(exc.detail), []


def api_exception(exc: errors.DomainError) -> exceptions.APIException:
    """The HTTP answer to a domain error: the one place where the domain's refusals become status codes."""
    if isinstance(exc, errors.Invalid):
        return exceptions.ValidationError(exc.fields)
    if isinstance(exc, errors.NotFound):
        return exceptions.NotFound(exc.message)
    if isinstance(exc, errors.PreconditionFailed):
        return PreconditionFailed(exc.message)
    if isinstance(exc, errors.Gone):
        return Gone(exc.message)
    if isinstance(exc, errors.AccessDenied):
        return FieldAccessDenied(exc.field, exc.message)
    return Conflict(exc.message)


def exception_handler(exc, context):
    """DRF's exception handler: every API error leaves in the contract's shape."""
    if isinstance(exc, errors.DomainError):
        exc = api_exception(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django logs it and ErrorBodyMiddleware answers 500

    # The contract folds 415 into 400 bad_request.
    unsupported = isinstance(exc, exceptions.UnsupportedMediaType)
    status_code = status.HTTP_400_BAD_REQUEST if unsupported else exc.status_code
    error_type, message, fields = _classify(exc)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait) + (exc.wait % 1 > 0))
    response = Response(error_body(status_code, error_type, message, fields), status=status_code, headers=headers)
    response.devmanager_error = True
    return response
