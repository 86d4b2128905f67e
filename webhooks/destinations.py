"""Where a webhook may deliver (contract, section 7): HTTPS URLs whose host resolves only to public addresses.

A host is looked up again at each delivery, and every address it resolves to is checked: a name that resolved to
a public address when the subscription was made can point at the private network later (DNS rebinding). The
delivery then connects to an address that was checked, never looks the name up a second time, and follows no
redirect. `DEVMANAGER_WEBHOOK_ALLOW_PRIVATE` and `DEVMANAGER_WEBHOOK_ALLOW_HTTP` lift the two refusals (tests,
private networks).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2048


class RefusedDestination(ValueError):
    """A URL that is no webhook destination; the message says why."""


@dataclass(frozen=True)
class Destination:
    """A checked URL and the addresses to connect to for it, in the resolver's order."""

    url: str
    host: str  # the URL's host name, for the Host header and TLS (SNI and the certificate's name)
    addresses: tuple[str, ...]  # every address the host resolved to, each checked
    port: int
    scheme: str
    target: str  # path and query

    def connect_url(self, address: str) -> str:
        """The URL with a checked address in place of the host name."""
        host = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{host}:{self.port}{self.target}"

    @property
    def host_header(self) -> str:
        default = {"https": 443, "http": 80}[self.scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def check_url(url: str) -> tuple[str, str, int, str]:
    """The scheme, host, port and path of a URL a webhook may use; RefusedDestination otherwise. No lookup."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedDestination(f"is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedDestination(f"is not a URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise RefusedDestination("must be an https:// URL with a host")
    try:  # a name in any script, as DNS, HTTP and TLS carry it (IDNA: bücher.example is xn--bcher-kva.example)
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise RefusedDestination(f"host {parts.hostname!r} is not a valid name: {exc}") from exc
    if scheme == "http" and not settings.DEVMANAGER_WEBHOOK_ALLOW_HTTP:
        raise RefusedDestination("must use https (http is allowed with DEVMANAGER_WEBHOOK_ALLOW_HTTP=true)")
    if parts.username is not None or parts.password is not None:
        raise RefusedDestination("must not hold credentials: the signature authenticates the deliveries")
    if parts.fragment:
        raise RefusedDestination("must not have a fragment")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        raise RefusedDestination("must not contain spaces or control characters")
    if port == 0:
        raise RefusedDestination("port 0 is no destination")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, {"https": 443, "http": 80}[scheme] if port is None else port, target


def resolve(url: str) -> Destination:
    """The URL checked and its host looked up: every address must be public (unless private ones are allowed)."""
    scheme, host, port, target = check_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedDestination(f"host {host!r} does not resolve: {exc}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise RefusedDestination(f"host {host!r} does not resolve")
    if not settings.DEVMANAGER_WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            reason = refused_reason(ipaddress.ip_address(address.split("%")[0]))
            if reason:
                raise RefusedDestination(
                    f"host {host!r} resolves to {address}, {reason} (allowed with "
                    "DEVMANAGER_WEBHOOK_ALLOW_PRIVATE=true)"
                )
    return Destination(url=url, host=host, addresses=tuple(addresses), port=port, scheme=scheme, target=target)


def refused_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Why an address is no webhook destination, or "" when it is public."""
    if address.version == 6:  # an IPv4 address inside an IPv6 one is judged as itself (::ffff:127.0.0.1, 6to4)
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if inner is not None:
            address = inner
    for reason, refused in (
        ("a loopback address", address.is_loopback),
        ("an unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private or address.is_reserved or not address.is_global),
    ):
        if refused:
            return reason
    return ""
