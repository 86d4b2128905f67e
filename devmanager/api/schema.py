"""OpenAPI additions: the error answers of every operation, the bearer scheme, and X-Request-ID everywhere."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema

from .serializers import ErrorSerializer

ERROR_DESCRIPTIONS = {
    "400": "bad_request or validation_error",
    "401": "invalid_auth or invalid_apikey",
    "403": "access_denied, or invalid_request (plain HTTP while HTTPS is required)",
    "404": "not_found",
    "409": "conflict",
    "412": "precondition_failed: If-Match is stale",
    "413": "payload_too_large",
    "429": "too_many_requests",
    "500": "internal_server_error",
}


class AutoSchema(BaseAutoSchema):
    """Adds the contract's error answers, in the error body's shape, to each operation."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = ERROR_DESCRIPTIONS[code]
                responses[code] = response
        return responses

    def _error_codes(self) -> list[str]:
        codes = ["400", "401", "403", "429", "500"]
        if "{" in self.path:
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes += ["409", "413"]
            if getattr(self.view, "etag_resource", False) and "{" in self.path:
                codes.append("412")
        return sorted(codes)


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "devmanager.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ak_<32 lowercase hex>",
            "description": "An API key created with `manage.py create_api_key` or in the admin.",
        }


class StaffSessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "devmanager.api.authentication.StaffSessionAuthentication"
    name = "StaffSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "Staff logged into the admin."}


REQUEST_ID_HEADER = {
    "description": "The server-assigned ID of this request (at most 32 characters).",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 32},
}


RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before the key's next request is accepted.",
    "schema": {"type": "integer", "minimum": 1},
}


def add_response_headers(result, generator, request, public):
    """Postprocessing hook: declare X-Request-ID on every response of every operation, Retry-After on its 429."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for code, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                headers["X-Request-ID"] = REQUEST_ID_HEADER
                if code == "429":
                    headers["Retry-After"] = RETRY_AFTER_HEADER
    return result
