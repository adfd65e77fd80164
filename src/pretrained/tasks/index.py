"""A local semantic index: chunk embeddings in SQLite under $PRETRAINED_HOME/indexes/NAME.sqlite.

`add_to_index(sources, "notes")` loads each source, cuts it into chunks that fit the embedding
model (measured with its own tokenizer, one sentence of overlap), embeds them in batches and
stores text, offsets, line and vector. A source whose text (and model) did not change since
the last run is skipped by content hash; a changed one is replaced. `search_index("query",
"notes", k=5)` returns the k most similar chunks (cosine) with their sources.

Search loads the vectors into one numpy matrix: fine for the hundreds of thousands of chunks a
laptop index holds.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import runlog, settings
from ..errors import EmptyInputError, InputNotFoundError, InvalidOptionError, UsageError
from ..models.load_options import LoadOptions
from .chunking import Chunk, chunk_text, sections, structured_chunks  # noqa: F401 - re-exported
from .embed import EmbedOptions, embed_chunks, get_embedder

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, sha256 TEXT, title TEXT, kind TEXT, location TEXT,
    chunks INTEGER, added REAL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT, ordinal INTEGER,
    start INTEGER, end INTEGER, line INTEGER, text TEXT, vector BLOB
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
"""


def index_dir() -> Path:
    path = settings.home() / "indexes"
    path.mkdir(parents=True, exist_ok=True)
    return path


def index_path(name: str) -> Path:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidOptionError(
            f"bad index name {name!r}",
            hint="use letters, digits, '-', '_' or '.', e.g. --index notes",
        )
    return index_dir() / f"{name}.sqlite"


def check_index(name: str) -> Path:
    """The path of an existing index, or the one-line error (checked before any model loads)."""
    path = index_path(name)
    if not path.exists():
        available = list_indexes()
        raise InputNotFoundError(
            f"no index named '{name}'",
            hint=(
                f"build it first: pretrained embed FILE... --index {name}"
                + (f" (existing: {', '.join(available)})" if available else "")
            ),
        )
    return path


def list_indexes() -> list[str]:
    return sorted(p.stem for p in index_dir().glob("*.sqlite"))


@dataclass
class Passage:
    """A retrieved chunk: where it comes from and how well it matches."""

    text: str
    source: str
    title: str | None
    start: int
    end: int
    line: int
    score: float
    location: str | None = None
    heading: str | None = None  # its Markdown heading path, when the document has headings

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "heading": self.heading,
            "source": self.source,
            "title": self.title,
            "location": self.location,
            "start": self.start,
            "end": self.end,
            "line": self.line,
            "text": self.text,
        }


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


class VectorIndex:
    def __init__(self, name: str, *, create: bool = False) -> None:
        self.name = name
        self.path = index_path(name) if create else check_index(name)
        self.conn = sqlite3.connect(self.path, timeout=30)
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> VectorIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def check_model(self, model_id: str, dims: int) -> None:
        known = self.meta("model")
        if known is None:
            with self.conn:
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('model', ?)", (model_id,))
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('dims', ?)", (str(dims),))
        elif known != model_id:
            raise UsageError(
                f"index '{self.name}' was built with {known}, not {model_id}",
                hint=f"pass --model {known}, or use another --index name",
            )

    def document_hash(self, source: str) -> str | None:
        row = self.conn.execute(
            "SELECT sha256 FROM documents WHERE source = ?", (source,)
        ).fetchone()
        return row[0] if row else None

    def replace(self, document: Any, key: str, chunks: list[Chunk], vectors) -> None:
        import numpy as np

        rows = [
            (
                key,
                i,
                c.start,
                c.end,
                _line(document.text, c.start),
                c.text,
                np.asarray(v, dtype=np.float32).tobytes(),
            )
            for i, (c, v) in enumerate(zip(chunks, vectors, strict=True))
        ]
        with self.conn:
            self.conn.execute("DELETE FROM chunks WHERE source = ?", (key,))
            self.conn.executemany(
                "INSERT INTO chunks (source, ordinal, start, end, line, text, vector) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self.conn.execute(
                "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    document.sha256,
                    document.title,
                    document.kind,
                    document.location,
                    len(rows),
                    time.time(),
                ),
            )

    def count(self) -> tuple[int, int]:
        docs = self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        chunks = self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return docs, chunks

    def search(self, vector, k: int) -> list[Passage]:
        import numpy as np

        rows = self.conn.execute("SELECT c.id, c.vector FROM chunks c ORDER BY c.id").fetchall()
        if not rows:
            return []
        ids = [r[0] for r in rows]
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(
            len(rows), -1
        )
        scores = matrix @ np.asarray(vector, dtype=np.float32)
        top = np.argsort(-scores)[:k]
        hits = []
        for i in top:
            row = self.conn.execute(
                "SELECT c.text, c.source, d.title, c.start, c.end, c.line, d.location "
                "FROM chunks c LEFT JOIN documents d ON d.source = c.source WHERE c.id = ?",
                (ids[int(i)],),
            ).fetchone()
            text, source, title, start, end, line, location = row
            hits.append(Passage(text, source, title, start, end, line, float(scores[i]), location))
        return hits


def source_key(document: Any) -> str:
    """The identity of a source in an index: absolute path, URL or wiki:Title."""
    if document.path:
        return str(Path(document.path).resolve())
    return document.url or document.source


@dataclass
class IndexReport:
    index: str
    model: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    chunks: int = 0  # embedded in this run
    total_documents: int = 0
    total_chunks: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "model": self.model,
            "added": self.added,
            "updated": self.updated,
            "skipped": self.skipped,
            "chunks_embedded": self.chunks,
            "total_documents": self.total_documents,
            "total_chunks": self.total_chunks,
            "timings": self.timings,
        }


def add_to_index(
    sources: list[Any],
    name: str,
    model: str | None = None,
    *,
    embedder: Any = None,
    batch_size: int = 32,
    max_tokens: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    load_options: LoadOptions | None = None,
) -> IndexReport:
    """Embed sources (paths, URLs, wiki:Title or Documents) into the index `name`, with
    `embedder`, or `model` loaded by `load_options`."""
    from ..sources import Document, load_text

    if not sources:
        raise EmptyInputError("no sources to embed", hint="pass files, URLs or wiki:Title")
    index_path(name)  # a bad name fails before the model loads
    EmbedOptions(batch_size=batch_size).validate()
    began = time.perf_counter()
    engine = get_embedder(embedder, model, load_options)
    report = IndexReport(index=name, model=engine.model_id)
    with VectorIndex(name, create=True) as index:
        index.check_model(engine.model_id, engine.dims)
        for source in sources:
            document = source if isinstance(source, Document) else load_text(source)
            key = source_key(document)
            known = index.document_hash(key)
            if known == document.sha256:
                report.skipped.append(key)
            else:
                chunks, vectors = embed_chunks(document.text, engine, max_tokens, batch_size)
                index.replace(document, key, chunks, vectors)
                report.chunks += len(chunks)
                (report.updated if known else report.added).append(key)
            if on_progress:
                on_progress(1)
        report.total_documents, report.total_chunks = index.count()
    report.timings["total_s"] = round(time.perf_counter() - began, 3)
    runlog.annotate(task="embedding", model=engine.model_id, device=engine.device, index=name)
    return report


@dataclass
class SearchResult:
    query: str
    index: str | None
    model: str
    hits: list[Passage]
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "index": self.index,
            "model": self.model,
            "hits": [h.to_dict() for h in self.hits],
            "timings": self.timings,
        }


def search_index(
    query: str,
    name: str,
    k: int = 5,
    *,
    embedder: Any = None,
    model: str | None = None,
    load_options: LoadOptions | None = None,
) -> SearchResult:
    """The `k` passages of index `name` nearest to `query`, embedded by `embedder`, or by the
    index's own model (or `model`) loaded by `load_options`."""
    if not isinstance(query, str) or not query.strip():
        raise EmptyInputError("the query is empty", hint='pretrained similar "what to look for"')
    if not isinstance(k, int) or k < 1:
        raise InvalidOptionError(f"-k must be ≥ 1 (got {k!r})", hint="e.g. -k 5")
    began = time.perf_counter()
    with VectorIndex(name) as index:
        built_with = index.meta("model")
        engine = get_embedder(embedder, model or built_with, load_options)
        if built_with and engine.model_id != built_with:
            raise UsageError(
                f"index '{name}' was built with {built_with}, not {engine.model_id}",
                hint=f"drop --model (or pass --model {built_with})",
            )
        vector = engine.encode([query])[0]
        hits = index.search(vector, k)
    runlog.annotate(task="search", model=engine.model_id, index=name)
    return SearchResult(
        query, name, engine.model_id, hits, {"total_s": round(time.perf_counter() - began, 3)}
    )
