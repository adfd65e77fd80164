"""The speech-recognition (speech → text) backend protocol, shared by every transcription
engine (text → speech is speech.py).

An engine turns 16 kHz mono float32 samples into timed segments. Decoding files, windows over
long audio, the hallucination guard, subtitles and jobs live above it (sources/audio.py,
tasks/transcribe.py, jobs/), so an engine is small: load, transcribe one window of samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class TranscriptionParams:
    """What an engine needs for one call. `language=None` asks the engine to detect it."""

    language: str | None = None
    task: str = "transcribe"  # or "translate" (to English)
    beam_size: int = 5
    word_timestamps: bool = False
    vad: bool = True
    initial_prompt: str | None = None
    # Language detection votes over this many 30 s windows of speech (after VAD) unless one
    # window is already more confident than the threshold.
    language_detection_segments: int = 3
    language_detection_threshold: float = 0.9


@dataclass
class Word:
    start: float
    end: float
    text: str
    probability: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "word": self.text,
            "probability": None if self.probability is None else round(self.probability, 4),
        }


@dataclass
class Segment:
    start: float  # seconds from the start of the file
    end: float
    text: str
    words: list[Word] | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    temperature: float | None = None

    def shifted(self, offset: float) -> Segment:
        """The same segment with times moved by `offset` seconds (window → file time)."""
        if not offset:
            return self
        words = (
            [Word(w.start + offset, w.end + offset, w.text, w.probability) for w in self.words]
            if self.words is not None
            else None
        )
        return Segment(
            self.start + offset,
            self.end + offset,
            self.text,
            words,
            self.avg_logprob,
            self.no_speech_prob,
            self.compression_ratio,
            self.temperature,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text.strip(),
        }
        for name in ("avg_logprob", "no_speech_prob", "compression_ratio", "temperature"):
            value = getattr(self, name)
            if value is not None:
                out[name] = round(value, 4)
        if self.words is not None:
            out["words"] = [w.to_dict() for w in self.words]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        words = data.get("words")
        return cls(
            start=float(data["start"]),
            end=float(data["end"]),
            text=str(data.get("text", "")),
            words=[
                Word(float(w["start"]), float(w["end"]), w["word"], w.get("probability"))
                for w in words
            ]
            if words is not None
            else None,
            avg_logprob=data.get("avg_logprob"),
            no_speech_prob=data.get("no_speech_prob"),
            compression_ratio=data.get("compression_ratio"),
            temperature=data.get("temperature"),
        )


@dataclass
class TranscriptionInfo:
    language: str | None
    language_probability: float | None = None
    duration: float = 0.0  # seconds of audio in this call
    speech_duration: float | None = None  # seconds left after VAD
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class TranscriptionBackend(Protocol):
    engine: str
    model_id: str  # what to show and log (Hub id, alias or path)
    revision: str | None  # Hub commit sha, when known
    device: str
    compute_type: str
    load_seconds: float
    multilingual: bool

    def transcribe(
        self, audio: Any, params: TranscriptionParams
    ) -> tuple[Iterator[Segment], TranscriptionInfo]:
        """Segments (a lazy iterator, times relative to `audio`) and what is known up front."""
        ...
