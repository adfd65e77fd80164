"""Hybrid retrieval for `ask`: BM25 over words and cosine over embeddings, fused by rank,
then a rerank of the candidates by their best sentence.

A `Corpus` is built once from the documents (structured chunks, their vectors, BM25 term
statistics) and answers many questions (`ask --file`, `eval ask`) without re-embedding.

- BM25 (k1 = 1.5, b = 0.75) finds the rare exact words a question names ("4chan", "Casper")
  that a small embedding model blurs; cosine finds paraphrases. Reciprocal-rank fusion
  (1 / (60 + rank)) combines them without calibrating one score against the other.
- Rerank: each candidate's answer units (every sentence, and every sentence with the next
  one: in speech the answer often follows its setup or a restated question), with the chunk's
  heading, go through the rerank task (`rerank.py`: the embedder as a bi-encoder unless a
  `ranker` is given, e.g. a cross-encoder). A unit scores: its rerank score (cosine) + the
  idf-weighted share of the question's content words it (and the heading) holds, + a bonus
  when its non-question part holds what the question asks for ("which month" → a month, "how
  long" → a duration, "who" → a name the question lacks), − a penalty when it ends in a
  question. A candidate scores by its best unit. The best units are also what `ask` quotes
  when the generated answer is not supported.
- `Passage.score` stays the chunk's cosine to the question, the number `min_score` gates.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from ..models.backends.rerankers import BiEncoderReranker
from .chunking import split_sentences
from .grounding import (
    answer_part,
    content_words,
    coverage,
    expected_type,
    has_type,
    is_question,
    lowercase_words,
)
from .index import Passage, VectorIndex, source_key, structured_chunks
from .rerank import RerankOptions, rerank

RRF_K = 60
LEXICAL_WEIGHT = 0.5  # weight of question-word coverage next to sentence cosine in the rerank
TYPE_WEIGHT = 0.3  # bonus for a unit holding what the question asks for (a month, a name)
QUESTION_PENALTY = 0.2  # a unit ending in a question (or its restatement) does not answer one
UNIT_JOIN = " "


def answer_units(sentences: list[str]) -> list[tuple[str, str]]:
    """What may answer a question: each sentence, and each sentence with the one after it.
    In speech the answer often follows its setup ("Ah, the question is, how many staff do we
    have now? Eight, and five of them full-time."), and the two only match together.
    Each unit comes with its last sentence."""
    units = []
    for i, sentence in enumerate(sentences):
        units.append((sentence, sentence))
        if i + 1 < len(sentences):
            units.append((sentence + UNIT_JOIN + sentences[i + 1], sentences[i + 1]))
    return units


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
        self.lowercase = lowercase_words([d.text for d in documents])
        self.sources = frozenset(source_key(d) for d in documents)

    def __len__(self) -> int:
        return len(self.passages)

    def _searchable(self, i: int) -> str:
        heading = self.headings[i]
        return f"{heading}\n{self.passages[i].text}" if heading else self.passages[i].text

    def idf(self, word: str) -> float:
        n = len(self.terms)
        df = self.df.get(word, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def weights(self, question: str) -> dict[str, float]:
        """The idf of each of the question's content words: how much each counts in coverage."""
        return {w: self.idf(w) for w in content_words(question)}

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


def source_lowercase(corpus: Corpus | None, passages: list[Passage]) -> frozenset[str]:
    """The words the sources write in lower case (the corpus's, and those of the passages that
    come from elsewhere, an index): a capital at a sentence's start on one of them is not a
    name (`grounding.names`). The corpus's own passages are read once, when it is built."""
    if corpus is None:
        return lowercase_words([p.text for p in passages])
    other = [p.text for p in passages if p.source not in corpus.sources]
    return corpus.lowercase | lowercase_words(other) if other else corpus.lowercase


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
        idf = corpus.weights(question)
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
    last: list[str] = []
    for i, p in enumerate(pool):
        for unit, end in answer_units([s.text for s in split_sentences(p.text)]):
            sentences.append(Sentence(unit, i, 0.0))
            texts.append(f"{headings[i]}: {unit}" if headings[i] else unit)
            last.append(end)
    if texts:
        ranker = ranker or BiEncoderReranker(embedder, {question: query})
        options = RerankOptions(max_documents=None)
        sims = rerank(question, texts, options, backend=ranker, annotate=False).scores
        kind = expected_type(question)
        lowercase = source_lowercase(corpus, pool)
        for s, text, sim, end in zip(sentences, texts, sims, last, strict=True):
            s.score = float(sim) + LEXICAL_WEIGHT * coverage(question, text, idf)
            if kind and has_type(answer_part(s.text), kind, question, lowercase):
                s.score += TYPE_WEIGHT
            if is_question(end):
                s.score -= QUESTION_PENALTY
    best = [-1.0] * len(pool)
    for s in sentences:
        best[s.passage] = max(best[s.passage], s.score)
    order = sorted(range(len(pool)), key=lambda i: -best[i])[:k]
    renumber = {old: new for new, old in enumerate(order)}
    kept = [
        Sentence(s.text, renumber[s.passage], s.score) for s in sentences if s.passage in renumber
    ]
    kept.sort(key=lambda s: -s.score)
    seen: set[str] = set()  # overlapping chunks repeat a sentence: keep its best copy
    kept = [s for s in kept if not (s.text in seen or seen.add(s.text))]
    return [pool[i] for i in order], kept
