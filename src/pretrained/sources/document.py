"""`Document`: clean text plus where it came from, the value every text source returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import EmptyInputError


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
