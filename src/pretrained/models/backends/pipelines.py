"""The generic engine: any transformers 5 `pipeline()` task, loaded through the same safe path as
every other model (registry → hub download of safetensors only → local folder → pipeline)."""

from __future__ import annotations

import time
from typing import Any

from ...errors import UnsupportedModelError
from ..registry import ModelFormat, ResolvedModel

# Formats a transformers pipeline can read from a folder (sentence-transformers folders keep a
# plain transformers model at their root; GGUF is converted once by loading.prepare).
PIPELINE_FORMATS = (ModelFormat.TRANSFORMERS, ModelFormat.SENTENCE_TRANSFORMERS, ModelFormat.GGUF)


class PipelineBackend:
    engine = "transformers-pipeline"
    untrained: list[str] = []  # weights initialized at random (run with allow_untrained_head)

    def __init__(
        self,
        pipe: Any,
        task: str,
        resolved: ResolvedModel,
        revision: str | None,
        device: str,
        dtype: str,
        load_seconds: float,
    ) -> None:
        self.pipe = pipe
        self.task = task
        self.model_id = resolved.alias or resolved.id
        self.revision = revision
        self.device = device
        self.dtype = dtype
        self.load_seconds = load_seconds

    @property
    def sampling_rate(self) -> int:
        """The audio rate the model's feature extractor expects (audio tasks)."""
        extractor = getattr(self.pipe, "feature_extractor", None)
        return int(getattr(extractor, "sampling_rate", None) or 16000)

    @property
    def mask_token(self) -> str | None:
        tokenizer = getattr(self.pipe, "tokenizer", None)
        return getattr(tokenizer, "mask_token", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.inference_mode():
            return self.pipe(*args, **kwargs)


def load_pipeline_backend(
    task: str,
    resolved: ResolvedModel,
    *,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
    allow_untrained_head: bool = False,
) -> PipelineBackend:
    from ..loading import (
        choose_device,
        choose_dtype,
        dtype_name,
        load_failure,
        prepare,
        quiet_transformers,
    )

    if resolved.format not in PIPELINE_FORMATS:
        raise UnsupportedModelError(
            f"{resolved.label} is a {resolved.format} model, which transformers pipelines cannot load",
            hint=f"pick a model made for this task: https://huggingface.co/models?pipeline_tag={task}",
        )
    from transformers import pipeline

    start = time.time()
    chosen = choose_device(device)
    torch_dtype = choose_dtype(chosen, dtype)
    prepared = prepare(resolved, trust_pickle=trust_pickle)
    model_kwargs: dict[str, Any] = {} if trust_pickle else {"use_safetensors": True}
    try:
        with quiet_transformers():
            pipe = pipeline(
                task,
                model=str(prepared.path),
                device=chosen,
                dtype=torch_dtype,
                trust_remote_code=trust_remote_code,
                model_kwargs=model_kwargs,
            )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise load_failure(
            resolved,
            exc,
            f"for {task}",
            f"pick a model made for this task: https://huggingface.co/models?pipeline_tag={task}",
        ) from exc
    untrained = untrained_weights(getattr(pipe, "model", None), prepared.path)
    if untrained and not allow_untrained_head:
        raise UnsupportedModelError(
            f"{resolved.label} has no trained {task} head: {len(untrained)} of its weights "
            f"({_summarize(untrained)}) are not in the checkpoint and would be random",
            hint=_head_hint(task),
        )
    backend = PipelineBackend(
        pipe,
        task,
        resolved,
        prepared.revision,
        chosen,
        dtype_name(torch_dtype),
        time.time() - start,
    )
    backend.untrained = untrained
    return backend


def untrained_weights(model: Any, folder: Any) -> list[str]:
    """Parameters of `model` that its checkpoint folder does not hold — the ones transformers
    initialized at random (a task head bolted onto a base model). Read from the safetensors
    key names only; tied weights (sharing storage with a loaded one) and the model's own
    ignore-on-missing patterns do not count. A folder without safetensors is not checked."""
    import re
    from pathlib import Path

    if model is None or folder is None:
        return []
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return []
    from safetensors import safe_open

    stored: set[str] = set()
    for f in files:
        with safe_open(str(f), framework="pt") as handle:
            stored.update(handle.keys())
    prefix = getattr(model, "base_model_prefix", "") or ""

    def bare(key: str) -> str:
        return key[len(prefix) + 1 :] if prefix and key.startswith(prefix + ".") else key

    held = {bare(k) for k in stored}
    ignore = [re.compile(p) for p in getattr(model, "_keys_to_ignore_on_load_missing", None) or []]
    params = list(model.named_parameters(remove_duplicate=False))
    loaded_ptrs = {t.data_ptr() for n, t in params if bare(n) in held}
    missing = []
    for name, tensor in params:
        if bare(name) in held or tensor.data_ptr() in loaded_ptrs:
            continue
        if any(p.search(name) for p in ignore):
            continue
        missing.append(name)
    return missing


def _summarize(names: list[str]) -> str:
    groups = sorted({".".join(n.rsplit(".", 1)[0].split(".")[:2]) + ".*" for n in names})
    return ", ".join(groups[:3]) + (f" and {len(groups) - 3} more" if len(groups) > 3 else "")


def _head_hint(task: str) -> str:
    default = None
    try:
        from transformers.pipelines import SUPPORTED_TASKS

        model = (SUPPORTED_TASKS.get(task, {}).get("default") or {}).get("model")
        model = model.get("pt") if isinstance(model, dict) else model
        default = model[0] if isinstance(model, tuple) else model
    except Exception:  # noqa: BLE001 — a hint must never fail the error it explains
        default = None
    example = f"--model {default}, " if default else ""
    return (
        f"use a model trained for {task} ({example}"
        f"https://huggingface.co/models?pipeline_tag={task}), "
        "or pass --allow-untrained-head to run the random head anyway"
    )
