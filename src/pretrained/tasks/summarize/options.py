"""Summarize options, the result, and the length a summary aims for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...errors import InvalidOptionError

MODES = ("auto", "extractive", "abstractive")
DEFAULT_CHUNK_TOKENS = 1536  # decoder LMs: smaller chunks = better small-model summaries
PART_WORDS = (40, 80)  # length range of each partial (map/reduce) summary
MAX_UNIT_WORDS = 60  # longer "sentences" (tables, transcripts) are cut into word windows
MAX_EMBEDDED = 1200  # longer documents: a lexical pre-selection keeps this many candidates

Progress = Callable[[str, int, int], None]  # (stage, done, total)


# ---------------------------------------------------------------- options and result
@dataclass(frozen=True)
class SummarizeOptions:
    mode: str = "auto"
    sentences: int | None = None
    words: int | None = None
    ratio: float | None = None
    focus: str | None = None
    model: str | None = None  # abstractive: chat or seq2seq model (default: embedded SmolLM2)
    embedding_model: str | None = None  # extractive: sentence-embedding model (default MiniLM)
    chunk_tokens: int | None = None  # abstractive: most tokens of input per model call
    max_depth: int = 3  # abstractive: most reduce levels before extractive pre-compression
    batch_size: int = 4  # abstractive: chunks per generate call; extractive: ×8 sentences
    diversity: float = 0.3  # MMR: 0 = pure relevance, 1 = pure novelty
    position_weight: float = 1.0  # 0 switches the position prior off
    clean: bool = True  # remove boilerplate (bylines, "Click here", share prompts …)
    temperature: float = 0.0
    repetition_penalty: float = 1.15

    def validate(self) -> SummarizeOptions:
        def bad(flag: str, value: Any, rule: str, example: str) -> InvalidOptionError:
            return InvalidOptionError(
                f"{flag} must be {rule} (got {value!r})", hint=f"e.g. {flag} {example}"
            )

        if self.mode not in MODES:
            raise InvalidOptionError(
                f"unknown mode '{self.mode}'", hint=f"use one of: {', '.join(MODES)}"
            )
        given = [x for x in (self.sentences, self.words, self.ratio) if x is not None]
        if len(given) > 1:
            raise InvalidOptionError(
                "give only one of --sentences, --words, --ratio",
                hint="e.g. --words 150",
            )
        if self.sentences is not None and (
            not isinstance(self.sentences, int) or self.sentences < 1
        ):
            raise bad("--sentences", self.sentences, "a whole number ≥ 1", "5")
        if self.words is not None and (not isinstance(self.words, int) or self.words < 5):
            raise bad("--words", self.words, "a whole number ≥ 5", "150")
        if self.ratio is not None and (
            not isinstance(self.ratio, (int, float)) or not 0 < self.ratio < 1
        ):
            raise bad("--ratio", self.ratio, "between 0 and 1", "0.1")
        if self.chunk_tokens is not None and (
            not isinstance(self.chunk_tokens, int) or self.chunk_tokens < 64
        ):
            raise bad("--chunk-tokens", self.chunk_tokens, "a whole number ≥ 64", "1024")
        if not isinstance(self.max_depth, int) or not 1 <= self.max_depth <= 10:
            raise bad("--max-depth", self.max_depth, "between 1 and 10", "3")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad("--batch-size", self.batch_size, "a whole number ≥ 1", "4")
        if not 0 <= self.diversity <= 1:
            raise bad("--diversity", self.diversity, "between 0 and 1", "0.3")
        if self.position_weight < 0:
            raise bad("--position-weight", self.position_weight, "≥ 0", "1.0")
        if self.focus is not None and not self.focus.strip():
            raise bad("--focus", self.focus, "a question or topic", '"the costs"')
        return self


@dataclass
class SummaryResult:
    summary: str
    mode: str
    model: str
    method: str
    reason: str = ""  # why this mode (auto)
    title: str | None = None
    source: str | None = None
    input_words: int = 0
    input_tokens: int | None = None
    output_words: int = 0
    chunks: int = 0
    depth: int = 0
    levels: list[dict[str, Any]] = field(default_factory=list)
    sentences: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    engine: str | None = None  # abstractive: the text engine that ran the model
    # abstractive: the model's sentences the source does not back (dropped from `summary`)
    unsupported: list[dict[str, Any]] = field(default_factory=list)
    # extractive, long unbroken text: topic chapters {headline, start, end, sentences}
    chapters: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "mode": self.mode,
            "model": self.model,
            "engine": self.engine,
            "method": self.method,
            "reason": self.reason,
            "title": self.title,
            "source": self.source,
            "input_words": self.input_words,
            "input_tokens": self.input_tokens,
            "output_words": self.output_words,
            "chunks": self.chunks,
            "depth": self.depth,
            "levels": self.levels,
            "sentences": self.sentences,
            "warnings": self.warnings,
            "timings": self.timings,
            "unsupported": self.unsupported,
            "chapters": self.chapters,
        }

    def to_text(self) -> str:
        """The summary as plain text: chapter by chapter (headline, then its sentences) when
        it has chapters."""
        if not self.chapters:
            return self.summary.strip() + "\n"
        blocks = [
            f"{c['headline']}\n" + " ".join(s["text"] for s in c["sentences"])
            for c in self.chapters
        ]
        return "\n\n".join(blocks) + "\n"

    def to_markdown(self) -> str:
        lines = [f"# {self.title or 'Summary'}", ""]
        if self.source:
            lines += [f"*Source: {self.source}*", ""]
        if self.chapters:
            for chapter in self.chapters:
                lines += [f"## {chapter['headline']}", ""]
                lines += [f"- {s['text']}" for s in chapter["sentences"]] + [""]
        elif self.mode == "extractive" and self.sentences:
            lines += [f"- {s['text']}" for s in self.sentences]
        else:
            lines.append(self.summary)
        lines += ["", f"*{self.mode} summary by {self.model} · {self.output_words} words*"]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- length targets
def target_length(options: SummarizeOptions, input_words: int) -> tuple[int | None, int | None]:
    """→ (max_words, max_sentences). Default: about 10 % of the text, 50 to 250 words."""
    if options.sentences is not None:
        return None, options.sentences
    if options.words is not None:
        return options.words, None
    if options.ratio is not None:
        return max(10, round(input_words * options.ratio)), None
    return int(min(250, max(50, round(input_words * 0.1)))), None
