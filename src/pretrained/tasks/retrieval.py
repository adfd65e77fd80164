"""Hybrid retrieval for `ask`: BM25 over words and cosine over embeddings, fused by rank,
then a rerank of the candidates by their best sentence.

A `Corpus` is built once from the documents (structured chunks, their vectors, BM25 term
statistics) and answers many questions (`ask --file`, `eval ask`) without re-embedding.

- BM25 (k1 = 1.5, b = 0.75) finds the rare exact words a question names ("4chan", "Casper")
  that a small embedding model blurs; cosine finds paraphrases. Reciprocal-rank fusion
  (1 / (60 + rank)) combines them without calibrating one score against the other.
- Rerank: each candidate's sentences, with the chunk's heading, go through the rerank task
  (`rerank.py`: the embedder as a bi-encoder unless a `ranker` is given, e.g. a cross-encoder);
  a candidate scores by its best sentence: its rerank score (cosine) + the idf-weighted share of the question's
  content words that sentence (and heading) holds, + a bonus when it holds what the question
  asks for ("how many" → a number, "who" → a name the question lacks). The best sentences are also what `ask`
  quotes when the generated answer is not supported.
- `Passage.score` stays the chunk's cosine to the question, the number `min_score` gates.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from ..models.backends.rerankers import BiEncoderReranker
from .chunking import split_sentences
from .grounding import content_words, coverage, expected_type, has_type
from .index import Passage, VectorIndex, source_key, structured_chunks
from .rerank import RerankOptions, rerank

RRF_K = 60
LEXICAL_WEIGHT = 0.5  # weight of question-word coverage next to sentence cosine in the rerank
TYPE_WEIGHT = 0.15  # bonus for a sentence holding what the question asks for (a number, a name)


@dataclass
class Sentence:
    text: str
    passage: int  # index into the candidate list
    score: float


class Corpus:
    def __init__(self, documents: list[Any], embedder: Any, *, chunk_tokens: int = 200) -> None:
        self.embedder = embedder
        self.passages: list[Passage] = []
        self.headings: list[str | None] = []
        for document in documents:
            for c, heading in structured_chunks(document.text, embedder, max_tokens=chunk_tokens):
                line = document.text.count("\n", 0, c.start) + 1
                self.passages.append(
                    Passage(
                        c.text,
                        source_key(document),
                        document.title,
                        c.start,
                        c.end,
                        line,
                        0.0,
                        document.location,
                        heading,
                    )
                )
                self.headings.append(heading)
        self.vectors = (
            embedder.encode([self._searchable(i) for i in range(len(self.passages))])
            if self.passages
            else None
        )
        self.terms = [Counter(content_words(self._searchable(i))) for i in range(len(self))]
        self.df: Counter[str] = Counter()
        for terms in self.terms:
            self.df.update(terms.keys())
        self.avg_len = sum(sum(t.values()) for t in self.terms) / max(len(self.terms), 1)

    def __len__(self) -> int:
        return len(self.passages)

    def _searchable(self, i: int) -> str:
        heading = self.headings[i]
        return f"{heading}\n{self.passages[i].text}" if heading else self.passages[i].text

    def idf(self, word: str) -> float:
        n = len(self.terms)
        df = self.df.get(word, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def bm25(self, question: str, k1: float = 1.5, b: float = 0.75) -> list[float]:
        words = content_words(question)
        scores = []
        for terms in self.terms:
            length = sum(terms.values())
            s = 0.0
            for w in words:
                f = terms.get(w, 0)
                if f:
                    s += self.idf(w) * f * (k1 + 1) / (f + k1 * (1 - b + b * length / self.avg_len))
            scores.append(s)
        return scores


def _ranks(scores: list[float]) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    ranks = [0] * len(scores)
    for r, i in enumerate(order):
        ranks[i] = r
    return ranks


def search(
    question: str,
    corpus: Corpus | None,
    index: str | None,
    embedder: Any,
    k: int,
    *,
    candidates: int | None = None,
    ranker: Any = None,
) -> tuple[list[Passage], list[Sentence]]:
    """The k best passages (reranked) and their sentences, best first. The sentences are
    scored by `ranker` (a rerank backend; default: the embedder as a bi-encoder)."""
    import numpy as np

    query = np.asarray(embedder.encode([question])[0], dtype=np.float32)
    pool: list[Passage] = []
    headings: list[str | None] = []
    wanted = candidates or max(3 * k, 12)
    if corpus is not None and len(corpus):
        cos = (corpus.vectors @ query).tolist()
        bm = corpus.bm25(question)
        rc, rb = _ranks(cos), _ranks(bm)
        fused = [
            1 / (RRF_K + rc[i]) + (1 / (RRF_K + rb[i]) if bm[i] > 0 else 0.0)
            for i in range(len(corpus))
        ]
        for i in sorted(range(len(corpus)), key=lambda i: -fused[i])[:wanted]:
            pool.append(replace(corpus.passages[i], score=float(cos[i])))
            headings.append(corpus.headings[i])
        idf = {w: corpus.idf(w) for w in content_words(question)}
    else:
        idf = {}
    if index:
        with VectorIndex(index) as store:
            for p in store.search(query, wanted):
                pool.append(p)
                headings.append(getattr(p, "heading", None))
    if not pool:
        return [], []
    sentences: list[Sentence] = []
    texts: list[str] = []
    for i, p in enumerate(pool):
        for s in split_sentences(p.text):
            sentences.append(Sentence(s.text, i, 0.0))
            texts.append(f"{headings[i]}: {s.text}" if headings[i] else s.text)
    if texts:
        ranker = ranker or BiEncoderReranker(embedder, {question: query})
        options = RerankOptions(max_documents=None)
        sims = rerank(question, texts, options, backend=ranker, annotate=False).scores
        kind = expected_type(question)
        for s, text, sim in zip(sentences, texts, sims, strict=True):
            s.score = float(sim) + LEXICAL_WEIGHT * coverage(question, text, idf)
            if kind and has_type(s.text, kind, question):
                s.score += TYPE_WEIGHT
    best = [-1.0] * len(pool)
    for s in sentences:
        best[s.passage] = max(best[s.passage], s.score)
    order = sorted(range(len(pool)), key=lambda i: -best[i])[:k]
    renumber = {old: new for new, old in enumerate(order)}
    kept = [
        Sentence(s.text, renumber[s.passage], s.score) for s in sentences if s.passage in renumber
    ]
    kept.sort(key=lambda s: -s.score)
    return [pool[i] for i in order], kept
