"""Which engine runs a text model on THIS machine: decided by measurement, with a quality canary.

Fast CPU engines are only fast and right on some CPUs: CTranslate2's int8 path is the fastest
engine on an AVX-512 VNNI Xeon and degenerates ("The Daily Daily Daily …") on an AVX2-only
CPU, where its u8s8 matrix products saturate; llama.cpp's prebuilt wheel wins there. So the
first use of a model on a machine runs every installed candidate — llama.cpp for GGUF files,
CTranslate2 in each compute type this CPU supports, transformers (the float reference) —
through a timing and a quality canary (measuring.py: timings first, then the canary fastest
first, stopping once the result can no longer change; canary.py: the checks).

An engine that fails the canary is never chosen by `auto`; the fastest one that passes wins.
The verdict is cached (one JSON file per model × CPU × engine versions under the conversion
cache in PRETRAINED_HOME; machine.py), so this happens once; `pretrained models calibrate
MODEL` runs it again, `pretrained doctor` and `pretrained models cache list` show the table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ... import settings
from ..registry import ResolvedModel
from .canary import (
    CANARY_PROMPTS,
    CANARY_TEXTS,
    GREEDY_TOKENS,
    MIN_AGREEMENT,
    NEAR_TIE,
    PATH_MARGIN,
    _agrees,
    _greedy_ids,
    degenerate,
    next_token_picks,
    path_margins,
)
from .machine import CANARY_VERSION, content_revision, cpu_info, engine_versions, key_for
from .measuring import TIMED_TOKENS, candidates, measure
from .results import (
    NOT_CHECKED,
    REFERENCE,
    TYPICAL_NEW,
    TYPICAL_PROMPT,
    WORKLOADS,
    Trial,
    Verdict,
    summary_line,
)

__all__ = [
    "CANARY_PROMPTS",
    "CANARY_TEXTS",
    "CANARY_VERSION",
    "GREEDY_TOKENS",
    "MIN_AGREEMENT",
    "NEAR_TIE",
    "NOT_CHECKED",
    "PATH_MARGIN",
    "REFERENCE",
    "TIMED_TOKENS",
    "TYPICAL_NEW",
    "TYPICAL_PROMPT",
    "WORKLOADS",
    "Trial",
    "Verdict",
    "_agrees",
    "_greedy_ids",
    "cached_verdicts",
    "calibration_dir",
    "candidates",
    "content_revision",
    "cpu_info",
    "current_verdicts",
    "degenerate",
    "engine_versions",
    "measure",
    "next_token_picks",
    "path_margins",
    "summary_line",
    "table_rows",
    "verdict",
]


def calibration_dir() -> Path:
    return settings.cache_dir() / "calibration"


def current_verdicts() -> list[Verdict]:
    """The verdicts that hold for this CPU and these engine versions (the ones `auto` uses)."""
    cpu, versions = cpu_info(), engine_versions()
    return [v for v in cached_verdicts() if v.cpu == cpu and v.versions == versions]


def table_rows() -> list[dict[str, Any]]:
    """The calibration table of every model measured on this CPU with these engine versions
    (`doctor`, `models cache list`, `make bench`)."""
    return [row for v in current_verdicts() for row in v.table()]


def cached_verdicts() -> list[Verdict]:
    """Every verdict stored on this machine (all models, all CPUs that shared the cache)."""
    out = []
    folder = calibration_dir()
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        try:
            out.append(Verdict.from_dict(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue  # a foreign or half-written file is not a verdict
    return out


def verdict(
    resolved: ResolvedModel,
    *,
    run: bool = True,
    force: bool = False,
    status: Any = None,
) -> Verdict | None:
    """The calibration verdict for `resolved` on this machine: from the cache, else measured
    now (when `run`). Returns None when there is nothing to choose between."""
    cpu, versions = cpu_info(), engine_versions()
    revision = content_revision(resolved)
    key = key_for(resolved, revision, cpu, versions)
    path = calibration_dir() / f"{key}.json"
    if not force and path.exists():
        try:
            return Verdict.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            pass  # unreadable: measure again
    if not run:
        return None
    trials = candidates(resolved)
    if not trials:
        return None
    from ..loading import _build_lock

    path.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(path):
        if not force and path.exists():  # another process measured while we waited
            return Verdict.from_dict(json.loads(path.read_text()))
        result = measure(resolved, trials, revision=revision, status=status)
        result.cpu, result.versions, result.key = cpu, versions, key
        from ..._util import atomic_write

        atomic_write(path, json.dumps(result.to_dict(), indent=1))
    return result
