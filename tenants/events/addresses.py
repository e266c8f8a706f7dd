"""Which webhook URLs may be called (SSRF safety).

An endpoint's URL must be ``https`` and its host must resolve to public
addresses only: never loopback, private, link-local (the cloud metadata
service at 169.254.169.254 among them), multicast, reserved or unspecified
ones. It is checked when the endpoint is created or changed, and again at
every delivery against the address actually connected to
(tenants/events/sending.py), so a name that resolves elsewhere later (DNS
rebinding) reaches nothing inside. ``allow_private`` (``WEBHOOK_ALLOW_PRIVATE``,
development and tests only) also allows ``http`` and every address.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from tenants.errors import InputError

MAX_URL_LENGTH = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The URL, or the address it leads to, may not be called."""


@dataclass(frozen=True)
class Target:
    """Where a URL points: what to connect to, and what to ask for there."""

    scheme: str
    host: str
    port: int
    path: str  # with the query string


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def allowed(address: str, *, allow_private: bool) -> bool:
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return allow_private or is_public(parsed)


def parse(url: str, *, allow_private: bool) -> Target:
    """The URL's parts, or ``AddressRefused`` saying what is wrong with it."""
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"The URL cannot be read: {exc}.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise AddressRefused("The URL must start with https://.")
    if not parts.hostname:
        raise AddressRefused("The URL has no host name.")
    if parts.username or parts.password:
        raise AddressRefused("The URL must not carry a user name or password.")
    if parts.fragment:
        raise AddressRefused("The URL must not have a #fragment.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    default_port = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default_port, path)


def resolve(target: Target, *, allow_private: bool) -> list[str]:
    """The host's addresses, each allowed; ``AddressRefused`` when it does
    not resolve or any address is not public."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise AddressRefused(f"The host name {target.host} does not resolve.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    refused = [a for a in addresses if not allowed(a, allow_private=allow_private)]
    if refused or not addresses:
        raise AddressRefused(
            f"{target.host} resolves to an address that is not public ({refused[0]}): "
            "webhooks are sent to public addresses only."
            if refused
            else f"The host name {target.host} does not resolve."
        )
    return addresses


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL, when an endpoint may have it; else an ``InputError`` on ``url``."""
    try:
        resolve(parse(url, allow_private=allow_private), allow_private=allow_private)
    except AddressRefused as exc:
        raise InputError(str(exc), code="webhook_url_refused", field="url") from None
    return url
