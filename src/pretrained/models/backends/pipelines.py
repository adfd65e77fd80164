"""The generic engine: any transformers 5 `pipeline()` task, loaded through the same safe path as
every other model (registry → hub download of safetensors only → local folder → pipeline)."""

from __future__ import annotations

import time
from typing import Any

from ...errors import UnsupportedModelError
from ..registry import ResolvedModel

# Formats a transformers pipeline can read from a folder (sentence-transformers folders keep a
# plain transformers model at their root; GGUF is converted once by loading.prepare).
PIPELINE_FORMATS = ("transformers", "sentence-transformers", "gguf")


class PipelineBackend:
    engine = "transformers-pipeline"

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
    return PipelineBackend(
        pipe,
        task,
        resolved,
        prepared.revision,
        chosen,
        dtype_name(torch_dtype),
        time.time() - start,
    )
