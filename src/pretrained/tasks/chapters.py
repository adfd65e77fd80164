"""Transcript → summary.md: a short overall summary plus chapters with `[hh:mm:ss]` timecodes.

The units are the transcript's own segments, so every chapter starts at a real segment start
time. Chapters are topic segments (TextTiling over sentence embeddings, from tasks/summarize.py)
— about one per minute of audio, at most 12 — and each is titled by its most representative
segment (extractive) or by a one-sentence summary from a language model (abstractive). The
overall summary is the summarizer's own, extractive or abstractive (`mode`, `model`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._util import atomic_write
from ..errors import InvalidOptionError
from ..models.load_options import LoadOptions
from .transcribe import TranscribeResult, timecode

MAX_CHAPTERS = 12
SECONDS_PER_CHAPTER = 60.0
MIN_SEGMENTS_PER_CHAPTER = 3


@dataclass
class Chapter:
    start: float
    end: float
    title: str
    first_segment: int
    last_segment: int  # inclusive

    @property
    def timecode(self) -> str:
        return timecode(self.start, millis=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "timecode": self.timecode,
            "title": self.title,
            "segments": [self.first_segment, self.last_segment],
        }


@dataclass
class TranscriptSummary:
    source: str
    summary: str
    chapters: list[Chapter]
    duration: float
    mode: str  # extractive | abstractive
    model: str  # the summarizer's model
    transcript_model: str
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "summary": self.summary,
            "chapters": [c.to_dict() for c in self.chapters],
            "duration": round(self.duration, 3),
            "mode": self.mode,
            "model": self.model,
            "transcript_model": self.transcript_model,
            "timings": self.timings,
        }

    def to_markdown(self) -> str:
        name = Path(self.source).name if self.source else "transcript"
        lines = [f"# Summary: {name}", ""]
        lines += [
            f"*{timecode(self.duration, millis=False)} of audio · transcribed by "
            f"{self.transcript_model} · {self.mode} summary by {self.model}*",
            "",
            self.summary or "(no speech)",
            "",
        ]
        if self.chapters:
            lines += ["## Chapters", ""]
            lines += [f"- [{c.timecode}] {c.title}" for c in self.chapters]
            lines.append("")
        return "\n".join(lines)


def chapter_count(duration: float, segments: int, wanted: int | None = None) -> int:
    """About one chapter per minute, at most 12, never fewer than 3 segments per chapter."""
    if wanted is not None:
        if not isinstance(wanted, int) or wanted < 1:
            raise InvalidOptionError(
                f"--chapters must be a whole number ≥ 1 (got {wanted!r})", hint="e.g. --chapters 5"
            )
        target = wanted
    else:
        target = min(MAX_CHAPTERS, math.ceil(duration / SECONDS_PER_CHAPTER))
    return max(1, min(target, segments // MIN_SEGMENTS_PER_CHAPTER))


def summarize_transcript(
    transcript: TranscribeResult | dict[str, Any] | str | Path,
    *,
    mode: str = "auto",
    model: str | None = None,
    sentences: int | None = None,
    words: int | None = None,
    focus: str | None = None,
    chapters: int | None = None,
    embedder: Any = None,
    backend: Any = None,
    load_options: LoadOptions | None = None,
) -> TranscriptSummary:
    """A chaptered summary of a transcript (a result, its to_dict(), or its .json file).
    The overall summary is `sentences` long (3 by default) or `words` long. `load_options`
    load the summarizing model; the embedder takes their device."""
    from .summarize import SummarizeOptions, embed_units, summarize, topic_segments
    from .summarize.topics import chapter_title

    began = time.perf_counter()
    if isinstance(transcript, (str, Path)):
        transcript = TranscribeResult.load(transcript)
    elif isinstance(transcript, dict):
        transcript = TranscribeResult.from_dict(transcript)
    if sentences is None and words is None:
        sentences = 3  # "a short overall summary"
    options = SummarizeOptions(
        mode=mode, model=model, sentences=sentences, words=words, focus=focus
    ).validate()
    segments = [s for s in transcript.segments if s.text.strip()]
    texts = [s.text.strip() for s in segments]
    if not texts:
        return TranscriptSummary(
            transcript.source, "", [], transcript.duration, "extractive", "-", transcript.model
        )
    if embedder is None:
        from .embed import get_embedder

        embedder = get_embedder(None, None, (load_options or LoadOptions()).device_only())
    overall = summarize(
        " ".join(texts), options, backend=backend, embedder=embedder, load_options=load_options
    )
    vectors = embed_units(texts, embedder)
    n = chapter_count(transcript.duration, len(texts), chapters)
    bounds = topic_segments(vectors, n, min_size=MIN_SEGMENTS_PER_CHAPTER) if n > 1 else None
    bounds = bounds or [(0, len(texts))]
    found = []
    for first, end in bounds:
        if overall.mode == "abstractive":
            title = summarize(
                " ".join(texts[first:end]),
                SummarizeOptions(mode="abstractive", model=model, sentences=1),
                backend=backend,
                embedder=embedder,
                load_options=load_options,
            ).summary.strip()
        else:  # its best line: central and saying the most, not a filler
            title = chapter_title(texts[first:end], vectors[first:end], texts)
        found.append(Chapter(segments[first].start, segments[end - 1].end, title, first, end - 1))
    return TranscriptSummary(
        source=transcript.source,
        summary=overall.summary.strip(),
        chapters=found,
        duration=transcript.duration,
        mode=overall.mode,
        model=overall.model,
        transcript_model=transcript.model,
        timings={"total_s": round(time.perf_counter() - began, 3)},
    )


def is_transcript_file(path: str | Path) -> bool:
    """A .json file written by `pretrained transcribe` (has segments with start/end/text)."""
    import json

    target = Path(path)
    if target.suffix.lower() != ".json" or not target.is_file():
        return False
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    segments = data.get("segments") if isinstance(data, dict) else None
    return isinstance(segments, list) and all(
        isinstance(s, dict) and {"start", "end", "text"} <= s.keys() for s in segments[:5]
    )


def summary_path(transcript_path: str | Path) -> Path:
    """talk.json → talk.summary.md (the name `transcribe --summarize` writes too)."""
    target = Path(transcript_path)
    return target.with_name(f"{target.stem}.summary.md")


def write_transcript_summary(
    transcript: str | Path, target: Path | None = None, **options: Any
) -> tuple[TranscriptSummary, Path]:
    """Summarize a transcript (a `pretrained transcribe` JSON file) into `target` (default:
    talk.json → talk.summary.md beside it), written atomically. → (summary, the file)."""
    summary = summarize_transcript(str(transcript), **options)
    path = atomic_write(target or summary_path(transcript), summary.to_markdown())
    return summary, path
