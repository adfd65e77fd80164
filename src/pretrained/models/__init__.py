"""The only place that knows where weights come from (registry, hub) and how they are loaded
(loading, backends). `load()` keeps recently used models in memory so a REPL, a server or a
loop of API calls pays the load once."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Any

from ..errors import UnsupportedModelError
from . import loading
from .backends import create_text_backend, text_engine_candidates
from .backends.base import TextBackend
from .registry import EMBEDDING, RERANK, TEXT_GENERATION, ModelFormat, ResolvedModel, resolve

_MAX_LOADED = 3
_loaded: OrderedDict[tuple, Any] = OrderedDict()
_lock = threading.RLock()


def load(
    model: str | None = None,
    *,
    task: str = TEXT_GENERATION,
    revision: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    quantize: str | None = None,
    engine: str | None = "auto",
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
) -> TextBackend:
    """Load (or reuse) a text-generation backend for `model` (alias, Hub id or path)."""
    resolved = resolve(model, task=task, revision=revision)
    candidates = text_engine_candidates(
        resolved,
        engine,
        device,
        dtype=dtype,
        quantize=quantize,
        trust_remote_code=trust_remote_code,
    )
    options = {
        "device": device,
        "dtype": dtype,
        "quantize": quantize,
        "trust_remote_code": trust_remote_code,
        "trust_pickle": trust_pickle,
    }
    candidates, engine_options = _calibrated(
        resolved, candidates, auto=engine in (None, "auto"), task=task
    )
    for i, chosen in enumerate(candidates):
        extra = engine_options.get(chosen, {})
        key = (
            resolved.source,
            resolved.id,
            resolved.revision,
            chosen,
            tuple(sorted({**options, **extra}.items())),
        )
        key += _run_folder_state(resolved)
        try:
            backend = _cached(
                key, functools.partial(create_text_backend, resolved, chosen, **options, **extra)
            )
        except UnsupportedModelError:
            if i == len(candidates) - 1:
                raise
            # 'auto': this engine cannot run the model, try the next one
            continue
        # how to load this model again on another engine (models/structured/handoff.py)
        backend.load_request = {"model": model, "task": task, "revision": revision, **options}
        backend.model_format = resolved.format
        return backend
    raise AssertionError("unreachable: the candidate list is never empty")


_CALIBRATED = ("ctranslate2", "llama.cpp")  # engines whose results depend on the CPU


def _calibrated(
    resolved, candidates: list[str], *, auto: bool, task: str | None = None
) -> tuple[list[str], dict]:
    """Order (for `auto`) and configure the CPU engines by this machine's calibration verdict
    (models/calibrate.py: measured on first use, then cached): engines that failed the quality
    canary are dropped, the fastest that passed for `task`'s typical requests comes first
    (summarize and ask send long prompts), transformers stays last.
    An engine named explicitly runs anyway, with a warning when it failed the canary here."""
    if resolved.format not in (ModelFormat.GGUF, ModelFormat.TRANSFORMERS) or not any(
        e in _CALIBRATED for e in candidates
    ):
        return candidates, {}  # exports run on their own engine; nothing to choose between
    from . import calibrate

    try:
        verdict = calibrate.verdict(resolved)
    except UnsupportedModelError:
        verdict = None  # nothing to measure on (no weights a fast engine can read)
    if verdict is None:
        return candidates, {}
    options = {engine: verdict.options(engine, task) for engine in _CALIBRATED}
    if auto:
        passed = [e for e in verdict.engines(task) if e in candidates]
        rest = [e for e in candidates if e not in _CALIBRATED and e not in passed]
        return [*passed, *rest] or candidates, options
    for name in candidates:
        failed = verdict.failed(name)
        if failed:
            import sys

            print(
                f"warning: {name} failed the quality canary on this CPU "
                f"({failed[0].reason}); its output may be wrong — drop --engine to use "
                f"{chosen.label if (chosen := verdict.chosen(task)) else 'transformers'}",
                file=sys.stderr,
            )
    return candidates, options


def _run_folder_state(resolved) -> tuple:
    """A fine-tuning run folder changes in place (merge adds merged/, --overwrite retrains it):
    key the cache by what the folder holds now, so a stale model is never reused."""
    if resolved.format != ModelFormat.FINETUNE_RUN or resolved.path is None:
        return ()
    parts = ("config.yaml", "adapter", "merged", "model")
    return tuple(
        (name, (resolved.path / name).stat().st_mtime_ns)
        for name in parts
        if (resolved.path / name).exists()
    )


def _cached(key: tuple, factory) -> Any:
    """The same LRU for every modality: a REPL, a server or a loop pays each load once."""
    with _lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            backend = _loaded[key]
            backend.load_seconds = 0.0  # reused: no load cost for this call
            return backend
        backend = factory()
        _loaded[key] = backend
        while len(_loaded) > _MAX_LOADED:
            _loaded.popitem(last=False)
        return backend


def load_speech(
    model: str | None = None,
    *,
    revision: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
):
    """Load (or reuse) a text-to-speech backend: 'espeak-ng' (default) or a Hugging Face model."""
    from .backends.speech import create_speech_backend

    trust = {"trust_remote_code": trust_remote_code, "trust_pickle": trust_pickle}
    factory = create_speech_backend
    return _load_encoder(
        "speech", "text-to-speech", factory, model, revision, device=device, dtype=dtype, **trust
    )


def load_image_pipeline(
    model: str | None = None,
    *,
    revision: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    quantize: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
):
    """Load (or reuse) a diffusers text-to-image backend."""
    from .backends.diffusion import load_diffusion_backend

    trust = {"trust_remote_code": trust_remote_code, "trust_pickle": trust_pickle}
    options = {"device": device, "dtype": dtype, "quantize": quantize, **trust}
    return _load_encoder(
        "image", "text-to-image", load_diffusion_backend, model, revision, **options
    )


def load_pipeline(
    task: str,
    model: str | None = None,
    *,
    revision: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
    allow_untrained_head: bool = False,
):
    """Load (or reuse) a transformers pipeline backend for `task` (already normalized)."""
    from .backends.pipelines import load_pipeline_backend

    trust = {"trust_remote_code": trust_remote_code, "trust_pickle": trust_pickle}
    factory = functools.partial(load_pipeline_backend, task)
    options = {"device": device, "dtype": dtype, "allow_untrained_head": allow_untrained_head}
    return _load_encoder(f"pipeline:{task}", task, factory, model, revision, **options, **trust)


def _load_encoder(kind: str, task: str, factory: Any, model, revision, **options: Any):
    resolved = resolve(model, task=task, revision=revision)
    key = (kind, resolved.source, resolved.id, resolved.revision, tuple(sorted(options.items())))
    return _cached(key, lambda: factory(resolved, **options))


def load_embedder(
    model: str | None = None,
    *,
    revision: str | None = None,
    device: str | None = None,
    engine: str | None = "auto",
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
):
    """Load (or reuse) a sentence-embedding backend (default: the embedded MiniLM).

    engine: auto (on a CPU: torch-free CTranslate2/onnxruntime, converted once; else
    sentence-transformers), ctranslate2, onnx or sentence-transformers."""
    from .backends.embeddings import create_embedder
    from .backends.fast_embeddings import check_engine

    return _load_encoder(
        "embedding",
        EMBEDDING,
        create_embedder,
        model,
        revision,
        device=device,
        engine=check_engine(engine),
        trust_remote_code=trust_remote_code,
        trust_pickle=trust_pickle,
    )


def load_classifier(
    model: str,
    *,
    revision: str | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
):
    """Load (or reuse) a sequence-classification backend (sentiment, NLI …) by name."""
    from .backends.classifiers import load_sequence_classifier

    return _load_encoder(
        "classifier",
        "classify",
        load_sequence_classifier,
        model,
        revision,
        device=device,
        trust_remote_code=trust_remote_code,
        trust_pickle=trust_pickle,
    )


def load_reranker(
    model: str | None = None,
    *,
    revision: str | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
):
    """Load (or reuse) a rerank backend: an embedding model (sentence-transformers folder or
    alias) ranks as a bi-encoder on the embedding engines, anything else as a cross-encoder."""
    from .backends.rerankers import BiEncoderReranker, load_cross_encoder

    resolved = resolve(model, task=RERANK, revision=revision)
    options = dict(device=device, trust_remote_code=trust_remote_code, trust_pickle=trust_pickle)
    if resolved.format == ModelFormat.SENTENCE_TRANSFORMERS:
        return BiEncoderReranker(load_embedder(model, revision=revision, **options))
    return _load_encoder("reranker", RERANK, load_cross_encoder, model, revision, **options)


def load_transcriber(
    model: str | None = None,
    *,
    revision: str | None = None,
    device: str | None = None,
    compute_type: str | None = None,
) -> Any:
    """Load (or reuse) a speech-recognition (speech → text) backend: faster-whisper."""
    from .backends.faster_whisper import load_transcription_backend, resolve_transcription_model

    resolved = resolve_transcription_model(model, revision)
    key = ("transcriber", resolved.source, resolved.id, resolved.revision, device, compute_type)
    return _cached(
        key, lambda: load_transcription_backend(resolved, device=device, compute_type=compute_type)
    )


def take_private(backend: Any) -> None:
    """Take a backend out of the shared cache: its model was changed in place (a server
    layered adapters on it), so no later load() in this process may be handed it."""
    with _lock:
        for key in [k for k, v in _loaded.items() if v is backend]:
            del _loaded[key]


def unload_all() -> None:
    with _lock:
        _loaded.clear()


loading.ON_CLEAR.append(unload_all)


__all__ = [
    "ResolvedModel",
    "load",
    "load_classifier",
    "load_embedder",
    "load_image_pipeline",
    "load_pipeline",
    "load_reranker",
    "load_speech",
    "load_transcriber",
    "resolve",
    "unload_all",
]
