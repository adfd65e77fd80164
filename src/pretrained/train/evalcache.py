"""The evaluation of a base model before training, computed once per model × data × options.

Rerunning a fine-tune on the same data (a new learning rate, more steps, a fixed typo in the
run name) would otherwise pay the same held-out loss and greedy samples again. The key is a
hash of what the numbers depend on: the weights (the content hash the calibration uses: a GGUF
file's sha256, a Hub commit, a local folder's fingerprint), the exact held-out token ids and
labels, the sample prompts, and every option that changes a number (device, dtype, sample
length, repetition penalty, the engine the samples ran on). A cached entry is a JSON file under
$PRETRAINED_CACHE/finetune-eval/; `pretrained models cache clear` does not know it, deleting
the folder is safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from ..models.registry import ModelSource
from .evaluate import SAMPLE_REPETITION_PENALTY, Evaluation
from .template import Example

VERSION = 1  # bump when what an evaluation measures changes


def folder() -> Path:
    from .. import settings

    return settings.cache_dir() / "finetune-eval"


def model_hash(resolved: Any, loaded_revision: str | None) -> str | None:
    """What the base weights are (None: unknown, so nothing is cached)."""
    from ..errors import PretrainedError
    from ..models import calibrate

    with contextlib.suppress(PretrainedError, OSError):
        found = calibrate.content_revision(resolved)
        if found:
            return found
    return loaded_revision if resolved.source == ModelSource.HUB else None


def examples_hash(examples: list[Example]) -> str:
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.input_ids, e.labels]).encode())
    return digest.hexdigest()


def key(
    model: str | None, examples: list[Example], prompts: list[str], **options: Any
) -> str | None:
    if model is None:
        return None
    blob = {
        "version": VERSION,
        "model": model,
        "examples": examples_hash(examples),
        "prompts": prompts,
        "repetition_penalty": SAMPLE_REPETITION_PENALTY,
        **options,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:32]


def load(entry: str | None) -> Evaluation | None:
    if entry is None:
        return None
    path = folder() / f"{entry}.json"
    try:
        found = Evaluation.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None  # absent, or half-written by a killed process: measure again
    found.cached = True
    return found


def store(entry: str | None, evaluation: Evaluation) -> None:
    if entry is None:
        return
    from .._util import atomic_write

    path = folder() / f"{entry}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(evaluation.to_dict(), default=str))
