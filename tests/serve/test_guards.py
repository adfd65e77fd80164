"""The SSRF guard for URL inputs and the size-limited, self-cleaning upload helper."""

from __future__ import annotations

import asyncio
import io
import tempfile
from pathlib import Path

import pytest

from pretrained.errors import EmptyInputError, InputTooLargeError, UnsafeURLError
from pretrained.serve.urlguard import check_url


def fake_dns(table):
    return lambda host: table[host]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/admin",
        "http://localhost:8000/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://172.16.5.5/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",  # carrier-grade NAT: not global
        "http://2130706433/",  # 127.0.0.1 as a decimal number
        "http://internal.example/",  # a name that resolves to a private address
        "http://mixed.example/",  # one public and one private address: refused
    ],
)
def test_private_destinations_are_refused(url):
    dns = fake_dns(
        {
            "localhost": ["127.0.0.1", "::1"],
            "2130706433": ["127.0.0.1"],
            "internal.example": ["10.0.0.7"],
            "mixed.example": ["93.184.216.34", "192.168.1.1"],
        }
    )
    with pytest.raises(UnsafeURLError):
        check_url(url, resolver=dns)


def test_public_destinations_and_the_override():
    dns = fake_dns({"example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]})
    check_url("https://example.com/article", resolver=dns)
    check_url("http://8.8.8.8/", resolver=dns)
    check_url("http://127.0.0.1:9/", allow_private=True)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "http:///nohost"]
)
def test_only_http_urls_with_a_host(url):
    with pytest.raises(UnsafeURLError):
        check_url(url, allow_private=True)


def test_unresolvable_host_is_an_input_error():
    with pytest.raises(UnsafeURLError, match="cannot resolve"):
        check_url("http://no-such-host.invalid/")


def _upload(data: bytes, name: str = "clip.wav"):
    from starlette.datastructures import UploadFile

    return UploadFile(io.BytesIO(data), filename=name)


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("pretrained-upload-*")}


def test_upload_is_saved_then_removed():
    from pretrained.serve.uploads import saved_upload

    before = _leftovers()

    async def main():
        async with saved_upload(_upload(b"RIFF" + b"\0" * 5000), max_bytes=10_000) as path:
            assert path.suffix == ".wav" and path.stat().st_size == 5004
            return path

    path = asyncio.run(main())
    assert not path.exists() and _leftovers() == before


@pytest.mark.parametrize(
    ("data", "error"), [(b"x" * 3000, InputTooLargeError), (b"", EmptyInputError)]
)
def test_bad_uploads_leave_no_temp_file(data, error):
    from pretrained.serve.uploads import saved_upload

    before = _leftovers()

    async def main():
        async with saved_upload(_upload(data), max_bytes=2000):
            raise AssertionError("not reached")

    with pytest.raises(error):
        asyncio.run(main())
    assert _leftovers() == before


def test_upload_removed_when_the_handler_fails():
    from pretrained.serve.uploads import saved_upload

    async def main():
        async with saved_upload(_upload(b"abc"), max_bytes=2000) as path:
            seen.append(path)
            raise KeyError("handler failed")

    seen: list[Path] = []
    with pytest.raises(KeyError):
        asyncio.run(main())
    assert not seen[0].exists()
