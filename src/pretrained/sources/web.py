"""URLs: httpx with timeouts, redirects, a size cap and a content-type check; HTML main text
through trafilatura; PDFs and plain text handled by the same format code as files."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..errors import InputNotFoundError, NetworkError, UnreadableInputError, missing_dependency

DEFAULT_TIMEOUT = 20.0  # seconds, per network operation
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
USER_AGENT = "pretrained/0.1 (+https://pypi.org/project/pretrained/)"
_TEXTUAL = ("text/", "application/xhtml", "application/xml", "application/json", "+xml")
_DOCUMENTS = ("application/pdf", "officedocument.wordprocessingml")


def max_bytes_default() -> int:
    value = os.environ.get("PRETRAINED_MAX_DOWNLOAD_BYTES")
    return int(value) if value and value.isdigit() else DEFAULT_MAX_BYTES


def http_client(
    timeout: float | None = None,
    check_url: Callable[[str], None] | None = None,
    transport: Any = None,
):
    """httpx client with our timeouts and redirects; `check_url` runs before every request
    (redirects included); `transport` replaces httpx's own (the server's SSRF-pinned one)."""
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - part of [text]
        raise missing_dependency("httpx", "text") from exc
    hooks: dict[str, list[Any]] = {}
    if check_url is not None:
        hooks["request"] = [lambda request: check_url(str(request.url))]
    seconds = timeout or DEFAULT_TIMEOUT
    return httpx.Client(
        follow_redirects=True,
        max_redirects=10,
        timeout=httpx.Timeout(seconds, connect=min(seconds, 10.0)),
        headers={"User-Agent": USER_AGENT},
        event_hooks=hooks,
        transport=transport,
    )


def _network_error(url: str, exc: Exception) -> NetworkError:
    kind = type(exc).__name__
    if "Timeout" in kind:
        return NetworkError(
            f"timed out fetching {url}", hint="try again, or pass --timeout with more seconds"
        )
    if kind == "TooManyRedirects":
        return NetworkError(f"too many redirects fetching {url}", hint="open the URL in a browser")
    return NetworkError(f"could not fetch {url}: {kind}", hint="check the address and connection")


def get_bytes(
    url: str,
    *,
    timeout: float | None = None,
    max_bytes: int | None = None,
    check_url: Callable[[str], None] | None = None,
    params: dict[str, Any] | None = None,
    transport: Any = None,
) -> tuple[bytes, str, str | None, str]:
    """GET a URL → (body, content type, charset, final URL), refusing bodies over the cap."""
    import httpx

    cap = max_bytes or max_bytes_default()
    try:
        with (
            http_client(timeout, check_url, transport) as client,
            client.stream("GET", url, params=params) as response,
        ):
            status = response.status_code
            if status in (404, 410):
                raise InputNotFoundError(
                    f"{url} was not found (HTTP {status})", hint="check the address"
                )
            if status in (401, 403):
                raise UnreadableInputError(
                    f"{url} refused access (HTTP {status})",
                    hint="download the page yourself and pass the file",
                )
            if status >= 400:
                raise NetworkError(
                    f"{url} answered HTTP {status}",
                    hint="try again later" if status >= 500 else "check the address",
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise UnreadableInputError(
                    f"{url} is {int(declared) / 1e6:.1f} MB, over the {cap / 1e6:.0f} MB limit",
                    hint="download it and pass the file, or raise PRETRAINED_MAX_DOWNLOAD_BYTES",
                )
            body = bytearray()
            for block in response.iter_bytes():
                body.extend(block)
                if len(body) > cap:
                    raise UnreadableInputError(
                        f"{url} is larger than the {cap / 1e6:.0f} MB limit",
                        hint="download it and pass the file, or raise PRETRAINED_MAX_DOWNLOAD_BYTES",
                    )
            content_type = response.headers.get("content-type", "")
            charset = response.charset_encoding
            final = str(response.url)
    except httpx.HTTPError as exc:
        raise _network_error(url, exc) from exc
    return bytes(body), content_type, charset, final


def fetch_url(
    url: str,
    *,
    timeout: float | None = None,
    max_bytes: int | None = None,
    check_url: Callable[[str], None] | None = None,
    transport: Any = None,
):
    from .document import Document
    from .formats import document_from_bytes

    body, content_type, charset, final = get_bytes(
        url, timeout=timeout, max_bytes=max_bytes, check_url=check_url, transport=transport
    )
    mime = content_type.split(";")[0].strip().lower()
    if mime and not any(t in mime for t in _TEXTUAL + _DOCUMENTS):
        raise UnreadableInputError(
            f"{url} is {mime}, not a web page, PDF or text",
            hint="pass an HTML page, a PDF or a plain-text address",
        )
    suffix = os.path.splitext(final.split("?")[0])[1]
    text, title, kind, meta = document_from_bytes(
        body, url, suffix=suffix, content_type=mime, charset=charset, url=final
    )
    meta.update(content_type=mime, bytes=len(body))
    if final != url:
        meta["redirected_to"] = final
    return Document(text, title, url, kind, url=final, metadata=meta)
