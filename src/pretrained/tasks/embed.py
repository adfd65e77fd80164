"""Sentence embeddings for a batch of texts: one forward pass per batch, token counts from the
model's own tokenizer, and the texts the model could not read whole are reported, not hidden.

    >>> from pretrained.tasks.embed import embed
    >>> result = embed(["a cat", "a dog"])
    >>> result.vectors.shape        # (2, 384), float32, L2-normalized by default
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .. import runlog
from ..errors import EmptyInputError, InvalidOptionError
from ..models.load_options import LoadOptions
from ..options import option, validate
from .chunking import chunk_text


@dataclass(frozen=True)
class EmbedOptions:
    batch_size: int = option(32, "Texts per model call.", ge=1, example=32)
    normalize: bool = True  # unit vectors: cosine similarity is a dot product

    def validate(self) -> EmbedOptions:
        return validate(self)


@dataclass
class EmbedResult:
    vectors: Any  # numpy float32 array, shape (len(texts), dims)
    model: str
    revision: str | None
    dims: int
    token_counts: list[int]
    max_tokens: int
    normalized: bool = True
    timings: dict[str, float] = field(default_factory=dict)
    engine: str | None = None  # what ran the model (ctranslate2, onnx, sentence-transformers …)

    @property
    def truncated(self) -> list[int]:
        """Indices of texts longer than the model reads (only their first max_tokens count)."""
        return [i for i, n in enumerate(self.token_counts) if n > self.max_tokens]

    @property
    def total_tokens(self) -> int:
        return sum(self.token_counts)

    def to_dict(self, *, vectors: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "revision": self.revision,
            "engine": self.engine,
            "dims": self.dims,
            "count": len(self.token_counts),
            "normalized": self.normalized,
            "token_counts": self.token_counts,
            "max_tokens": self.max_tokens,
            "truncated": self.truncated,
            "usage": {"prompt_tokens": self.total_tokens, "total_tokens": self.total_tokens},
            "timings": self.timings,
        }
        if vectors:
            out["vectors"] = [[round(float(x), 6) for x in row] for row in self.vectors]
        return out


def get_embedder(
    backend: Any = None, model: str | None = None, load_options: LoadOptions | None = None
):
    """The given backend, or `models.load_embedder(model)` (cached in-process)."""
    if backend is not None:
        return backend
    from ..models import load_embedder

    return (load_options or LoadOptions()).call(load_embedder, model)


def embed_chunks(text: str, engine: Any, max_tokens: int | None = None, batch_size: int = 32):
    """→ (chunks, vectors): `text` cut into chunks the model reads whole (its own tokenizer
    counts, along the document's structure), each chunk embedded."""
    chunks = chunk_text(text, engine, max_tokens=max_tokens)
    vectors = engine.encode([c.text for c in chunks], batch_size=batch_size)
    return chunks, vectors


def embed(
    texts: str | list[str],
    model: str | None = None,
    options: EmbedOptions | None = None,
    *,
    backend: Any = None,
    annotate: bool = True,
    load_options: LoadOptions | None = None,
) -> EmbedResult:
    """Embed texts (a string counts as one text). Empty strings are allowed inside a batch
    (a dataset row can be empty); an empty list is an error."""
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise EmptyInputError("no texts to embed", hint='pass at least one text, e.g. ["hello"]')
    if any(not isinstance(t, str) for t in items):
        raise InvalidOptionError(
            "every text to embed must be a string", hint='pass a list of strings, e.g. ["a", "b"]'
        )
    options = (options or EmbedOptions()).validate()
    began = time.perf_counter()
    engine = get_embedder(backend, model, load_options)
    load_s = engine.load_seconds
    start = time.perf_counter()
    counts = engine.count_tokens(items)
    vectors = engine.encode(items, batch_size=options.batch_size, normalize=options.normalize)
    seconds = time.perf_counter() - start
    result = EmbedResult(
        vectors=vectors,
        model=engine.model_id,
        revision=engine.revision,
        dims=engine.dims,
        token_counts=counts,
        max_tokens=engine.max_tokens,
        normalized=options.normalize,
        engine=getattr(engine, "engine", None),
        timings={
            "load_s": round(load_s, 3),
            "embed_s": round(seconds, 3),
            "total_s": round(time.perf_counter() - began, 3),
            "texts_per_s": round(len(items) / seconds, 1) if seconds > 0 else None,
        },
    )
    if annotate:
        runlog.annotate(
            task="embedding",
            model=engine.model_id,
            revision=engine.revision,
            device=engine.device,
            prompt_tokens=result.total_tokens,
        )
    return result
