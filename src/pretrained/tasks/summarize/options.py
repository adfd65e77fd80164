"""Summarize options, the result, and the length a summary aims for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...errors import InvalidOptionError
from ...options import option, validate

MODES = ("auto", "extractive", "abstractive")
DEFAULT_CHUNK_TOKENS = 1536  # decoder LMs: smaller chunks = better small-model summaries
PART_WORDS = (40, 80)  # length range of each partial (map/reduce) summary
MAX_UNIT_WORDS = 60  # longer "sentences" (tables, transcripts) are cut into word windows
MAX_EMBEDDED = 1200  # longer documents: a lexical pre-selection keeps this many candidates

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class SummarizeOptions:
    """Every knob of summarize, each declared once with its bounds (pretrained.options): the
    CLI, the UI slider and the API's bounds are derived from these."""

    mode: str = option("auto", "auto, extractive or abstractive.", choices=MODES)
    sentences: int | None = option(
        None, "Length in sentences.", ge=1, le=50, example=5, slider_max=15
    )
    words: int | None = option(None, "Length in words.", ge=5, le=2000, example=150)
    ratio: float | None = option(None, "Length as a share of the input.", gt=0, lt=1, example=0.1)
    focus: str | None = option(None, "A question or topic to focus on.", example='"the costs"')
    model: str | None = None  # abstractive: chat or seq2seq model (default: embedded SmolLM2)
    embedding_model: str | None = None  # extractive: sentence-embedding model (default MiniLM)
    chunk_tokens: int | None = option(
        None, "Abstractive: most tokens of input per model call.", ge=64, example=1024
    )
    max_depth: int = option(
        3, "Abstractive: most reduce levels before extractive pre-compression.", ge=1, le=10
    )
    batch_size: int = option(
        4, "Abstractive: chunks per generate call; extractive: ×8 sentences.", ge=1, example=4
    )
    diversity: float = option(
        0.3, "MMR: 0 = pure relevance, 1 = pure novelty.", ge=0, le=1, example=0.3
    )
    position_weight: float = option(
        1.0, "Weight of the position prior (0 = off).", ge=0, example=1.0
    )
    clean: bool = True  # remove boilerplate (bylines, "Click here", share prompts …)
    temperature: float = 0.0
    repetition_penalty: float = 1.15

    def validate(self) -> SummarizeOptions:
        given = [x for x in (self.sentences, self.words, self.ratio) if x is not None]
        if len(given) > 1:
            raise InvalidOptionError(
                "give only one of --sentences, --words, --ratio",
                hint="e.g. --words 150",
            )
        if self.focus is not None and not str(self.focus).strip():
            raise InvalidOptionError(
                "--focus must be a question or topic (got blank text)",
                hint='e.g. --focus "the costs"',
            )
        return validate(self)


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
    # abstractive: none of the model's sentences was backed, so `summary` is extractive
    extractive_fallback: bool = False
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
            "extractive_fallback": self.extractive_fallback,
            "chapters": self.chapters,
        }

    def label(self) -> str:
        """What the summary is, in words: the mode that produced the text shown."""
        if self.extractive_fallback:
            return (
                f"extractive summary ({self.reason}, but none of the model's sentences were "
                "backed by the source)"
            )
        return f"{self.mode} summary ({self.reason})"

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
