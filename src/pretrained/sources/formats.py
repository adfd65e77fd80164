"""Bytes of any supported format → text: HTML (main text via trafilatura), PDF, .docx,
Markdown and plain text (encoding detected); binary files refused by their magic bytes."""

from __future__ import annotations

import io
import re
from typing import Any

from .._util import first_line
from ..errors import EmptyInputError, UnreadableInputError, missing_dependency
from .files import decode_bytes


def html_to_text(html: str, url: str | None = None) -> tuple[str, str | None]:
    """Main text of an HTML page (navigation, ads and footers removed) and its title."""
    try:
        import trafilatura
    except ImportError as exc:  # pragma: no cover - part of [text]
        raise missing_dependency("trafilatura", "text") from exc
    text = trafilatura.extract(
        html, url=url, include_comments=False, include_tables=True, favor_recall=True
    )
    meta = trafilatura.extract_metadata(html, default_url=url)
    title = meta.title if meta is not None else None
    if not text:
        # Very short pages (a paragraph or two) fall below trafilatura's thresholds.
        from trafilatura import html2txt

        text = html2txt(html) or ""
    return text, title


def pdf_to_text(data: bytes, name: str) -> tuple[str, str | None, dict[str, Any]]:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as exc:  # pragma: no cover - part of [text]
        raise missing_dependency("pypdf", "text") from exc
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableInputError(
                f"'{name}' is an encrypted PDF", hint="decrypt it first (e.g. qpdf --decrypt)"
            )
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        title = str(info.title).strip() if info is not None and info.title else None
    except UnreadableInputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnreadableInputError(
            f"cannot read '{name}' as a PDF: {first_line(exc)}",
            hint="check that the file is a complete, valid PDF",
        ) from exc
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text.strip():
        raise EmptyInputError(
            f"'{name}' has no extractable text ({len(pages)} page(s); scanned images?)",
            hint="run OCR on it first (e.g. ocrmypdf), then summarize the result",
        )
    return text, title, {"pages": len(pages)}


def docx_to_text(data: bytes, name: str) -> tuple[str, str | None]:
    try:
        import docx
    except ImportError as exc:
        raise missing_dependency("python-docx", "text") from exc
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several unrelated types for broken files
        raise UnreadableInputError(
            f"cannot read '{name}' as a Word document: {type(exc).__name__}",
            hint="save it again as .docx, or export it as PDF or plain text",
        ) from exc
    paragraphs = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                paragraphs.append(" | ".join(cells))
    title = document.core_properties.title or None
    return "\n\n".join(paragraphs), title


_MAGIC = {
    b"%PDF": "pdf",
    b"PK\x03\x04": "zip",
    b"\x89PNG": "png",
    b"\xff\xd8\xff": "jpeg",
    b"GIF8": "gif",
    b"\x7fELF": "elf",
    b"ID3": "mp3",
    b"OggS": "ogg",
    b"RIFF": "riff",
    b"\x1f\x8b": "gzip",
}


def sniff(data: bytes) -> str | None:
    head = data[:8]
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    if data[4:8] == b"ftyp":
        return "mp4"
    return None


def _looks_like_html(text: str) -> bool:
    head = text[:2000].lower()
    return "<html" in head or "<!doctype html" in head or ("<body" in head and "</" in head)


def document_from_bytes(
    data: bytes,
    name: str,
    *,
    suffix: str = "",
    content_type: str = "",
    charset: str | None = None,
    url: str | None = None,
) -> tuple[str, str | None, str, dict[str, Any]]:
    """→ (text, title, kind, metadata) for bytes of any supported format."""
    suffix = suffix.lower()
    content_type = content_type.lower()
    magic = sniff(data)
    if suffix == ".pdf" or "pdf" in content_type or magic == "pdf":
        text, title, meta = pdf_to_text(data, name)
        return text, title, "pdf", meta
    if suffix == ".docx" or "officedocument.wordprocessingml" in content_type:
        text, title = docx_to_text(data, name)
        return text, title, "docx", {}
    if magic is not None:
        raise UnreadableInputError(
            f"'{name}' is a binary file ({magic}), not text",
            hint="pass text, Markdown, HTML, PDF or .docx",
        )
    text = _decode(data, name, charset)
    if suffix in (".html", ".htm", ".xhtml") or "html" in content_type or _looks_like_html(text):
        body, title = html_to_text(text, url)
        return body, title, "html", {}
    kind = "markdown" if suffix in (".md", ".markdown") or "markdown" in content_type else "text"
    heading = (
        re.search(r"^#[ \t]+(.+?)[ \t#]*$", text[:5000], re.MULTILINE)
        if kind == "markdown"
        else None
    )
    return text, heading.group(1).strip() if heading else None, kind, {}


def _decode(data: bytes, name: str, charset: str | None) -> str:
    if charset:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_bytes(data, name)
