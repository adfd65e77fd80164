"""Which engine applies a constraint (or returns logprobs): the loaded one when it can, else
the same model on an engine that can — said on stderr, never skipped.

Engines that mask tokens set `constrains = True`: llama.cpp (its llguidance sampler) and
transformers (a logits processor). CTranslate2's Python API has no per-step logits hook
(`generate_batch` takes a step *callback* that can only stop a sequence, 4.8.5), the ONNX
engine and remote endpoints have none either: their requests go to llama.cpp for GGUF files
(when installed) and to transformers otherwise."""

from __future__ import annotations

import sys
import threading
from typing import Any

from ...errors import ConstraintError

_said: set[tuple[str, str, str]] = set()
_lock = threading.Lock()


def constrains(backend: Any) -> bool:
    return bool(getattr(backend, "constrains", False))


def target_engine(backend: Any) -> str:
    from ..backends import llamacpp
    from ..registry import ModelFormat

    fmt = getattr(backend, "model_format", None)
    return "llama.cpp" if fmt == ModelFormat.GGUF and llamacpp.available() else "transformers"


def engine_for(backend: Any, what: str = "a constraint") -> Any:
    """`backend` itself when it can apply `what`; otherwise the same model loaded on the engine
    that can (models.load's cache keeps it for the next request)."""
    if constrains(backend):
        return backend
    request = getattr(backend, "load_request", None)
    if request is None:
        raise ConstraintError(
            f"the {backend.engine} engine cannot apply {what}, and no local copy of "
            f"{backend.model_id} can take the request instead",
            hint="run the model on a local engine: --engine llama.cpp or --engine transformers",
        )
    from .. import load

    target = target_engine(backend)
    key = (backend.model_id, backend.engine, target)
    with _lock:
        first = key not in _said
        _said.add(key)
    if first:
        print(
            f"note: the {backend.engine} engine cannot apply {what} (it has no per-token "
            f"logits hook); {backend.model_id} runs such requests on {target}",
            file=sys.stderr,
            flush=True,
        )
    options = {k: v for k, v in request.items() if k not in ("engine", "quantize")}
    return load(**options, engine=target)
