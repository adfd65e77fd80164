"""Engines. One protocol per modality (see base.py); several engines per protocol.

A new engine is a new module here plus one entry in `TEXT_ENGINES`.
"""

from __future__ import annotations

from typing import Any

from ...errors import InvalidOptionError
from ..registry import ResolvedModel
from .base import TextBackend

# engine name → "module:attribute" of a callable(resolved, **load_options) -> TextBackend
TEXT_ENGINES: dict[str, str] = {
    "transformers": "pretrained.models.backends.transformers:load_text_backend",
    # exports written by `pretrained export` (onnxruntime / ctranslate2)
    "onnx": "pretrained.models.backends.portable:load_text_backend",
    "ctranslate2": "pretrained.models.backends.portable:load_text_backend",
}
_EXPORT_FORMATS = {"onnx": "onnx", "ctranslate2": "ctranslate2"}


def engine_names() -> list[str]:
    return ["auto", *TEXT_ENGINES]


def choose_text_engine(resolved: ResolvedModel, engine: str | None, device: str | None) -> str:
    """'auto' picks the fastest engine that supports this model on this device."""
    engine = (engine or "auto").lower()
    exported = _EXPORT_FORMATS.get(resolved.format) if resolved.source == "local" else None
    if exported and engine in ("auto", exported):
        return exported
    if exported:
        raise InvalidOptionError(
            f"{resolved.label} is a {resolved.format} export; it runs on the {exported} engine",
            hint=f"drop --engine (or pass --engine {exported})",
        )
    if engine in _EXPORT_FORMATS:
        raise InvalidOptionError(
            f"--engine {engine} runs models exported by 'pretrained export'",
            hint=f"export first: pretrained export MODEL --format {'onnx' if engine == 'onnx' else 'ct2'}",
        )
    if engine == "auto":
        return "transformers"
    if engine not in TEXT_ENGINES:
        raise InvalidOptionError(
            f"unknown engine '{engine}'", hint=f"use one of: {', '.join(engine_names())}"
        )
    return engine


def create_text_backend(resolved: ResolvedModel, engine: str, **options: Any) -> TextBackend:
    import importlib

    module_name, attr = TEXT_ENGINES[engine].split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(resolved, **options)
