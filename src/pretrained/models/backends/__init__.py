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
}


def engine_names() -> list[str]:
    return ["auto", *TEXT_ENGINES]


def choose_text_engine(resolved: ResolvedModel, engine: str | None, device: str | None) -> str:
    """'auto' picks the fastest engine that supports this model on this device."""
    engine = (engine or "auto").lower()
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
