"""One POST of one event to one subscription: a CloudEvent in structured mode, signed as the Standard Webhooks
specification says (`standardwebhooks` signs), sent with httpx to a destination checked at this moment
(webhooks/destinations.py), with no redirect followed and at most `MAX_READ` bytes of the answer read."""

import functools
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from .destinations import RefusedDestination, resolve

CONTENT_TYPE = "application/cloudevents+json"
MAX_READ = 64 * 1024
STORED_BYTES = 1024
USER_AGENT = "devmanager-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: a 2xx is a success; no answer has no status code, and an error says why."""

    status_code: int | None
    duration_ms: int
    error: str
    response: str  # the answer's first KiB

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_id(subscription_id, position: int) -> str:
    """The `webhook-id` of an event sent to a subscription: the same at every attempt, so receivers can
    deduplicate."""
    return f"msg_{position}_{subscription_id.hex[:16]}"


def signature_headers(message_id: str, body: bytes, secrets: list[str], now: datetime | None = None) -> dict:
    """The three Standard Webhooks headers; with two secrets (after a rotation) two signatures, space-separated."""
    now = now or datetime.now(UTC)
    signatures = " ".join(Webhook(secret).sign(message_id, now, body) for secret in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }


class Clients:
    """Keep-alive httpx clients, one per destination host name, for one worker thread. A delivery connects to a
    checked address, not to the name: a client of its own per name means a pooled TLS connection is only ever
    reused for the name its certificate was checked against, never for another name served at the same address."""

    def __init__(self, size: int = 64):
        self.size = size
        self.clients: OrderedDict[str, httpx.Client] = OrderedDict()

    def for_host(self, host: str) -> httpx.Client:
        client = self.clients.pop(host, None) or _new_client()
        self.clients[host] = client  # the most recently used last
        while len(self.clients) > self.size:
            self.clients.popitem(last=False)[1].close()
        return client

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _new_client() -> httpx.Client:
    return httpx.Client(
        verify=_certificate_check(),
        timeout=httpx.Timeout(settings.DEVMANAGER_WEBHOOK_TIMEOUT),
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: the checked address is the one connected to
        limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=30),
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},  # read bounded as sent
    )


def _certificate_check() -> ssl.SSLContext | bool:
    """What a receiver's certificate is checked against: the CAs of DEVMANAGER_WEBHOOK_CA_FILE when it is set, else
    httpx's default (the public CAs). Either way against the URL's host name (`sni_hostname`, below), not the
    address connected to."""
    if not settings.DEVMANAGER_WEBHOOK_CA_FILE:
        return True
    return _ca_context(settings.DEVMANAGER_WEBHOOK_CA_FILE)


@functools.cache
def _ca_context(path: str) -> ssl.SSLContext:
    """One context per CA file, shared by every client (a context is safe to share between threads)."""
    return ssl.create_default_context(cafile=path)


def post(clients: Clients, url: str, body: bytes, headers: dict) -> Outcome:
    """POST the signed body to the URL, looked up and checked now; the outcome, never an exception. The addresses
    the host resolved to are tried in turn while a connection cannot be made (`localhost`: ::1, then 127.0.0.1).
    The answer must come within DEVMANAGER_WEBHOOK_TIMEOUT: each read, and the whole body."""
    started = time.monotonic()
    try:
        destination = resolve(url)
    except RefusedDestination as exc:
        return Outcome(None, _since(started), _stored(f"refused destination: {url} {exc}"), "")
    try:
        return _post_to(clients.for_host(destination.host), destination, body, headers, started)
    except Exception as exc:  # whatever an endpoint does is its failure, never the worker's
        return Outcome(None, _since(started), _stored(f"{type(exc).__name__}: {exc}"), "")


def _post_to(client: httpx.Client, destination, body: bytes, headers: dict, started: float) -> Outcome:
    request_headers = {**headers, "Content-Type": CONTENT_TYPE, "Host": destination.host_header}
    extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else {}
    deadline = started + settings.DEVMANAGER_WEBHOOK_TIMEOUT
    error = ""
    for address in destination.addresses:
        request = client.build_request(
            "POST", destination.connect_url(address), content=body, headers=request_headers, extensions=extensions
        )
        try:
            response = client.send(request, stream=True)
            try:
                read = _read_bounded(response, deadline)
            finally:
                response.close()
        except httpx.ConnectError as exc:
            error = f"ConnectError: {exc}"
            if _refused_certificate(exc):  # the receiver answered, with a certificate that fails the check
                break
            continue  # nothing was sent: the next address
        except (httpx.TimeoutException, _TooSlow):
            return Outcome(None, _since(started), f"no answer within {settings.DEVMANAGER_WEBHOOK_TIMEOUT:g} s", "")
        except httpx.HTTPError as exc:
            return Outcome(None, _since(started), _stored(f"{type(exc).__name__}: {exc}"), "")
        return _answered(response, read, started)
    return Outcome(None, _since(started), _stored(error), "")


def _refused_certificate(error: Exception) -> bool:
    """Whether the connection failed on the receiver's certificate (the TLS error is in the chain of httpx's
    error, as its cause or the error it was raised while handling): a failure to tell as it is, not one to hide
    behind the next address's."""
    cause = error
    while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
        cause = cause.__cause__ or cause.__context__
    return cause is not None


class _TooSlow(Exception):
    """The answer's body was still coming when the time was up."""


def _answered(response: httpx.Response, read: bytes, started: float) -> Outcome:
    error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        error += " (redirects are not followed)"
    return Outcome(response.status_code, _since(started), error, _stored(read.decode("utf-8", "replace")))


def _read_bounded(response: httpx.Response, deadline: float) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_READ:
            break
        if time.monotonic() > deadline:
            raise _TooSlow
    return b"".join(chunks)[:MAX_READ]


def _stored(text: str) -> str:
    """Text as the delivery log keeps it: its first KiB, without NUL (which PostgreSQL's text refuses)."""
    return text[:STORED_BYTES].replace("\x00", "\ufffd")


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
