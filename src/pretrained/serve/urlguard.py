"""SSRF guard for URL inputs: a URL the server fetches on a client's behalf must not point into
the host's own network (loopback, private, link-local, multicast, reserved …) unless the
operator passed --allow-private-urls. The check runs on every request of a fetch, redirects
included (the URL source calls it from an httpx request hook)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from ..errors import UnsafeURLError


def _blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURLError(f"cannot resolve the host '{host}'", hint="check the address") from exc
    return sorted({info[4][0] for info in infos})


def check_url(url: str, *, allow_private: bool = False, resolver=resolve) -> None:
    """Raise UnsafeURLError unless `url` is http(s) to public addresses only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURLError(
            f"only http and https URLs are fetched (got {parts.scheme or 'no'} scheme)",
            hint="pass an address starting with https://",
        )
    host = parts.hostname
    if not host:
        raise UnsafeURLError(f"the URL {url!r} has no host", hint="e.g. https://example.com/page")
    if allow_private:
        return
    try:
        addresses = [host] if ipaddress.ip_address(host) else []
    except ValueError:
        addresses = resolver(host)
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%")[0])
        if _blocked(address):
            raise UnsafeURLError(
                f"refusing to fetch {host}: it resolves to {address}, a private, loopback or "
                "link-local address"
            )


def guard(allow_private: bool) -> Callable[[str], None]:
    """A check_url callable for the URL source."""

    def check(url: str) -> None:
        check_url(url, allow_private=allow_private)

    return check
