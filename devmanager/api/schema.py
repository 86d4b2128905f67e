"""OpenAPI additions: the error answers of every operation, the bearer scheme, and X-Request-ID everywhere."""

from types import SimpleNamespace

from drf_spectacular.drainage import warn
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiExample

from .permissions import required_scopes
from .serializers import ErrorSerializer

API = "/api/devmanager/v1"
# The operations that answer 410 `gone`: a feed position, or a replay's first event, pruned from the feed.
GONE_ANSWERS = {("get", f"{API}/events"), ("post", f"{API}/webhooks/{{webhook_id}}/replay")}

ERROR_DESCRIPTIONS = {
    "400": "bad_request or validation_error",
    "401": "invalid_auth or invalid_apikey",
    "403": "access_denied, or invalid_request (plain HTTP while HTTPS is required)",
    "404": "not_found",
    "409": "conflict",
    "410": "gone: the position or event asked for is older than the events the feed keeps",
    "412": "precondition_failed: If-Match is stale",
    "413": "payload_too_large",
    "414": "uri_too_long: the request line is longer than DEVMANAGER_MAX_URL_BYTES",
    "429": "too_many_requests",
    "500": "internal_server_error",
}


class AutoSchema(BaseAutoSchema):
    """Adds the contract's error answers, in the error body's shape, to each operation, and insists on a named
    operation id."""

    def get_operation_id(self) -> str:
        # Only reached when the view names none (`extend_schema(operation_id=...)` overrides this): the default is
        # made of the URL, which is what a generated client would call the function, so `--fail-on-warn` refuses it.
        warn(f"{self.method} {self.path} has no operation_id: name it with extend_schema(operation_id=...)")
        return super().get_operation_id()

    def get_operation(self, *args, **kwargs):
        """The operation, its description stating the scopes an API key needs: where the view's own does not name them
        all (most reads), a line naming them is added, from the function that checks them (`required_scopes`)."""
        operation = super().get_operation(*args, **kwargs)
        scopes = self.required_scopes()
        description = (operation or {}).get("description", "")
        if operation is None or all(f"`{scope}`" in description for scope in scopes):
            return operation
        needed = " and ".join(f"`{scope}`" for scope in scopes)
        line = f"Scope {needed} (an API key holding it, or a staff session)."
        operation["description"] = f"{description}\n\n{line}" if description else line
        return operation

    def required_scopes(self) -> list[str]:
        """The scopes `HasScope` asks of an API key for this operation; none for a view without a `scope_resource`."""
        if getattr(self.view, "scope_resource", None) is None:
            return []
        return required_scopes(SimpleNamespace(method=self.method), self.view)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = ERROR_DESCRIPTIONS[code]
                responses[code] = response
        return responses

    def _error_codes(self) -> list[str]:
        codes = ["400", "401", "403", "414", "429", "500"]
        if "{" in self.path:
            codes.append("404")
        if (self.method.lower(), self.path) in GONE_ANSWERS:
            codes.append("410")
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes += ["409", "413"]
            if getattr(self.view, "etag_resource", False) and "{" in self.path:
                codes.append("412")
        return sorted(codes)


def error_example(code: int, error_type: str, message: str = "", fields=()) -> OpenApiExample:
    """An example of the error body for one answer of an operation (`fields`: (name, message) pairs; a validation
    error's message names them, as the answer's does)."""
    return OpenApiExample(
        f"{code} {error_type}",
        value={
            "object": "error",
            "code": code,
            "type": error_type,
            "message": message or "Invalid request: " + "; ".join(f"{name}: {text}" for name, text in fields),
            "fields": [{"name": field, "message": text} for field, text in fields],
            "request_id": "5f0c6a1e9b2d4c7f8a3e1b0d2c4f6a8e",
        },
        response_only=True,
        status_codes=[str(code)],
    )


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
ETAG_HEADER = {
    "description": "The resource's strong entity tag: send it back in `If-Match` (writes) or `If-None-Match` (reads).",
    "required": True,
    "schema": {"type": "string", "pattern": '^"[^"]+"$'},
}
LOCATION_HEADER = {
    "description": "The URL of the resource created.",
    "required": True,
    "schema": {"type": "string", "format": "uri"},
}
WWW_AUTHENTICATE_HEADER = {
    "description": "`Bearer`: the scheme the API expects.",
    "required": True,
    "schema": {"type": "string", "enum": ["Bearer"]},
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag (or `*`): when it matches, the answer is 304 with no body.",
    "schema": {"type": "string"},
}
NOT_MODIFIED = {"description": "Not modified: `If-None-Match` names the current ETag."}
CONSISTENCY_TOKEN_HEADER = {
    "description": "Where the write left the database: send it back in a read's `X-Consistency-Token` to read from a "
    "database that has replayed at least that far (read replicas).",
    "required": True,
    "schema": {"type": "string"},
}
CONSISTENCY_TOKEN = {
    "name": "X-Consistency-Token",
    "in": "header",
    "required": False,
    "description": "A write's `X-Consistency-Token`: the answer reflects that write (a replica that has not replayed "
    "it is not read). A token this service did not make is a 400.",
    "schema": {"type": "string"},
}

# The answers that carry the resource's ETag, by operation (Location: every 201, and LOCATION_ANSWERS).
ETAG_ANSWERS = {
    ("get", f"{API}/devices/{{device_id}}"): ["200"],
    ("post", f"{API}/devices"): ["201"],
    ("put", f"{API}/devices/{{device_id}}/idslot"): ["200"],
    ("put", f"{API}/devices/{{device_id}}/metadata"): ["200"],
    ("patch", f"{API}/devices/{{device_id}}/metadata"): ["200"],
    ("get", f"{API}/device-groups/{{group_id}}"): ["200"],
    ("post", f"{API}/device-groups"): ["201"],
    ("put", f"{API}/device-groups/{{group_id}}"): ["200"],
}
# Beyond the 201s (each a creation, answered with the URL of what it created): the job a fleet action queued.
LOCATION_ANSWERS = {("post", f"{API}/device-actions"): "202"}


def add_response_headers(result, generator, request, public):
    """Postprocessing hook: the response headers of the contract. X-Request-ID on every response, Retry-After on
    429, WWW-Authenticate on 401, ETag where the resource is answered (and the 304 of a read with If-None-Match),
    Location on 201, X-Consistency-Token on a write's success (and as a read's optional request header)."""
    for path, path_item in result.get("paths", {}).items():
        for method, operation in path_item.items():
            etag_codes = ETAG_ANSWERS.get((method, path), [])
            if method == "get" and etag_codes:
                operation.setdefault("parameters", []).append(IF_NONE_MATCH)
                operation["responses"]["304"] = dict(NOT_MODIFIED)
                etag_codes = [*etag_codes, "304"]
            if method == "get":
                operation.setdefault("parameters", []).append(CONSISTENCY_TOKEN)
            for code, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                headers["X-Request-ID"] = REQUEST_ID_HEADER
                if method != "get" and code.startswith("2"):
                    headers["X-Consistency-Token"] = CONSISTENCY_TOKEN_HEADER
                if code == "429":
                    headers["Retry-After"] = RETRY_AFTER_HEADER
                if code == "401":
                    headers["WWW-Authenticate"] = WWW_AUTHENTICATE_HEADER
                if code in etag_codes:
                    headers["ETag"] = ETAG_HEADER
                if code == "201" or LOCATION_ANSWERS.get((method, path)) == code:
                    headers["Location"] = LOCATION_HEADER
    return result
