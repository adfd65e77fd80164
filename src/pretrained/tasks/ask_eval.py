"""`pretrained eval ask DATA.jsonl --context DOC`: how often `ask` is right, refuses rightly,
and how often its retrieval even found the answer — side by side, so a wrong answer can be
blamed on the reader or on the retriever.

Each JSONL row: {"question": "...", "answer": ["keyword", "another accepted keyword"]} — the
answer counts as correct when it is given (not refused) and contains one of the keywords
(case-insensitive) — or {"question": "...", "answer": "unanswerable"}, correct when refused.
A retrieval hit: one of the keywords appears in the passages retrieved for the question.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EmptyInputError, InputNotFoundError, InvalidOptionError

UNANSWERABLE = "unanswerable"


@dataclass
class AskEvalResult:
    data: str
    answerable: int
    unanswerable: int
    correct: int
    refused_rightly: int  # unanswerable questions refused
    refused_wrongly: int  # answerable questions refused
    retrieval_hits: int
    quoted: int
    model: str
    embedding_model: str | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def _rate(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
            "correct": self.correct,
            "accuracy": self._rate(self.correct, self.answerable),
            "refused_unanswerable": self.refused_rightly,
            "refusal_rate": self._rate(self.refused_rightly, self.unanswerable),
            "refused_answerable": self.refused_wrongly,
            "retrieval_hits": self.retrieval_hits,
            "retrieval_hit_rate": self._rate(self.retrieval_hits, self.answerable),
            "quoted": self.quoted,
            "model": self.model,
            "embedding_model": self.embedding_model,
            "rows": self.rows,
            "timings": self.timings,
        }


def read_questions(path: str | Path) -> list[tuple[str, list[str] | None]]:
    """(question, accepted keywords) pairs; keywords None for an unanswerable question."""
    from ..sources.rows import jsonl_rows

    target = Path(path).expanduser()
    if not target.is_file():
        raise InputNotFoundError(
            f"no such file: {target}",
            hint='a JSONL file: {"question": "…", "answer": ["keyword", …] or "unanswerable"}',
        )
    hint = 'each line: {"question": "…", "answer": ["keyword", …]} or "answer": "unanswerable"'
    out: list[tuple[str, list[str] | None]] = []
    from ..sources import read_text_file

    lines = read_text_file(target).splitlines()
    for n, row in jsonl_rows(lines, str(target)):
        question = row.get("question") if isinstance(row, dict) else None
        answer = row.get("answer", row.get("answers")) if isinstance(row, dict) else None
        if not isinstance(question, str) or not question.strip():
            raise InvalidOptionError(f'{target}:{n}: no "question" text', hint=hint)
        if isinstance(answer, str) and answer.strip().lower() == UNANSWERABLE:
            out.append((question, None))
        elif isinstance(answer, str) and answer.strip():
            out.append((question, [answer]))
        elif isinstance(answer, list) and answer and all(isinstance(a, str) for a in answer):
            out.append((question, answer))
        else:
            raise InvalidOptionError(f'{target}:{n}: no accepted "answer"', hint=hint)
    if not out:
        raise EmptyInputError(f"no questions in {target}", hint=hint)
    return out


def _contains(text: str, keywords: list[str]) -> bool:
    low = " ".join(text.lower().split())
    return any(" ".join(k.lower().split()) in low for k in keywords)


def evaluate_ask(
    data: str | Path,
    asker: Any,
    *,
    limit: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> AskEvalResult:
    """Run `asker` (a `tasks.ask.Asker`) over the questions of `data` and score it."""
    began = time.perf_counter()
    items = read_questions(data)[:limit] if limit else read_questions(data)
    result = AskEvalResult(str(data), 0, 0, 0, 0, 0, 0, 0, "-", None)
    for question, keywords in items:
        answer = asker(question)
        if answer.model != "-":
            result.model = answer.model
        result.embedding_model = answer.embedding_model or result.embedding_model
        row: dict[str, Any] = {
            "question": question,
            "answer": answer.answer,
            "found": answer.found,
            "quoted": answer.quoted,
            "support": answer.support,
            "agreement": answer.agreement,
            "generated": answer.generated,
        }
        result.quoted += answer.quoted
        if keywords is None:
            result.unanswerable += 1
            row["correct"] = not answer.found
            result.refused_rightly += not answer.found
        else:
            result.answerable += 1
            row["correct"] = answer.found and _contains(answer.answer, keywords)
            row["retrieved"] = _contains(" ".join(p.text for p in answer.retrieved), keywords)
            result.correct += row["correct"]
            result.retrieval_hits += row["retrieved"]
            result.refused_wrongly += not answer.found
        result.rows.append(row)
        if on_progress:
            on_progress(1)
    result.timings["total_s"] = round(time.perf_counter() - began, 3)
    return result
