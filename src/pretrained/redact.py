"""Secrets out of anything logged or printed: parameter names that look like credentials,
token-shaped values (hf_…, sk-…, AKIA…), and URLs' userinfo and credential query parameters
(`https://user:pw@host/?access_token=…` → `https://***@host/?access_token=***`).

A bottom-floor module: it imports nothing from the package, so every layer can use it."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

SECRET_PARTS = {
    "token",
    "key",
    "apikey",
    "secret",
    "password",
    "passwd",
    "pwd",
    "credentials",
    "credential",
    "auth",
    "signature",
    "sig",
    "session",
}
# Token-shaped strings (Hugging Face, OpenAI-style, AWS access keys) are masked wherever they appear.
SECRET_VALUE = re.compile(r"\b(hf_[A-Za-z0-9]{16,}|sk-[A-Za-z0-9_-]{16,}|AKIA[A-Z0-9]{12,})\b")
URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>.,:;)\]]")
MASK = "***"


def is_secret_name(name: str) -> bool:
    """`HF_TOKEN`, `api-key`, `access_token`, `X-Amz-Signature` … (split on _ - . and spaces)."""
    return any(part in SECRET_PARTS for part in re.split(r"[_\-.\s]+", name.lower()))


def redact_url(url: str) -> str:
    """`url` without its userinfo and with credential-like query values masked."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return SECRET_VALUE.sub(MASK, url)
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&"))
    clean = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return SECRET_VALUE.sub(MASK, clean)


def _redact_pair(pair: str) -> str:
    name, sep, _ = pair.partition("=")
    return f"{name}={MASK}" if sep and is_secret_name(unquote_plus(name)) else pair


def redact(text: str) -> str:
    """Free text with every URL in it redacted and token-shaped values masked."""
    return SECRET_VALUE.sub(MASK, URL.sub(lambda m: redact_url(m.group(0)), text))
