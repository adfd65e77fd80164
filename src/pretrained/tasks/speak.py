"""Text to speech: split by sentences, synthesize each with a speech backend, concatenate, save.

The default engine is espeak-ng (offline, rule-based, *not* neural); any Hugging Face TTS model
(VITS/MMS, SpeechT5, Bark …) works through the same interface with --model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import runlog
from ..errors import EmptyInputError
from ..models.load_options import LoadOptions
from ..options import option, validate

TEXT_TO_SPEECH = "text-to-speech"

# A sentence ends at . ! ? … (and CJK stops) followed by space, or at a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\n\s*\n")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")


def split_sentences(text: str, max_chars: int = 400) -> list[str]:
    """Sentences, with any sentence longer than max_chars cut at clauses, then at words."""
    chunks: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        if len(sentence) <= max_chars:
            chunks.append(sentence)
            continue
        for piece in _pack(_CLAUSE_END.split(sentence), max_chars):
            chunks.extend(_pack(piece.split(" "), max_chars) if len(piece) > max_chars else [piece])
    return chunks


def _pack(parts: list[str], max_chars: int) -> list[str]:
    """Join parts with spaces into pieces of at most max_chars (a single long part stays whole)."""
    out: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current} {part}" if current else part
        if current and len(candidate) > max_chars:
            out.append(current)
            current = part
        else:
            current = candidate
    if current:
        out.append(current)
    return out


@dataclass(frozen=True)
class SpeakOptions:
    voice: str | None = None  # espeak-ng voice, VITS speaker id, SpeechT5 x-vector, Bark preset
    rate: float = option(
        1.0,
        "Speaking speed: 1.0 normal, 1.5 faster, 0.75 slower.",
        ge=0.25,
        le=4,
        example=1.2,
        hint="1.0 is normal speed, e.g. --rate 1.2 for a little faster",
    )
    pause: float = option(0.2, "Seconds of silence between sentences.", ge=0, le=10, example=0.3)

    def validate(self) -> SpeakOptions:
        return validate(self)

    def describe(self) -> dict[str, Any]:
        return {"voice": self.voice or "default", "rate": self.rate, "pause": self.pause}


@dataclass
class SpeakResult:
    text: str
    path: str | None
    format: str | None
    sample_rate: int
    duration_s: float
    sentences: int
    model: str
    revision: str | None
    engine: str
    neural: bool
    device: str
    options: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    samples: Any = field(default=None, repr=False)  # float32 mono; not in to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "sample_rate": self.sample_rate,
            "duration_s": round(self.duration_s, 3),
            "sentences": self.sentences,
            "characters": len(self.text),
            "model": self.model,
            "revision": self.revision,
            "engine": self.engine,
            "neural": self.neural,
            "device": self.device,
            "options": self.options,
            "timings": self.timings,
        }


def load_backend(model: str | None = None, load_options: LoadOptions | None = None):
    """The speech backend for `model` (models.load_speech takes what applies to speech)."""
    from ..models import load_speech

    return (load_options or LoadOptions()).call(load_speech, model)


def speak(
    text: str,
    model: str | None = None,
    options: SpeakOptions | None = None,
    *,
    out: str | Path | None = None,
    backend: Any = None,
    on_progress: Callable[[int], None] | None = None,
    load_options: LoadOptions | None = None,
) -> SpeakResult:
    """Synthesize `text`; write it to `out` (.wav/.mp3/.ogg) when given."""
    import numpy as np

    from .. import media

    options = (options or SpeakOptions()).validate()
    if not isinstance(text, str) or not text.strip():
        raise EmptyInputError("there is no text to speak", hint='e.g. pretrained speak "Hello"')
    if out is not None:
        media.check_output(out, media.AUDIO_FORMATS, "audio")
    started = time.perf_counter()
    if backend is None:
        backend = load_backend(model, load_options)
    runlog.annotate(
        task=TEXT_TO_SPEECH,
        model=backend.model_id,
        revision=backend.revision,
        device=backend.device,
        params=options.describe(),
        engine=backend.engine,
        neural=backend.neural,
    )
    chunks = split_sentences(text, backend.max_chars)
    synth_start = time.perf_counter()
    pieces = []
    for i, chunk in enumerate(chunks):
        wav = np.asarray(
            backend.synthesize(chunk, voice=options.voice, rate=options.rate), dtype=np.float32
        ).reshape(-1)
        if i:
            pieces.append(np.zeros(int(backend.sample_rate * options.pause), dtype=np.float32))
        pieces.append(wav)
        if on_progress:
            on_progress(1)
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    synth_s = time.perf_counter() - synth_start
    duration = len(samples) / backend.sample_rate
    path = fmt = None
    if out is not None:
        written = media.write_audio(out, samples, backend.sample_rate)
        path, fmt = str(written), media.AUDIO_FORMATS[written.suffix.lower()]
    timings = {
        "load_s": round(getattr(backend, "load_seconds", 0.0) or 0.0, 3),
        "synthesis_s": round(synth_s, 3),
        "total_s": round(time.perf_counter() - started, 3),
        "real_time_factor": round(synth_s / duration, 4) if duration else None,
    }
    runlog.annotate(duration_s=round(duration, 3), output=path, sentences=len(chunks))
    return SpeakResult(
        text=text,
        path=path,
        format=fmt,
        sample_rate=backend.sample_rate,
        duration_s=duration,
        sentences=len(chunks),
        model=backend.model_id,
        revision=backend.revision,
        engine=backend.engine,
        neural=backend.neural,
        device=backend.device,
        options=options.describe(),
        timings=timings,
        samples=samples,
    )
