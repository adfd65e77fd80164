"""SSRF table (issue 14): every way of naming the host's own network is refused, and the fetch
connects only to the address that was checked (DNS rebinding through a stub resolver reaches
nothing). No traffic leaves 127.0.0.1: public addresses are only ever looked at, never dialled."""

from __future__ import annotations

import socket

import httpx
import pytest

from pretrained.errors import UnsafeURLError
from pretrained.serve.urlguard import check_url, pinned_transport
from tests.serve.conftest import FakeEmbedder, LiveServer, make_app

PUBLIC = "93.184.216.34"
DNS = {
    "localhost": ["127.0.0.1", "::1"],
    "internal.example": ["10.0.0.7"],
    "mixed.example": [PUBLIC, "192.168.1.1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "public.example": [PUBLIC],
}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",  # loopback
        "http://127.1/",  # short form (resolves to loopback)
        "http://2130706433/",  # decimal form
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://localhost:8000/",
        "http://10.1.2.3/",  # private
        "http://172.16.5.5/",
        "http://192.168.0.10/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://169.254.169.254/latest/meta-data/",  # link-local (cloud metadata)
        "http://[fe80::1]/",
        "http://[fc00::1]/",  # unique local
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
        "http://[::ffff:10.0.0.1]/",
        "http://[::127.0.0.1]/",  # IPv4-compatible
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo, client 127.0.0.1
        "http://[ff02::1]/",  # multicast
        "http://224.0.0.1/",
        "http://internal.example/",  # names: any private answer refuses
        "http://mixed.example/",
        "http://mapped.example/",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "http://[::1/",  # malformed
    ],
)
def test_private_destinations_are_refused(url):
    def dns(host):
        if host in DNS:
            return DNS[host]
        return [socket.inet_ntoa(socket.inet_aton(host))]  # 127.1, 2130706433 …

    with pytest.raises(UnsafeURLError):
        check_url(url, resolver=dns)


@pytest.mark.parametrize(
    "url",
    [f"http://{PUBLIC}/", "https://public.example/a?b=c", "http://[2002:5db8:d822::]/"],
)
def test_public_destinations_pass(url):
    check_url(url, resolver=DNS.get)


def test_the_transport_connects_to_the_checked_address_with_the_host_name_kept():
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    answers = iter([[PUBLIC], ["127.0.0.1"]])  # a rebinding resolver: public, then loopback
    transport = pinned_transport(lambda host: next(answers), connect=httpx.MockTransport(upstream))
    with httpx.Client(transport=transport) as client:
        assert client.get("https://public.example/page").text == "ok"
        with pytest.raises(UnsafeURLError):  # the second resolution is checked too
            client.get("https://public.example/page")
    (request,) = seen
    assert request.url.host == PUBLIC and request.headers["host"] == "public.example"
    assert request.extensions["sni_hostname"] == "public.example"


def test_a_redirect_into_the_host_is_refused():
    from pretrained.sources.web import get_bytes

    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://127.0.0.1:9/admin"})

    transport = pinned_transport(DNS.get, connect=httpx.MockTransport(upstream))
    with pytest.raises(UnsafeURLError):
        get_bytes("http://public.example/", transport=transport)


def test_dns_rebinding_does_not_reach_an_internal_page(monkeypatch):
    """The stub resolver answers public, public, then 127.0.0.1 for rebind.test: the old guard
    checked the first answers and httpx connected to the last. Dialling any address other than
    127.0.0.1 is refused here, so the public answer is never really contacted."""
    hits: list[str] = []

    async def internal(scope, receive, send):
        if scope["type"] != "http":
            return
        hits.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"INTERNAL admin page. " * 20})

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection
    answers = {"n": 0}

    def rebinding(host, *args, **kwargs):
        if host == "rebind.test":
            answers["n"] += 1
            host = PUBLIC if answers["n"] <= 2 else "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    def local_only(address, *args, **kwargs):
        try:
            literal = socket.inet_pton(socket.AF_INET, address[0])
        except OSError:
            literal = None  # a name: resolved (by the stub) inside create_connection
        if literal is not None and address[0] != "127.0.0.1":
            raise OSError("tests never leave 127.0.0.1")
        return real_connect(address, *args, **kwargs)

    with LiveServer(internal) as inner, LiveServer(make_app(embedder=FakeEmbedder())) as server:
        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        monkeypatch.setattr(socket, "create_connection", local_only)
        r = httpx.post(
            server.url + "/v1/summarize",
            json={"url": f"http://rebind.test:{inner.port}/admin", "mode": "extractive"},
            timeout=30,
        )
        monkeypatch.undo()
    assert hits == [], "the fetch reached the internal page"
    assert r.status_code in (400, 502) and "INTERNAL" not in r.text, r.text
