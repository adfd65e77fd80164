"""Rerank: order passages by how well they answer a query.

    >>> from pretrained.tasks.rerank import rerank
    >>> result = rerank("capital of France", ["Paris is the capital of France.", "Cats purr."])
    >>> result.results[0].index, result.kind          # 0, 'bi-encoder' (or 'cross-encoder')

Which model ranks (`choose_model`): the one named; else the MS MARCO cross-encoder when it is
already in the local Hugging Face cache (no download is started on its own); else the embedded
all-MiniLM-L6-v2 as a bi-encoder (cosine of vectors, on the torch-free embedding engine).
The result always says which kind ranked. `ask`'s retrieval scores its candidate sentences
through `rerank()` too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .. import runlog as runs
from ..errors import EmptyInputError, InvalidOptionError
from ..models.load_options import LoadOptions

MAX_DOCUMENTS = 1000  # passages in one call from the CLI or the API (Cohere's recommended cap)
CROSS_ENCODER = "ms-marco-minilm-l6"  # the registry alias taken by default once it is cached
SPLITS = ("auto", "line", "block")


@dataclass(frozen=True)
class RerankOptions:
    top_n: int | None = None  # how many results to return (None: all, best first)
    return_documents: bool = True  # include each passage's text in the results
    max_documents: int | None = MAX_DOCUMENTS  # None: no cap (in-process callers such as ask)

    def validate(self) -> RerankOptions:
        if self.top_n is not None and (not isinstance(self.top_n, int) or self.top_n < 1):
            raise InvalidOptionError(
                f"top_n (--top-n) must be a whole number ≥ 1 (got {self.top_n!r})",
                hint="e.g. --top-n 3 (or leave it out to get every passage)",
            )
        if self.max_documents is not None and self.max_documents < 1:
            raise InvalidOptionError("max_documents must be ≥ 1", hint="e.g. 1000")
        return self


@dataclass
class Ranked:
    index: int  # position of the passage in the input
    score: float
    text: str

    def to_dict(self, document: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "relevance_score": round(self.score, 6)}
        if document:
            out["document"] = {"text": self.text}
        return out


@dataclass
class RerankResult:
    query: str
    results: list[Ranked]  # best first, top_n of them
    scores: list[float]  # every passage's score, in input order
    model: str
    kind: str  # cross-encoder | bi-encoder
    engine: str
    tokens: int  # tokens read (the model's own tokenizer)
    truncated: list[int] = field(default_factory=list)  # passages longer than the model reads
    max_tokens: int | None = None
    return_documents: bool = True
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "model": self.model,
            "kind": self.kind,
            "engine": self.engine,
            "results": [r.to_dict(self.return_documents) for r in self.results],
            "tokens": self.tokens,
            "truncated": self.truncated,
            "max_tokens": self.max_tokens,
            "timings": self.timings,
        }


def check_inputs(query: Any, documents: Any, options: RerankOptions) -> list[str]:
    """The passages as a list of non-empty strings; one-line errors before any model loads."""
    if not isinstance(query, str) or not query.strip():
        raise EmptyInputError("the query is empty", hint='e.g. pretrained rerank "what is X?" …')
    if isinstance(documents, str) or not isinstance(documents, (list, tuple)):
        raise InvalidOptionError(
            "documents must be a list of passages", hint='e.g. ["first passage", "second"]'
        )
    if not documents:
        raise EmptyInputError("there are no passages to rerank", hint="pass at least one passage")
    if options.max_documents is not None and len(documents) > options.max_documents:
        raise InvalidOptionError(
            f"{len(documents)} passages is over the limit of {options.max_documents}",
            hint="rerank the candidates of a first-stage search (say the top 100), not a corpus",
        )
    for i, text in enumerate(documents):
        if not isinstance(text, str) or not text.strip():
            raise EmptyInputError(
                f"passage {i} is empty or not text", hint="drop the empty passages"
            )
    return list(documents)


def split_passages(text: str, split: str = "auto") -> tuple[list[str], str]:
    """A file's text → passages: one per line ('line'), one per blank-line-separated block
    ('block', its lines joined by spaces), or 'auto': blocks when the text has a blank line
    between two passages, else lines. → (passages, the split used)."""
    if split not in SPLITS:
        raise InvalidOptionError(
            f"--split must be one of {', '.join(SPLITS)} (got {split!r})", hint="e.g. --split block"
        )
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if split == "auto":
        body = "\n".join(lines).strip("\n")
        split = "block" if "\n\n" in body else "line"
    if split == "line":
        passages = [line.strip() for line in lines if line.strip()]
    else:
        blocks: list[list[str]] = [[]]
        for line in lines:
            if line.strip():
                blocks[-1].append(line.strip())
            elif blocks[-1]:
                blocks.append([])
        passages = [" ".join(b) for b in blocks if b]
    if not passages:
        raise EmptyInputError("the file holds no passages", hint="put one passage per line")
    return passages, split


def cross_encoder_cached() -> bool:
    """True when the default cross-encoder's weights are in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    from ..models.registry import entry

    item = entry(CROSS_ENCODER)
    if item is None:
        return False
    hits = [try_to_load_from_cache(item.hub_id, n) for n in ("config.json", "model.safetensors")]
    return all(isinstance(hit, str) for hit in hits)


def choose_model(model: str | None) -> str:
    """The model named, else the cross-encoder when cached, else the default bi-encoder."""
    if model:
        return model
    from ..models.registry import RERANK, default_model

    return CROSS_ENCODER if cross_encoder_cached() else default_model(RERANK)


def rerank(
    query: str,
    documents: list[str],
    options: RerankOptions | None = None,
    *,
    backend: Any = None,
    model: str | None = None,
    annotate: bool = True,
    load_options: LoadOptions | None = None,
) -> RerankResult:
    """Score every passage against the query and return them best first (top_n of them).
    `backend`: a loaded reranker (models.load_reranker), else `model` is loaded by
    `load_options`."""
    options = (options or RerankOptions()).validate()
    passages = check_inputs(query, documents, options)
    timings: dict[str, float] = {}
    if backend is None:
        from ..models import load_reranker

        began = time.perf_counter()
        backend = (load_options or LoadOptions()).call(load_reranker, choose_model(model))
        timings["load_s"] = round(time.perf_counter() - began, 3)
    began = time.perf_counter()
    scores, counts = backend.score(query, passages)
    timings["rank_s"] = round(time.perf_counter() - began, 3)
    order = sorted(range(len(passages)), key=lambda i: (-scores[i], i))
    if options.top_n is not None:
        order = order[: options.top_n]
    if annotate:
        runs.annotate(model=backend.model_id, prompt_tokens=sum(counts))
    return RerankResult(
        query=query,
        results=[Ranked(i, scores[i], passages[i]) for i in order],
        scores=scores,
        model=backend.model_id,
        kind=backend.kind,
        engine=backend.engine,
        tokens=sum(counts),
        truncated=[
            i for i, n in enumerate(counts) if backend.max_tokens and n > backend.max_tokens
        ],
        max_tokens=backend.max_tokens,
        return_documents=options.return_documents,
        timings=timings,
    )
