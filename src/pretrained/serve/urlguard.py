"""SSRF guard for URL inputs: a URL the server fetches on a client's behalf must not point into
the host's own network (loopback, private, link-local, multicast, reserved, and IPv4 addresses
hidden in IPv6 ones: mapped, 6to4, Teredo, NAT64, IPv4-compatible) unless the operator passed
--allow-private-urls.

The check and the connection see the same address: `PinnedTransport` resolves the host once,
checks every address it got, and connects to a checked one (the Host header and TLS name stay
the host's), so a DNS answer that changes between check and connect (rebinding) reaches nothing.
It runs for every request of a fetch, redirects included."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from ..errors import UnsafeURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address reaches or names."""
    out = []
    if address.ipv4_mapped:
        out.append(address.ipv4_mapped)
    if address.sixtofour:
        out.append(address.sixtofour)
    if address.teredo:
        out += list(address.teredo)
    if any(address in net for net in _NAT64) or int(address) >> 32 == 0:  # NAT64, ::a.b.c.d
        out.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return out


def blocked(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and any(
        blocked(inner) for inner in _embedded_ipv4(address)
    ):
        return True
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


def checked_addresses(host: str, resolver: Callable[[str], list[str]] | None = None) -> list[str]:
    """The addresses of `host` (one resolution), refused if any of them is not public."""
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        addresses = (resolver or resolve)(host)
    if not addresses:
        raise UnsafeURLError(f"cannot resolve the host '{host}'", hint="check the address")
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%")[0])
        if blocked(address):
            raise UnsafeURLError(
                f"refusing to fetch {host}: it resolves to {address}, a private, loopback or "
                "link-local address",
                hint="only public addresses are fetched (the operator can pass "
                "--allow-private-urls)",
            )
    return [a.split("%")[0] for a in addresses]


def check_url(url: str, *, allow_private: bool = False, resolver=None) -> None:
    """Raise UnsafeURLError unless `url` is http(s) to public addresses only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # "http://[::1" and other broken brackets
        raise UnsafeURLError(f"the URL {url!r} is malformed", hint="check the address") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeURLError(
            f"only http and https URLs are fetched (got {parts.scheme or 'no'} scheme)",
            hint="pass an address starting with https://",
        )
    if not host:
        raise UnsafeURLError(f"the URL {url!r} has no host", hint="e.g. https://example.com/page")
    if allow_private:
        return
    checked_addresses(host, resolver)


def guard(allow_private: bool) -> Callable[[str], None]:
    """A check_url callable for the URL source (an early, friendly refusal; the transport is
    what enforces it)."""

    def check(url: str) -> None:
        check_url(url, allow_private=allow_private)

    return check


def pinned_transport(resolver=None, connect=None):
    """An httpx transport that connects only to checked, public addresses. `connect` replaces
    the inner transport (tests)."""
    import httpx

    class PinnedTransport(httpx.BaseTransport):
        def __init__(self) -> None:
            # trust_env=False: an HTTP(S)_PROXY from the environment would connect elsewhere
            self.inner = connect or httpx.HTTPTransport(trust_env=False)

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            host = request.url.host
            address = checked_addresses(host, resolver)[0]
            if address == host:
                return self.inner.handle_request(request)
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,  # Host: still the name asked for
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": host},
            )
            return self.inner.handle_request(pinned)

        def close(self) -> None:
            self.inner.close()

    return PinnedTransport()
