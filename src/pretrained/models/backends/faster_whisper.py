"""The faster-whisper engine (CTranslate2): Whisper speech recognition, int8 on CPU.

Models: the embedded Whisper tiny.en, any faster-whisper (CTranslate2) repo on the Hub
(`Systran/faster-whisper-small` …), faster-whisper's short names (`small`, `large-v3` …) and
local CTranslate2 folders. Hub access goes through `models/hub.py` like every other model.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..._util import first_line
from ...errors import (
    DeviceUnavailableError,
    InvalidOptionError,
    ModelLoadError,
    UnsupportedModelError,
    missing_dependency,
)
from .. import hub
from ..registry import SPEECH_RECOGNITION, ModelFormat, ModelSource, ResolvedModel, resolve
from .transcription import Segment, TranscriptionInfo, TranscriptionParams, Word

CT2_HINT = (
    "use a faster-whisper (CTranslate2) model such as Systran/faster-whisper-small, or convert "
    "one: ct2-transformers-converter --model openai/whisper-small --output_dir whisper-small-ct2 "
    "--copy_files tokenizer.json preprocessor_config.json --quantization int8"
)


def _import_faster_whisper():
    try:
        import faster_whisper
    except ImportError as exc:
        raise missing_dependency("faster-whisper", "audio") from exc
    return faster_whisper


def short_names() -> dict[str, str]:
    """faster-whisper's own short names (`small`, `large-v3` …) → their Hub repos."""
    utils = getattr(_import_faster_whisper(), "utils", None)
    return dict(getattr(utils, "_MODELS", {}))


def resolve_transcription_model(name: str | None, revision: str | None = None) -> ResolvedModel:
    """Like registry.resolve, plus faster-whisper's short names, and a CTranslate2 check."""
    if name and name.strip() in short_names() and not Path(name).exists():
        repo = short_names()[name.strip()]
        resolved = ResolvedModel(name, "hub", "ctranslate2", repo, revision)
    else:
        resolved = resolve(name, task=SPEECH_RECOGNITION, revision=revision)
    if resolved.source != ModelSource.HUB and resolved.format != ModelFormat.CTRANSLATE2:
        raise UnsupportedModelError(
            f"{resolved.label} is a {resolved.format} model, not a faster-whisper "
            "(CTranslate2) speech model",
            hint=CT2_HINT,
        )
    return resolved


def model_folder(resolved: ResolvedModel) -> tuple[Path, str | None]:
    """(local folder with model.bin, Hub commit sha or None), downloading from the Hub if needed."""
    if resolved.source != ModelSource.HUB:
        assert resolved.path is not None
        return resolved.path, None
    assert resolved.hub_id is not None
    files, _, _ = hub.list_files(resolved.hub_id, resolved.revision)
    if "model.bin" not in files:
        raise UnsupportedModelError(
            f"'{resolved.hub_id}' is not a CTranslate2 model (it has no model.bin)", hint=CT2_HINT
        )
    snap = hub.download(resolved.hub_id, resolved.revision, fmt=ModelFormat.CTRANSLATE2)
    return snap.path, snap.sha


def choose_device(requested: str | None) -> tuple[str, int]:
    """auto → cuda when CTranslate2 sees a GPU, else cpu. Returns (device, index)."""
    import ctranslate2

    requested = (requested or "auto").lower()
    base, _, index = requested.partition(":")
    if base not in ("auto", "cpu", "cuda") or (index and not index.isdigit()):
        raise InvalidOptionError(
            f"unknown device '{requested}' for speech recognition",
            hint="use auto, cpu, cuda or cuda:N (CTranslate2 has no MPS support)",
        )
    gpus = ctranslate2.get_cuda_device_count()
    if base == "auto":
        return ("cuda", 0) if gpus else ("cpu", 0)
    if base == "cuda" and not gpus:
        raise DeviceUnavailableError(
            "--device cuda was asked for but CTranslate2 sees no CUDA GPU",
            hint="drop --device to use the CPU",
        )
    if base == "cuda" and int(index or 0) >= gpus:
        raise DeviceUnavailableError(f"--device {requested}: this machine has {gpus} GPU(s)")
    return base, int(index or 0)


def choose_compute_type(device: str, requested: str | None) -> str:
    """auto → int8 on CPU, float16 on CUDA; anything else must be supported by the device."""
    import ctranslate2

    requested = (requested or "auto").lower()
    if requested == "auto":
        return "float16" if device == "cuda" else "int8"
    supported = sorted(ctranslate2.get_supported_compute_types(device)) + ["default"]
    if requested not in supported:
        raise InvalidOptionError(
            f"--compute-type {requested} is not supported on {device}",
            hint=f"use auto or one of: {', '.join(supported)}",
        )
    return requested


class FasterWhisperBackend:
    engine = "faster-whisper"

    def __init__(
        self,
        resolved: ResolvedModel,
        *,
        device: str | None = None,
        compute_type: str | None = None,
        cpu_threads: int = 0,
    ) -> None:
        faster_whisper = _import_faster_whisper()
        start = time.time()
        self.resolved = resolved
        self.device, index = choose_device(device)
        self.compute_type = choose_compute_type(self.device, compute_type)
        folder, self.revision = model_folder(resolved)
        try:
            self.model = faster_whisper.WhisperModel(
                str(folder),
                device=self.device,
                device_index=index,
                compute_type=self.compute_type,
                cpu_threads=cpu_threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            first = first_line(exc)
            raise ModelLoadError(
                f"could not load {resolved.label} with faster-whisper: {first}", hint=CT2_HINT
            ) from exc
        self.model_id = resolved.alias or resolved.id
        self.multilingual = bool(self.model.model.is_multilingual)
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        self.languages = tuple(_LANGUAGE_CODES) if self.multilingual else ("en",)
        self.load_seconds = time.time() - start

    def transcribe(
        self, audio: Any, params: TranscriptionParams
    ) -> tuple[Iterator[Segment], TranscriptionInfo]:
        segments, info = self.model.transcribe(
            audio,
            language=params.language,
            task=params.task,
            beam_size=params.beam_size,
            word_timestamps=params.word_timestamps,
            vad_filter=params.vad,
            initial_prompt=params.initial_prompt,
            language_detection_segments=params.language_detection_segments,
            language_detection_threshold=params.language_detection_threshold,
        )
        return _convert(segments), TranscriptionInfo(
            language=info.language,
            language_probability=info.language_probability,
            duration=info.duration,
            speech_duration=info.duration_after_vad,
        )


def _convert(segments: Any) -> Iterator[Segment]:
    for s in segments:
        words = (
            [Word(w.start, w.end, w.word, w.probability) for w in s.words]
            if s.words is not None
            else None
        )
        yield Segment(
            s.start,
            s.end,
            s.text,
            words,
            s.avg_logprob,
            s.no_speech_prob,
            s.compression_ratio,
            s.temperature,
        )


def load_transcription_backend(resolved: ResolvedModel, **options: Any) -> FasterWhisperBackend:
    return FasterWhisperBackend(resolved, **options)
