"""`pretrained eval summarize DATA.jsonl`: ROUGE-1/2/L of our summaries next to LEAD-3 (the
first three sentences, the classic news baseline) on the same articles.

The fair baseline is LEAD-3 of the article as the summarizer reads it: bylines, "PUBLISHED: …
UPDATED: …" stamps, share prompts and fragments removed by the same cleaning
(`summarize.clean_sentences`). LEAD-3 of the raw article is reported beside it.

ROUGE comes from Google's `rouge-score` package (the reimplementation of ROUGE-1.5.5 used by
most papers), with stemming; ROUGE-L is the summary-level variant (rougeLsum, sentences on
separate lines), as reported for CNN/DailyMail. Scores are F1 × 100, averaged over articles.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EmptyInputError, InvalidOptionError, missing_dependency
from .chunking import split_sentences
from .summarize import SummarizeOptions, clean_sentences, summarize

METRICS = ("rouge1", "rouge2", "rougeLsum")
NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeLsum": "ROUGE-L"}


@dataclass
class EvalResult:
    n: int
    mode: str
    model: str
    ours: dict[str, float]
    baseline: dict[str, float]  # LEAD-3 of the cleaned article (what the summarizer reads)
    baseline_raw: dict[str, float] = field(default_factory=dict)  # LEAD-3 of the raw article
    baseline_name: str = "LEAD-3 (cleaned article)"
    data: str = ""
    per_article: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "articles": self.n,
            "mode": self.mode,
            "model": self.model,
            "scores": {NAMES[m]: round(self.ours[m], 2) for m in METRICS},
            "baseline": self.baseline_name,
            "baseline_scores": {NAMES[m]: round(self.baseline[m], 2) for m in METRICS},
            "baseline_raw": "LEAD-3 (raw article)",
            "baseline_raw_scores": {NAMES[m]: round(self.baseline_raw[m], 2) for m in METRICS},
            "per_article": self.per_article,
            "timings": self.timings,
        }


def read_pairs(
    path: str | Path, article_field: str = "article", reference_field: str = "highlights"
) -> list[tuple[str, str]]:
    target = Path(path).expanduser()
    from ..sources import read_text_file
    from ..sources.rows import jsonl_rows, text_field

    hint = "name the fields: --article-field text --reference-field summary"
    pairs = []
    for number, row in jsonl_rows(read_text_file(target).splitlines(), str(target)):
        article = text_field(row, article_field, str(target), number, hint)
        reference = text_field(row, reference_field, str(target), number, hint)
        pairs.append((article, reference))
    if not pairs:
        raise EmptyInputError(f"{target} has no rows", hint="one JSON object per line")
    return pairs


def lead(article: str, n: int = 3, *, clean: bool = False) -> str:
    """The first `n` sentences; clean=True: of the article as the summarizer reads it."""
    spans = clean_sentences(article) if clean else split_sentences(article)
    return "\n".join(s.text for s in spans[:n])


def _scorer():
    try:
        from rouge_score import rouge_scorer
    except ImportError as exc:
        raise missing_dependency("rouge-score", "text") from exc
    return rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)


def rouge(reference: str, prediction: str, scorer=None) -> dict[str, float]:
    scores = (scorer or _scorer()).score(reference, prediction)
    return {m: scores[m].fmeasure * 100 for m in METRICS}


def evaluate_summaries(
    path: str | Path,
    options: SummarizeOptions | None = None,
    *,
    article_field: str = "article",
    reference_field: str = "highlights",
    limit: int | None = None,
    backend: Any = None,
    embedder: Any = None,
    on_progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Summarize every article and score it against its reference, next to LEAD-3."""
    options = options or SummarizeOptions(sentences=3)
    pairs = read_pairs(path, article_field, reference_field)
    if limit is not None:
        if limit < 1:
            raise InvalidOptionError(f"--limit must be ≥ 1 (got {limit})", hint="e.g. --limit 50")
        pairs = pairs[:limit]
    scorer = _scorer()
    ours: list[dict[str, float]] = []
    base: list[dict[str, float]] = []
    raw: list[dict[str, float]] = []
    rows = []
    model, mode = "", ""
    began = time.perf_counter()
    for i, (article, reference) in enumerate(pairs):
        result = summarize(article, options, backend=backend, embedder=embedder)
        model, mode = result.model, result.mode
        if result.mode == "extractive":
            prediction = "\n".join(s["text"] for s in result.sentences)
        else:
            prediction = "\n".join(s.text for s in split_sentences(result.summary))
        ref = "\n".join(line.strip() for line in reference.splitlines() if line.strip())
        a = rouge(ref, prediction, scorer)
        b = rouge(ref, lead(article, clean=options.clean), scorer)
        c = rouge(ref, lead(article), scorer)
        ours.append(a)
        base.append(b)
        raw.append(c)
        rows.append(
            {
                "index": i,
                "ours": {NAMES[m]: round(a[m], 2) for m in METRICS},
                "lead3": {NAMES[m]: round(b[m], 2) for m in METRICS},
                "lead3_raw": {NAMES[m]: round(c[m], 2) for m in METRICS},
            }
        )
        if on_progress:
            on_progress(1)
    return EvalResult(
        n=len(pairs),
        mode=mode,
        model=model,
        ours={m: statistics.fmean(r[m] for r in ours) for m in METRICS},
        baseline={m: statistics.fmean(r[m] for r in base) for m in METRICS},
        baseline_raw={m: statistics.fmean(r[m] for r in raw) for m in METRICS},
        data=str(path),
        per_article=rows,
        timings={"total_s": round(time.perf_counter() - began, 3)},
    )
