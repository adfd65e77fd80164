"""`load_text(source) -> Document`: the one entry point every text command (and the server)
uses to turn a source into clean text.

    source            what it means
    -                 stdin
    http(s)://…       a web page (main text via trafilatura), a PDF or a plain-text URL
    wiki:Title        a Wikipedia page by exact title (English)
    wiki:de:Titel     the same on another language edition
    path              .txt .md .html .htm .pdf .docx … (encoding detected; binary refused)
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    EmptyInputError,
    UnreadableInputError,
    missing_dependency,
)
from .files import decode_bytes, read_file_bytes


@dataclass
class Document:
    text: str
    title: str | None = None
    source: str = ""  # what the user passed
    kind: str = "text"  # text | markdown | html | pdf | docx | url | wikipedia | stdin
    url: str | None = None
    path: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def name(self) -> str:
        """Short label for citations and listings."""
        return self.title or self.path or self.url or self.source or "text"

    @property
    def location(self) -> str:
        return self.url or self.path or self.source

    def to_dict(self, *, text: bool = False) -> dict[str, Any]:
        out = {
            "title": self.title,
            "source": self.source,
            "kind": self.kind,
            "url": self.url,
            "path": self.path,
            "chars": len(self.text),
            "words": len(self.text.split()),
            "metadata": self.metadata,
        }
        if text:
            out["text"] = self.text
        return out


def from_text(text: str, *, title: str | None = None, source: str = "text") -> Document:
    """Wrap text you already have (API callers, the server) as a Document."""
    if not isinstance(text, str) or not text.strip():
        raise EmptyInputError("the text is empty", hint="pass some text to work on")
    return Document(text=text, title=title, source=source, kind="text")


# ---------------------------------------------------------------- formats (bytes → text)
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
            f"cannot read '{name}' as a PDF: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
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


# ---------------------------------------------------------------- sources
def _from_file(source: str) -> Document:
    path, data = read_file_bytes(source)
    text, title, kind, meta = document_from_bytes(data, str(path), suffix=path.suffix)
    meta["bytes"] = len(data)
    return Document(text, title or path.stem, source, kind, path=str(path), metadata=meta)


def _from_stdin() -> Document:
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    text, title, kind, meta = document_from_bytes(data, "stdin")
    return Document(text, title, "-", "stdin" if kind in ("text", "markdown") else kind, None)


def load_text(
    source: str,
    *,
    timeout: float | None = None,
    max_bytes: int | None = None,
    wiki_api: str | None = None,
    check_url: Callable[[str], None] | None = None,
) -> Document:
    """Load a source (path, URL, wiki:Title, '-' for stdin) as clean text.

    Raises InputNotFoundError (missing file, 404, unknown wiki page), UnreadableInputError
    (binary, corrupt), EmptyInputError (nothing to read) or NetworkError, each with a hint.
    `check_url(url)` is called for every address fetched, redirects included (the server uses
    it to refuse private addresses)."""
    if not isinstance(source, str) or not source.strip():
        raise EmptyInputError("no source given", hint="pass a file path, a URL, wiki:Title or -")
    source = source.strip()
    if source == "-":
        document = _from_stdin()
    elif source.lower().startswith(("http://", "https://")):
        from .web import fetch_url

        document = fetch_url(source, timeout=timeout, max_bytes=max_bytes, check_url=check_url)
    elif source.lower().startswith("wiki:"):
        from .wikipedia import fetch_wikipedia

        document = fetch_wikipedia(source[5:], api=wiki_api, timeout=timeout, check_url=check_url)
    else:
        document = _from_file(source)
    if not document.text.strip():
        raise EmptyInputError(
            f"'{source}' has no text"
            + (f" ({document.kind})" if document.kind not in ("text", "stdin") else ""),
            hint="pass a source with some text in it",
        )
    return document


__all__ = [
    "Document",
    "document_from_bytes",
    "from_text",
    "load_text",
]
