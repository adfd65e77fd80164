"""The text-to-speech backend protocol, shared by every speech engine.

An engine turns one short piece of text into mono float32 samples in [-1, 1] at its own
sample rate. Sentence splitting, concatenation, option validation and file formats live in the
task layer (tasks/speak.py), so an engine is small: load, list voices, synthesize one chunk.

Engines: `espeak.py` (the offline default: espeak-ng formant synthesis, *not* a neural model)
and `tts_transformers.py` (Hugging Face models: VITS/MMS, SpeechT5, Bark, other text-to-audio).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..registry import ModelFormat

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# engine → "module:attribute" of a callable(resolved, **load_options) -> SpeechBackend
SPEECH_ENGINES: dict[str, str] = {
    "espeak-ng": "pretrained.models.backends.espeak:load_speech_backend",
    "transformers": "pretrained.models.backends.tts_transformers:load_speech_backend",
}


@runtime_checkable
class SpeechBackend(Protocol):
    engine: str  # espeak-ng | transformers
    model_id: str  # what to show and log
    revision: str | None
    device: str
    neural: bool  # False for rule-based synthesizers (espeak-ng): say so to the user
    sample_rate: int
    max_chars: int  # longest chunk the engine handles well; longer text is split by sentences
    load_seconds: float

    def voices(self) -> list[str]: ...

    def synthesize(self, text: str, *, voice: str | None = None, rate: float = 1.0) -> np.ndarray:
        """Mono float32 samples in [-1, 1] at `sample_rate`."""
        ...


def create_speech_backend(resolved: Any, **options: Any) -> SpeechBackend:
    import importlib

    engine = "espeak-ng" if resolved.format == ModelFormat.ESPEAK else "transformers"
    module_name, attr = SPEECH_ENGINES[engine].split(":")
    return getattr(importlib.import_module(module_name), attr)(resolved, **options)
