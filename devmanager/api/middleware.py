"""Request-wide behaviour: request IDs, the device restriction's end, the error body on every error, HTTPS, body
size and keys in URLs."""

import ipaddress
import json
import logging
import time
from urllib.parse import quote, unquote, unquote_plus

from django.conf import settings
from django.http import HttpResponseBadRequest, HttpResponsePermanentRedirect
from django.utils.log import log_response

from devmanager.access import restricted_to

from .exceptions import default_type, error_response
from .request_id import API_KEY_PATTERN, bind_request_id, new_request_id, unbind_request_id

# Paths that serve people rather than API clients keep Django's own HTML error pages.
HTML_PATH_PREFIXES = ("/admin/",)
# Probes and scrapers talk to each server directly, inside the network, without TLS.
HTTPS_EXEMPT_PATHS = ("/healthz", "/readyz", "/metrics")

access_log = logging.getLogger("devmanager.access")
MAX_LOGGED_PATH = 2048


class DeviceScopeMiddleware:
    """Lifts a request's device restriction (its API key's DMSs, `devmanager.access`) when the request ends, so that
    the next request on the thread starts unrestricted until its own key authenticates."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with restricted_to(None):
            return self.get_response(request)


class RequestIdMiddleware:
    """Assigns the request ID, binds it for log lines, and sends it back in `X-Request-ID`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = new_request_id()
        token = bind_request_id(request.request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request.request_id
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            path = _loggable_path(request)
            access_log.info(
                "%s %s %s %.1fms",
                request.method,
                path,
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                },
            )
            if response.status_code >= 400:
                # Django logs error answers once the middleware has returned, without the request ID; log them
                # here instead (log_response marks the response, so Django does not repeat it).
                log_response("%s: %s", response.reason_phrase, path, response=response, request=request)
        finally:
            unbind_request_id(token)
        return response


def _loggable_path(request) -> str:
    """The path and query for the access log, with any API key left out, even a percent-encoded one.

    Redacting here rather than only in a handler's filter keeps the key out of every handler, whatever their order.
    """
    full_path = request.get_full_path()
    if API_KEY_PATTERN.search(unquote_plus(full_path)):
        query = "?[REDACTED]" if request.META.get("QUERY_STRING") else ""
        full_path = API_KEY_PATTERN.sub("ak_[REDACTED]", request.path) + query
    # A request line may be a megabyte long (the 414s): one log line stays short.
    return full_path if len(full_path) <= MAX_LOGGED_PATH else f"{full_path[:MAX_LOGGED_PATH]}...[{len(full_path)}]"


class ErrorBodyMiddleware:
    """Rewrites any error answer that is not already in the contract's shape (Django's 404, 405, 500...)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or request.path.startswith(HTML_PATH_PREFIXES):
            return response
        if getattr(response, "devmanager_error", False):
            if response.get("Content-Type", "").startswith("application/json"):
                return response
            # The body, rendered by a view's own renderer (the schema's YAML, the documentation's HTML): as JSON.
            body = response.data
            replacement = error_response(response.status_code, body["type"], body["message"], body["fields"])
            return _with_headers_of(response, replacement)
        status_code = response.status_code
        if status_code == 404:
            replacement = error_response(404, "unrecognized_request", f"No such URL: {request.path}")
        elif status_code == 405:
            replacement = error_response(405, "method_not_supported", f"Method {request.method} is not allowed here.")
        elif status_code >= 500:
            replacement = error_response(
                500, "internal_server_error", "An unexpected error occurred; quote the request ID to support."
            )
        else:
            replacement = error_response(status_code, default_type(status_code), _reason(response))
        return _with_headers_of(response, replacement)


def _with_headers_of(response, replacement):
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in response:
            replacement[header] = response[header]
    # A 500 was logged with its traceback when the exception was caught; its replacement must not log again.
    replacement._has_been_logged = getattr(response, "_has_been_logged", False)
    return replacement


def _reason(response) -> str:
    """A short message for an error response Django produced (e.g. a 400 from a suspicious request)."""
    if response.get("Content-Type", "").startswith("application/json"):
        try:
            data = json.loads(response.content)
            if isinstance(data, dict) and isinstance(data.get("detail"), str):
                return data["detail"]
        except (ValueError, AttributeError):
            pass
    return response.reason_phrase or "Bad request."


class RequireHttpsMiddleware:
    """With DEVMANAGER_REQUIRE_HTTPS, plain-HTTP reads are redirected and other methods refused."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.trusted_proxies = [
            ipaddress.ip_network(item, strict=False) for item in settings.DEVMANAGER_TRUSTED_PROXIES
        ]

    def __call__(self, request):
        if not settings.DEVMANAGER_REQUIRE_HTTPS or request.path in HTTPS_EXEMPT_PATHS or self._is_secure(request):
            return self.get_response(request)
        if request.method in ("GET", "HEAD"):
            return HttpResponsePermanentRedirect(f"https://{request.get_host()}{request.get_full_path()}")
        return error_response(403, "invalid_request", "HTTPS is required for this request.")

    def _is_secure(self, request) -> bool:
        if request.is_secure():
            return True
        # A proxy appends to the header what it saw: the value the trusted proxy added is the last one; the first
        # came from whoever connected to the proxy, and may say anything.
        forwarded = request.META.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
        return forwarded == "https" and self._from_trusted_proxy(request)

    def _from_trusted_proxy(self, request) -> bool:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)


class RequestGuardMiddleware:
    """Refuses, before any parsing, request lines and bodies over their limits and API keys sent in the URL."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request_line_bytes(request) > settings.DEVMANAGER_MAX_URL_BYTES:
            return error_response(
                414, "uri_too_long", f"The request line exceeds {settings.DEVMANAGER_MAX_URL_BYTES} bytes."
            )
        if "\x00" in request.path:
            # No id, DMS or identifier holds U+0000 (PostgreSQL cannot store it): such a path names nothing.
            return error_response(404, "not_found", "No resource has U+0000 in its path.")
        if request.path.startswith(HTML_PATH_PREFIXES) and "\x00" in request.META.get("QUERY_STRING", "") + unquote(
            request.META.get("QUERY_STRING", "")
        ):
            # The admin's filters and searches would hand it to the database; the API's parameters refuse it each.
            return HttpResponseBadRequest("U+0000 in the query string.", content_type="text/plain")
        length = request.META.get("CONTENT_LENGTH") or "0"
        # A `Content_Length` header, which servers that keep underscores in header names pass on, is Content-Length
        # in request.headers too (where django-prometheus reads it): it must be a number as well.
        header_length = request.META.get("HTTP_CONTENT_LENGTH") or "0"
        try:
            too_large = int(length) > settings.DEVMANAGER_MAX_BODY_BYTES
            int(header_length)
        except ValueError:
            return error_response(400, "bad_request", "Content-Length is not a number.")
        if too_large:
            return error_response(
                413, "payload_too_large", f"The body exceeds {settings.DEVMANAGER_MAX_BODY_BYTES} bytes."
            )
        for name, values in request.GET.lists():
            if any(API_KEY_PATTERN.search(value) for value in values):
                return error_response(
                    400,
                    "bad_request",
                    "An API key must never be sent in the URL; use the Authorization header and revoke this key.",
                    [{"name": name, "message": "contains an API key"}],
                )
        return self.get_response(request)


def request_line_bytes(request) -> int:
    """The length of `METHOD target HTTP/1.1` as the client sent it (gunicorn gives the target as RAW_URI; other
    servers' decoded path is quoted back, which gives the same length for what clients send)."""
    target = request.META.get("RAW_URI")
    if target is None:
        query = request.META.get("QUERY_STRING", "")
        target = quote(request.META.get("PATH_INFO", ""), safe="/:@!$&'()*+,;=-._~") + (f"?{query}" if query else "")
    protocol = request.META.get("SERVER_PROTOCOL", "HTTP/1.1")
    return len(request.method or "") + len(target.encode("latin-1", "replace")) + len(protocol) + 2
