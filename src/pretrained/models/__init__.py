"""The only place that knows where weights come from (registry, hub) and how they are loaded
(loading, backends). `load()` keeps recently used models in memory so a REPL, a server or a
loop of API calls pays the load once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ..errors import UnsupportedModelError
from .backends import create_text_backend, text_engine_candidates
from .backends.base import TextBackend
from .registry import TEXT_GENERATION, ResolvedModel, resolve

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
    with _lock:
        for i, chosen in enumerate(candidates):
            key = (
                resolved.source,
                resolved.id,
                resolved.revision,
                chosen,
                tuple(sorted(options.items())),
            )
            if key in _loaded:
                _loaded.move_to_end(key)
                backend = _loaded[key]
                backend.load_seconds = 0.0  # reused: no load cost for this call
                return backend
            try:
                backend = create_text_backend(resolved, chosen, **options)
            except UnsupportedModelError:
                if i == len(candidates) - 1:
                    raise
                continue  # 'auto': this engine cannot run the model, try the next one
            _loaded[key] = backend
            while len(_loaded) > _MAX_LOADED:
                _loaded.popitem(last=False)
            return backend
    raise AssertionError("unreachable: the candidate list is never empty")


def unload_all() -> None:
    with _lock:
        _loaded.clear()


__all__ = ["ResolvedModel", "load", "resolve", "unload_all"]
