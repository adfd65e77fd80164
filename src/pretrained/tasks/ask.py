"""Questions answered from your documents, with numbered citations — or "not found in the
context" when retrieval finds nothing relevant, instead of an invented answer.

1. Retrieve: the context sources are cut into chunks and embedded in memory (and/or an index
   built with `pretrained embed --index` is searched); passages below `min_score` are dropped.
2. Answer: a chat model (the embedded SmolLM2 by default, or any OpenAI-compatible endpoint)
   gets the numbered passages and is asked to cite them as [n]. Passages that do not fit the
   model's context are left out and reported.
3. Cite: the [n] markers in the answer are mapped to source and position (line, characters).
   When a small model answers without markers, each answer sentence is attributed to the
   passage it is most similar to (and the result says the citations were inferred).

Without context or index the question is answered directly.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from .. import runs
from ..errors import EmptyInputError, InvalidOptionError
from .chunking import split_sentences
from .index import Passage, VectorIndex, chunk_text, source_key

NOT_FOUND = "not found in the context"
SYSTEM = (
    "You answer questions using only the numbered context passages. After each claim, cite "
    "the passage it comes from as [1], [2] … If the passages do not contain the answer, reply "
    f"exactly: {NOT_FOUND}."
)
DIRECT_SYSTEM = "You are a helpful assistant. Answer briefly and accurately."
_MARK = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True)
class AskOptions:
    k: int = 4  # passages retrieved
    min_score: float = 0.3  # cosine similarity below which a passage is not relevant
    max_new_tokens: int = 200
    temperature: float = 0.0
    chunk_tokens: int = 200  # passage size (embedding-model tokens)

    def validate(self) -> AskOptions:
        if not isinstance(self.k, int) or not 1 <= self.k <= 50:
            raise InvalidOptionError(
                f"-k must be between 1 and 50 (got {self.k!r})", hint="e.g. -k 4"
            )
        if not -1 <= self.min_score <= 1:
            raise InvalidOptionError(
                f"--min-score must be between -1 and 1 (got {self.min_score!r})",
                hint="e.g. --min-score 0.3",
            )
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise InvalidOptionError(
                f"--max-new-tokens must be ≥ 1 (got {self.max_new_tokens!r})",
                hint="e.g. --max-new-tokens 200",
            )
        if self.temperature < 0:
            raise InvalidOptionError("--temperature must be ≥ 0", hint="e.g. --temperature 0")
        if not isinstance(self.chunk_tokens, int) or self.chunk_tokens < 16:
            raise InvalidOptionError("--chunk-tokens must be ≥ 16", hint="e.g. --chunk-tokens 200")
        return self


@dataclass
class Citation:
    number: int
    passage: Passage

    def label(self) -> str:
        p = self.passage
        name = p.location or p.source
        return f"[{self.number}] {name}, line {p.line} (chars {p.start}–{p.end})"

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, **self.passage.to_dict()}


@dataclass
class AskResult:
    question: str
    answer: str
    found: bool
    citations: list[Citation]
    model: str
    engine: str
    retrieved: list[Passage] = field(default_factory=list)
    dropped: int = 0  # relevant passages that did not fit the model's context
    citations_inferred: bool = False
    embedding_model: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "found": self.found,
            "citations": [c.to_dict() for c in self.citations],
            "citations_inferred": self.citations_inferred,
            "model": self.model,
            "engine": self.engine,
            "embedding_model": self.embedding_model,
            "retrieved": [p.to_dict() for p in self.retrieved],
            "dropped": self.dropped,
            "timings": self.timings,
        }


def retrieve(
    question: str,
    documents: list[Any],
    index: str | None,
    embedder: Any,
    options: AskOptions,
) -> list[Passage]:
    """Top passages over in-memory documents and/or a stored index, best first."""
    query = embedder.encode([question])[0]
    passages: list[Passage] = []
    for document in documents:
        chunks = chunk_text(document.text, embedder, max_tokens=options.chunk_tokens)
        if not chunks:
            continue
        vectors = embedder.encode([c.text for c in chunks])
        scores = vectors @ query
        for c, s in zip(chunks, scores, strict=True):
            line = document.text.count("\n", 0, c.start) + 1
            passages.append(
                Passage(
                    c.text,
                    source_key(document),
                    document.title,
                    c.start,
                    c.end,
                    line,
                    float(s),
                    document.location,
                )
            )
    if index:
        with VectorIndex(index) as store:
            passages.extend(store.search(query, options.k))
    passages.sort(key=lambda p: -p.score)
    return passages[: options.k]


def _context_block(passages: list[Passage]) -> str:
    parts = []
    for i, p in enumerate(passages, 1):
        name = p.title or p.location or p.source
        parts.append(f"[{i}] ({name}, line {p.line}) {p.text}")
    return "\n\n".join(parts)


def _fit(backend: Any, passages: list[Passage], question: str, reserve: int) -> list[Passage]:
    """Keep the best passages whose prompt fits the model's context window."""
    limit = getattr(backend, "context_length", None)
    if not limit:
        return passages
    kept = list(passages)
    while kept:
        prompt = _prompt(kept, question)
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        if backend.count_tokens(backend.render_chat(messages), False) + reserve <= limit:
            break
        kept.pop()
    return kept


def _prompt(passages: list[Passage], question: str) -> str:
    return f"Context:\n\n{_context_block(passages)}\n\nQuestion: {question}\nAnswer with citations:"


def _infer_citations(answer: str, passages: list[Passage], embedder: Any) -> tuple[str, set[int]]:
    """Attribute each answer sentence to its most similar passage (cosine ≥ 0.35)."""
    sentences = [s.text for s in split_sentences(answer)] or [answer]
    vectors = embedder.encode(sentences + [p.text for p in passages])
    sent, pas = vectors[: len(sentences)], vectors[len(sentences) :]
    sims = sent @ pas.T
    used: set[int] = set()
    out = []
    for i, text in enumerate(sentences):
        j = int(sims[i].argmax())
        if sims[i, j] >= 0.35:
            used.add(j + 1)
            out.append(f"{text} [{j + 1}]")
        else:
            out.append(text)
    return " ".join(out), used


def ask(
    question: str,
    contexts: list[Any] | None = None,
    *,
    index: str | None = None,
    options: AskOptions | None = None,
    backend: Any = None,
    embedder: Any = None,
    model: str | None = None,
    embedding_model: str | None = None,
    **load_options: Any,
) -> AskResult:
    """Answer `question` from `contexts` (sources or Documents) and/or an index, citing them."""
    from ..sources import Document, load_text
    from .chat import chat
    from .embed import get_embedder
    from .generate import GenerateOptions

    if not isinstance(question, str) or not question.strip():
        raise EmptyInputError("the question is empty", hint='pretrained ask "What is …?"')
    options = (options or AskOptions()).validate()
    began = time.perf_counter()
    documents = [c if isinstance(c, Document) else load_text(c) for c in contexts or []]
    knobs = GenerateOptions(
        max_new_tokens=options.max_new_tokens,
        temperature=options.temperature,
        repetition_penalty=1.1,
    )

    def get_backend():
        if backend is not None:
            return backend
        from ..models import load

        return load(model, task="ask", **load_options)

    if not documents and not index:
        engine = get_backend()
        reply = chat(
            [
                {"role": "system", "content": DIRECT_SYSTEM},
                {"role": "user", "content": question},
            ],
            options=knobs,
            backend=engine,
        )
        return AskResult(
            question,
            reply.text.strip(),
            True,
            [],
            engine.model_id,
            engine.engine,
            timings={"total_s": round(time.perf_counter() - began, 3)},
        )

    if index:
        from .index import check_index

        check_index(index)  # a bad or missing index fails before the model loads
    device = load_options.get("device")
    embed_engine = get_embedder(embedder, embedding_model, device=device)
    start = time.perf_counter()
    retrieved = retrieve(question, documents, index, embed_engine, options)
    retrieve_s = time.perf_counter() - start
    relevant = [p for p in retrieved if p.score >= options.min_score]
    timings = {"retrieve_s": round(retrieve_s, 3)}
    if not relevant:
        timings["total_s"] = round(time.perf_counter() - began, 3)
        runs.annotate(task="ask", model=embed_engine.model_id, found=False)
        return AskResult(
            question,
            f"The answer was {NOT_FOUND} (best match scored "
            f"{max((p.score for p in retrieved), default=0):.2f}, below {options.min_score}).",
            False,
            [],
            "-",
            "-",
            retrieved=retrieved,
            embedding_model=embed_engine.model_id,
            timings=timings,
        )
    engine = get_backend()
    fitted = _fit(engine, relevant, question, options.max_new_tokens)
    if not fitted:
        fitted = relevant[:1]
    reply = chat(
        [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": _prompt(fitted, question)},
        ],
        options=knobs,
        backend=engine,
    )
    answer = reply.text.strip()
    timings["generate_s"] = round(reply.timings.get("total_s") or 0.0, 3)
    not_found = NOT_FOUND in answer.lower()
    numbers = {int(n) for n in _MARK.findall(answer) if 1 <= int(n) <= len(fitted)}
    inferred = False
    if not numbers and not not_found and answer:
        answer, numbers = _infer_citations(answer, fitted, embed_engine)
        inferred = bool(numbers)
    citations = [Citation(n, fitted[n - 1]) for n in sorted(numbers)]
    timings["total_s"] = round(time.perf_counter() - began, 3)
    runs.annotate(task="ask", found=not not_found)
    return AskResult(
        question,
        answer,
        not not_found,
        citations,
        engine.model_id,
        engine.engine,
        retrieved=retrieved,
        dropped=len(relevant) - len(fitted),
        citations_inferred=inferred,
        embedding_model=embed_engine.model_id,
        timings=timings,
    )
