"""A `ResolvedModel` → a local folder transformers can load safely: Hub snapshots, GGUF
conversions, local folders with pickle weights refused unless trusted; the tokenizer; diffusers
pipeline folders; and the loaded-model value type and load errors."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._util import first_line
from ..errors import (
    ModelLoadError,
    PickleRefusedError,
    UnsupportedModelError,
)
from . import hub
from .cache import Prepared
from .devices import quiet_transformers
from .gguf import gguf_model_dir, gguf_path, gguf_tokenizer_dir
from .registry import ModelFormat, ModelSource, ResolvedModel


def check_local_weights(folder: Path, trust_pickle: bool) -> None:
    names = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
    weights = hub.weight_files(names)
    if weights["pickle"] and not weights["safetensors"] and not trust_pickle:
        raise PickleRefusedError(
            f"'{folder}' only has pickle weights ({', '.join(weights['pickle'][:3])}), which are refused by default"
        )


def prepare(
    resolved: ResolvedModel, *, trust_pickle: bool = False, tokenizer_only: bool = False
) -> Prepared:
    """A local folder with config + safetensors (+ tokenizer) for a transformers load."""
    if resolved.format == ModelFormat.GGUF:
        path = gguf_path(resolved)
        return gguf_tokenizer_dir(path) if tokenizer_only else gguf_model_dir(path)
    if resolved.source == ModelSource.HUB:
        start = time.time()
        snap = hub.download(
            resolved.hub_id, resolved.revision, fmt=resolved.format, trust_pickle=trust_pickle
        )
        return Prepared(snap.path, snap.sha, seconds=time.time() - start)
    assert resolved.path is not None
    if not tokenizer_only:
        check_local_weights(resolved.path, trust_pickle)
    return Prepared(resolved.path, None)


def load_tokenizer(resolved: ResolvedModel, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    prepared = prepare(resolved, tokenizer_only=True)
    try:
        with quiet_transformers():
            return AutoTokenizer.from_pretrained(
                prepared.path, trust_remote_code=trust_remote_code
            ), prepared
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"could not load a tokenizer for {resolved.label}: {first_line(exc)}",
            hint="check that the model folder has tokenizer files (tokenizer.json / vocab)",
        ) from exc


@dataclass
class LoadedLM:
    model: Any
    tokenizer: Any
    resolved: ResolvedModel
    revision: str | None
    device: str
    dtype: str
    quantize: str | None
    load_seconds: float
    import_seconds: float = 0.0
    cache_hit: bool = False
    converted: bool = False


def prepare_diffusers(
    resolved: ResolvedModel, *, variant: str | None = None, trust_pickle: bool = False
) -> tuple[Prepared, str | None]:
    """A local diffusers pipeline folder (downloaded from the Hub when needed) and the weights
    variant to load ('fp16' when the repo has it and fp16 was asked for, else None)."""
    if resolved.source == ModelSource.HUB:
        start = time.time()
        snap, variant = hub.download_diffusers(
            resolved.hub_id, resolved.revision, variant=variant, trust_pickle=trust_pickle
        )
        return Prepared(snap.path, snap.sha, seconds=time.time() - start), variant
    if resolved.format != ModelFormat.DIFFUSERS or resolved.path is None:
        raise UnsupportedModelError(
            f"{resolved.label} is not a diffusers pipeline (no model_index.json)",
            hint="pass a folder saved with DiffusionPipeline.save_pretrained, or a Hub id",
        )
    check_local_weights(resolved.path, trust_pickle)
    names = [p.name for p in resolved.path.rglob("*.safetensors")]
    if variant and not any(hub.weight_variant(n) == variant for n in names):
        variant = None
    return Prepared(resolved.path, None), variant


def load_failure(resolved: ResolvedModel, exc: BaseException, what: str, hint: str):
    """The error for a model that failed to load: custom code refused, or anything else."""
    if "trust_remote_code" in str(exc):
        return UnsupportedModelError(
            f"{resolved.label} needs custom code from its repository to load",
            hint="pass --trust-remote-code only if you trust the publisher",
        )
    return ModelLoadError(f"could not load {resolved.label} {what}: {first_line(exc)}", hint=hint)
