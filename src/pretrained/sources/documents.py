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

import sys
from collections.abc import Callable

from ..errors import EmptyInputError
from . import web, wikipedia
from .document import Document, from_text
from .files import read_file_bytes
from .formats import document_from_bytes


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
        document = web.fetch_url(source, timeout=timeout, max_bytes=max_bytes, check_url=check_url)
    elif source.lower().startswith("wiki:"):
        document = wikipedia.fetch_wikipedia(
            source[5:], api=wiki_api, timeout=timeout, check_url=check_url
        )
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
