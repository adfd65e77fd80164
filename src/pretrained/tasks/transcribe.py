"""Speech → text: one audio or video file in, a `TranscribeResult` out (segments, words,
language, duration, subtitles). The REST server's /v1/audio/transcriptions and the CLI's
`transcribe` (through jobs/) call `transcribe()`.

Long files are decoded and transcribed in windows of `window_seconds` so memory stays bounded
whatever the length. A window that ends mid-sentence gives its last segment back and the next
window starts where that segment started, so no word is cut in two. After each window the
caller gets a `Checkpoint` (segments so far + where to restart) that jobs/ persists; passing it
back as `resume=` continues a killed run where it stopped, with the same result.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .. import runlog
from ..errors import InvalidOptionError, UnreadableInputError
from ..models.backends.transcription import (
    SAMPLE_RATE,
    Segment,
    TranscriptionBackend,
    TranscriptionParams,
)
from ..options import build, option, validate

FORMATS = ("txt", "srt", "vtt", "json")
TASKS = ("transcribe", "translate")
# A segment of the next window may start up to this long before the previous window's end.
_OVERLAP_S = 2.0
# A window's last segment ending closer than this to the window's end may be cut: redo it.
_EDGE_S = 2.0
_PROMPT_CHARS = 200


@dataclass(frozen=True)
class TranscribeOptions:
    """Knobs of speech recognition. The ones in `key()` change the transcript (jobs use them)."""

    # None: detect (votes over several windows of speech)
    language: str | None = option(
        None,
        "Language code (en, fr, de …); detected when not given.",
        hint="leave --language out to detect the language",
    )
    task: str = option(
        "transcribe",
        "transcribe, or translate (into English; multilingual models only).",
        choices=TASKS,
        example="translate",
    )
    beam_size: int = option(
        5, "Beam width.", ge=1, le=50, example=5, hint="e.g. --beam-size 5 (1 = greedy, fastest)"
    )
    word_timestamps: bool = False
    vad: bool = True
    initial_prompt: str | None = None
    language_detection_segments: int = option(
        3, "Windows of speech that vote on the language.", ge=1, example=3
    )
    window_seconds: float = option(
        300.0,
        "Audio held in memory at once.",
        ge=60,
        example=300,
        hint="the default, 300 s, keeps memory small for any length of audio",
    )

    def validate(self) -> TranscribeOptions:
        validate(self)
        if self.language is not None and not re.fullmatch(r"[a-z]{2,3}|haw|yue", self.language):
            raise InvalidOptionError(
                f"--language must be a language code such as en, fr, de (got {self.language!r})",
                hint="leave --language out to detect the language",
            )
        return self

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> TranscribeOptions:
        return build(cls, kwargs, "transcription")

    def key(self) -> dict[str, Any]:
        """The options that change the transcript (formats and output folders do not)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def params(self, language: str | None, prompt: str | None) -> TranscriptionParams:
        return TranscriptionParams(
            language=language,
            task=self.task,
            beam_size=self.beam_size,
            word_timestamps=self.word_timestamps,
            vad=self.vad,
            initial_prompt=prompt,
            language_detection_segments=self.language_detection_segments,
        )


@dataclass
class Checkpoint:
    """Where a transcription stands after a window: enough to resume it exactly."""

    next_start: float  # seconds: the next window starts here
    segments: list[Segment]
    language: str | None
    language_probability: float | None
    dropped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "next_start": self.next_start,
            "segments": [s.to_dict() for s in self.segments],
            "language": self.language,
            "language_probability": self.language_probability,
            "dropped": self.dropped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            next_start=float(data["next_start"]),
            segments=[Segment.from_dict(s) for s in data.get("segments", [])],
            language=data.get("language"),
            language_probability=data.get("language_probability"),
            dropped=int(data.get("dropped", 0)),
        )


# ---------------------------------------------------------------- result and renderers
def timecode(seconds: float, sep: str = ",", millis: bool = True) -> str:
    """61.5 → '00:01:01,500' (SRT), with sep='.' for WebVTT, or '00:01:01' without millis."""
    ms = max(0, int(round(seconds * 1000)))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    base = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{base}{sep}{ms:03d}" if millis else base


@dataclass
class TranscribeResult:
    source: str
    segments: list[Segment]
    language: str | None
    language_probability: float | None
    duration: float  # seconds of audio
    model: str
    revision: str | None = None
    engine: str = "faster-whisper"
    device: str = "cpu"
    compute_type: str = "int8"
    options: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float | None] = field(default_factory=dict)
    dropped_segments: int = 0  # removed by the hallucination guard

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "text": self.text,
            "language": self.language,
            "language_probability": None
            if self.language_probability is None
            else round(self.language_probability, 4),
            "duration": round(self.duration, 3),
            "model": self.model,
            "revision": self.revision,
            "engine": self.engine,
            "device": self.device,
            "compute_type": self.compute_type,
            "options": self.options,
            "segments": [{"id": i, **s.to_dict()} for i, s in enumerate(self.segments)],
            "dropped_segments": self.dropped_segments,
            "timings": self.timings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranscribeResult:
        try:
            return cls(
                source=data.get("source", ""),
                segments=[Segment.from_dict(s) for s in data["segments"]],
                language=data.get("language"),
                language_probability=data.get("language_probability"),
                duration=float(data.get("duration") or 0.0),
                model=data.get("model", ""),
                revision=data.get("revision"),
                engine=data.get("engine", "faster-whisper"),
                device=data.get("device", "cpu"),
                compute_type=data.get("compute_type", ""),
                options=data.get("options", {}),
                timings=data.get("timings", {}),
                dropped_segments=int(data.get("dropped_segments", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnreadableInputError(
                f"not a transcript: missing or bad field {exc}",
                hint="pass the .json file written by 'pretrained transcribe'",
            ) from exc

    @classmethod
    def load(cls, path: str | Path) -> TranscribeResult:
        from ..sources import read_text_file

        text = read_text_file(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UnreadableInputError(
                f"'{path}' is not JSON ({exc.msg})",
                hint="pass the .json file written by 'pretrained transcribe'",
            ) from exc
        if not isinstance(data, dict) or "segments" not in data:
            raise UnreadableInputError(
                f"'{path}' is not a transcript (no 'segments')",
                hint="pass the .json file written by 'pretrained transcribe'",
            )
        return cls.from_dict(data)

    def render(self, fmt: str) -> str:
        if fmt == "txt":
            return "\n".join(s.text.strip() for s in self.segments if s.text.strip()) + "\n"
        if fmt == "json":
            return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"
        if fmt in ("srt", "vtt"):
            return _subtitles(self.segments, fmt)
        raise InvalidOptionError(
            f"unknown format '{fmt}'", hint=f"use one or more of: {', '.join(FORMATS)}"
        )


def _subtitles(segments: list[Segment], fmt: str) -> str:
    """SRT / WebVTT through pysubs2 (numbering, timecodes, escaping)."""
    import pysubs2

    subs = pysubs2.SSAFile()
    for s in segments:
        text = s.text.strip()
        if not text:
            continue
        event = pysubs2.SSAEvent(start=int(round(s.start * 1000)), end=int(round(s.end * 1000)))
        event.plaintext = text
        subs.append(event)
    if not subs.events and fmt == "srt":
        return ""
    return subs.to_string(fmt)


def parse_formats(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """'srt,vtt' / ['srt', 'vtt'] / 'all' → ('srt', 'vtt'), validated, in a stable order."""
    if value is None:
        return FORMATS
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in v.split(",")]
    wanted = {p.strip().lower() for p in parts if p.strip()}
    if "all" in wanted:
        return FORMATS
    unknown = wanted - set(FORMATS)
    if unknown or not wanted:
        raise InvalidOptionError(
            f"unknown output format(s): {', '.join(sorted(unknown)) or '(none)'}",
            hint=f"use a comma-separated list of: {', '.join(FORMATS)} (or all)",
        )
    return tuple(f for f in FORMATS if f in wanted)


# ---------------------------------------------------------------- hallucination guard
def _norm(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data)))


class HallucinationGuard:
    """Drops what Whisper invents rather than hears.

    - a segment repeated in a loop (the same words three times or more in a row: keep two);
    - a segment that is itself a loop (text compresses more than 2.4× — Whisper's own
      threshold for 'repetitive', applied after its temperature fallbacks gave up);
    - a segment the model itself thinks is not speech and is unsure of its words (no-speech
      probability ≥ 0.8 and mean log-probability ≤ -0.6): "You" or "Thank you." on silence
      when VAD is off. Either alone is not enough: Whisper's no-speech probability is per
      30 s window and reaches 0.9 on clear synthetic speech.
    """

    def __init__(self, max_repeats: int = 2, max_compression: float = 2.4) -> None:
        self.max_repeats = max_repeats
        self.max_compression = max_compression
        self.last = ""
        self.repeats = 0
        self.dropped = 0

    def keep(self, segment: Segment) -> bool:
        norm = _norm(segment.text)
        if not norm:
            return False
        ratio = segment.compression_ratio or compression_ratio(segment.text)
        unsure = (segment.avg_logprob if segment.avg_logprob is not None else 0.0) <= -0.6
        if ((segment.no_speech_prob or 0.0) >= 0.8 and unsure) or (
            len(norm) > 40 and ratio > self.max_compression
        ):
            self.dropped += 1
            return False
        if norm == self.last:
            self.repeats += 1
            if self.repeats >= self.max_repeats:
                self.dropped += 1
                return False
        else:
            self.last, self.repeats = norm, 0
        return True


# ---------------------------------------------------------------- the task
def _windows(
    path: Path, name: str, start: float, window_s: float
) -> Iterator[tuple[float, Any, bool]]:
    """(window start in seconds, samples, is_last) over the file, from `start`.

    The caller tells the generator where the next window must begin by sending the restart
    time back (`send`); samples from there on are kept, the rest is dropped."""
    import numpy as np

    from ..models.backends.base import check_cancelled
    from ..sources.audio import stream_audio

    window = int(window_s * SAMPLE_RATE)
    skip = int(round(start * SAMPLE_RATE))
    offset = skip  # sample index of buffer[0] in the file
    buffer = np.zeros(0, dtype=np.float32)
    for chunk in stream_audio(path, name=name):
        check_cancelled()  # a server request that timed out stops between chunks
        if skip:
            cut = min(skip, chunk.shape[0])
            chunk, skip = chunk[cut:], skip - cut
            if not chunk.shape[0]:
                continue
        buffer = np.concatenate([buffer, chunk]) if buffer.shape[0] else chunk
        while buffer.shape[0] >= window + SAMPLE_RATE:  # a full window and more is coming
            restart = yield offset / SAMPLE_RATE, buffer[:window], False
            keep_from = min(window, max(0, int(round(restart * SAMPLE_RATE)) - offset))
            buffer, offset = buffer[keep_from:], offset + keep_from
    if buffer.shape[0]:
        yield offset / SAMPLE_RATE, buffer, True


def _split_window(
    segments: list[Segment], window_start: float, window_len: float, last: bool
) -> tuple[list[Segment], float]:
    """(segments to keep, where the next window starts) for one window's segments (window time)."""
    end = window_start + window_len
    if last:
        return segments, end
    if segments and window_len - segments[-1].end < _EDGE_S:
        redo = segments[-1]
        if redo.start >= window_len / 2:  # the window's last words: transcribe them again
            return segments[:-1], window_start + redo.start
    latest = segments[-1].end if segments else 0.0
    return segments, max(end - _OVERLAP_S, window_start + latest)


def _speech_backend(backend: TranscriptionBackend | None, model: str | None, load: dict[str, Any]):
    if backend is not None:
        return backend
    from ..models import load_transcriber

    return load_transcriber(model, **load)


def check_language(backend: TranscriptionBackend, options: TranscribeOptions) -> None:
    languages = getattr(backend, "languages", None)
    if options.language and languages and options.language not in languages:
        english_only = tuple(languages) == ("en",)
        raise InvalidOptionError(
            f"--language {options.language} is not supported by {backend.model_id}"
            + (" (an English-only model)" if english_only else ""),
            hint="use a multilingual model, e.g. --model small"
            if english_only
            else "leave --language out to detect it",
        )
    if options.task == "translate" and not backend.multilingual:
        raise InvalidOptionError(
            f"--task translate needs a multilingual model; {backend.model_id} is English-only",
            hint="use e.g. --model small",
        )


def transcribe(
    audio: str | Path,
    options: TranscribeOptions | None = None,
    *,
    model: str | None = None,
    backend: TranscriptionBackend | None = None,
    name: str | None = None,
    resume: Checkpoint | None = None,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
    revision: str | None = None,
    device: str | None = None,
    compute_type: str | None = None,
    **knobs: Any,
) -> TranscribeResult:
    """Transcribe one audio or video file (path in, result out).

    Knobs come as `options` or as keywords (`language="en"`, `beam_size=1`,
    `word_timestamps=True` …); `on_progress(seconds_done)` follows the audio."""
    from ..sources.audio import probe

    if knobs:
        if options is not None:
            raise InvalidOptionError(
                "give either options= or knob keywords, not both",
                hint="e.g. transcribe('talk.wav', language='en')",
            )
        options = TranscribeOptions.from_kwargs(**knobs)
    options = (options or TranscribeOptions()).validate()
    path = Path(audio)
    name = name or str(audio)
    info = probe(path, name)  # clear errors before any model is loaded
    began = time.perf_counter()
    speech = _speech_backend(
        backend, model, {"revision": revision, "device": device, "compute_type": compute_type}
    )
    load_s = time.perf_counter() - began
    check_language(speech, options)

    segments = list(resume.segments) if resume else []
    language = resume.language if resume else options.language
    probability = resume.language_probability if resume else None
    guard = HallucinationGuard()
    for s in segments[-guard.max_repeats :]:
        guard.keep(s)  # replay the loop detector's memory
    guard.dropped = resume.dropped if resume else 0
    start = resume.next_start if resume else 0.0
    duration = start
    started = time.perf_counter()

    windows = _windows(path, name, start, options.window_seconds)
    restart: float | None = None
    while True:
        try:
            window_start, samples, last = (
                next(windows) if restart is None else windows.send(restart)
            )
        except StopIteration:
            break
        window_len = samples.shape[0] / SAMPLE_RATE
        prompt = options.initial_prompt
        if segments:
            prompt = " ".join(s.text.strip() for s in segments[-3:])[-_PROMPT_CHARS:]
        found, got = speech.transcribe(samples, options.params(language, prompt))
        if language is None or probability is None:
            language = got.language or language
            probability = got.language_probability
        window_segments = []
        for segment in found:
            window_segments.append(segment)
            if on_progress is not None:
                on_progress(window_start + segment.end)
        kept, restart = _split_window(window_segments, window_start, window_len, last)
        for segment in kept:
            if guard.keep(segment):
                segments.append(segment.shifted(window_start))
        duration = window_start + window_len
        if on_progress is not None:
            on_progress(restart)
        if on_checkpoint is not None and not last:
            on_checkpoint(Checkpoint(restart, list(segments), language, probability, guard.dropped))
    if duration == 0 and info.duration:
        duration = info.duration  # a file with no samples at all (an empty stream)
    seconds = time.perf_counter() - started
    processed = max(duration - start, 1e-9)
    result = TranscribeResult(
        source=name,
        segments=segments,
        language=language,
        language_probability=probability,
        duration=duration,
        model=speech.model_id,
        revision=speech.revision,
        engine=speech.engine,
        device=speech.device,
        compute_type=speech.compute_type,
        options=options.key(),
        timings={
            "load_s": round(load_s, 3) if backend is None else 0.0,
            "transcribe_s": round(seconds, 3),
            "rtf": round(seconds / processed, 4),
            "resumed_at": round(start, 3) if start else None,
        },
        dropped_segments=guard.dropped,
    )
    runlog.annotate(
        task="transcribe",
        model=speech.model_id,
        revision=speech.revision,
        device=f"{speech.device} {speech.compute_type}",
    )
    return result


# ---------------------------------------------------------------- word error rate
def normalizer(kind: str | None = "english") -> Callable[[str], str]:
    """Whisper's own text normalizers (shipped with transformers): 'english' also spells
    numbers, currencies and British spellings one way; 'basic' only case and punctuation."""
    if kind is None or kind == "none":
        return lambda text: text
    from transformers.models.whisper.english_normalizer import (
        BasicTextNormalizer,
        EnglishTextNormalizer,
    )

    if kind == "basic":
        return BasicTextNormalizer()
    if kind == "english":
        return EnglishTextNormalizer({})
    raise InvalidOptionError(f"unknown normalizer '{kind}'", hint="use english, basic or none")


def word_error_rate(reference: str, hypothesis: str, normalize: str | None = "english") -> float:
    """WER (jiwer) of `hypothesis` against `reference`, after the chosen normalization."""
    import jiwer

    norm = normalizer(normalize)
    ref, hyp = norm(reference).strip(), norm(hypothesis).strip()
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp if hyp else ""))
