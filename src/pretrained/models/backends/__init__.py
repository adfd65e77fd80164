"""Engines. One protocol per modality (see base.py); several engines per protocol.

A new engine is a new module here plus one entry in `TEXT_ENGINES` (and, if `--engine auto`
should pick it, a rule in `auto_engines`).
"""

from __future__ import annotations

import os
from typing import Any

from ...errors import InvalidOptionError
from ..registry import ModelFormat, ModelSource, ResolvedModel
from .base import TextBackend

# engine name → "module:attribute" of a callable(resolved, **load_options) -> TextBackend
TEXT_ENGINES: dict[str, str] = {
    "transformers": "pretrained.models.backends.transformers:load_text_backend",
    "llama.cpp": "pretrained.models.backends.llamacpp:load_text_backend",
    # CTranslate2: any causal LM (converted once into the cache) or a `pretrained export` folder
    "ctranslate2": "pretrained.models.backends.ctranslate2:load_text_backend",
    # ONNX graphs written by `pretrained export` (onnxruntime)
    "onnx": "pretrained.models.backends.portable:load_text_backend",
}
_ALIASES = {"llamacpp": "llama.cpp", "llama-cpp": "llama.cpp", "ct2": "ctranslate2"}
_EXPORT_FORMATS = {ModelFormat.ONNX: "onnx", ModelFormat.CTRANSLATE2: "ctranslate2"}


def engine_names() -> list[str]:
    return ["auto", *TEXT_ENGINES]


def nvidia_gpu_present() -> bool:
    """Whether an NVIDIA driver is loaded, checked without importing torch (cold start)."""
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def auto_engines(
    resolved: ResolvedModel,
    device: str | None = None,
    *,
    dtype: str | None = None,
    quantize: str | None = None,
    trust_remote_code: bool = False,
) -> list[str]:
    """The engines `--engine auto` tries, best first; the last one is always transformers.

    On a CPU: CTranslate2 int8 (every causal LM it can convert, GGUF files included: converted
    once into the cache), then llama.cpp for GGUF files (runs the file as it is), then
    transformers. Measured on this project's 2-core CPU, CTranslate2 int8 is ≈5× transformers
    at batch 1 and ≈3× at batch 8, llama.cpp's prebuilt CPU wheel ≈3× and ≈1×
    (docs/performance.md). Transformers on GPUs, for an explicit --dtype or --quantize, for
    custom code, for adapters, and whenever no fast engine is installed or can run the model
    (an engine that cannot raises UnsupportedModelError and the next one is tried)."""
    from . import ctranslate2, llamacpp

    device = (device or "auto").lower()
    gpu = device.startswith(("cuda", "mps")) or (device == "auto" and nvidia_gpu_present())
    if (
        gpu
        or quantize
        or (dtype and dtype.lower() != "auto")
        or trust_remote_code
        or resolved.format not in (ModelFormat.GGUF, ModelFormat.TRANSFORMERS)
    ):
        return ["transformers"]
    fast = []
    if ctranslate2.available():
        fast.append("ctranslate2")
    if resolved.format == ModelFormat.GGUF and llamacpp.available():
        fast.append("llama.cpp")
    return [*fast, "transformers"]


def text_engine_candidates(
    resolved: ResolvedModel,
    engine: str | None,
    device: str | None,
    *,
    dtype: str | None = None,
    quantize: str | None = None,
    trust_remote_code: bool = False,
) -> list[str]:
    """The engine asked for (validated), or the engines 'auto' tries in order."""
    from ..loading import check_device

    device = check_device(device)
    engine = (engine or "auto").lower()
    engine = _ALIASES.get(engine, engine)
    exported = (
        _EXPORT_FORMATS.get(resolved.format) if resolved.source == ModelSource.LOCAL else None
    )
    if exported and engine in ("auto", exported):
        return [exported]
    if exported:
        raise InvalidOptionError(
            f"{resolved.label} is a {resolved.format} export; it runs on the {exported} engine",
            hint=f"drop --engine (or pass --engine {exported})",
        )
    if engine == "onnx":
        raise InvalidOptionError(
            "--engine onnx runs models exported by 'pretrained export'",
            hint="export first: pretrained export MODEL --format onnx",
        )
    if engine == "auto":
        return auto_engines(
            resolved, device, dtype=dtype, quantize=quantize, trust_remote_code=trust_remote_code
        )
    if engine not in TEXT_ENGINES:
        raise InvalidOptionError(
            f"unknown engine '{engine}'", hint=f"use one of: {', '.join(engine_names())}"
        )
    if engine != "transformers":
        if device not in ("auto", "cpu"):
            raise InvalidOptionError(
                f"--engine {engine} runs on the CPU here, not on {device}",
                hint="drop --device, or use --engine transformers on a GPU",
            )
        if quantize:
            raise InvalidOptionError(
                f"--quantize is for the transformers engine; {engine} has its own quantization",
                hint="drop --quantize, or use --engine transformers",
            )
    return [engine]


def create_text_backend(resolved: ResolvedModel, engine: str, **options: Any) -> TextBackend:
    import importlib

    module_name, attr = TEXT_ENGINES[engine].split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(resolved, **options)
