"""What a verdict is keyed by: the CPU (model, ISA flags, ISA overrides), the engine versions
and the model's content."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

from ..registry import ModelFormat, ModelSource, ResolvedModel

# Bump when the canary, its texts, its thresholds or the timing change: old verdicts are then
# ignored.
CANARY_VERSION = 5

_ISA = re.compile(
    r"^(avx\w*|amx\w*|fma|f16c|sse4_2|vnni\w*|asimd\w*|sve\w*|i8mm|bf16|dotprod|neon)$"
)
# Environment variables that change which kernels the engines run (and so their results):
# oneDNN (CTranslate2's int8 GEMMs, torch), CTranslate2's own, torch's ATen and MKL dispatch.
_ISA_ENV = (
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "CT2_FORCE_CPU_ISA",
    "GGML_CPU_ISA",
    "ATEN_CPU_CAPABILITY",
    "MKL_ENABLE_INSTRUCTIONS",
)


def cpu_info() -> dict[str, Any]:
    """CPU model, the ISA flags that decide which kernels run, and ISA overrides in the env."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and value.strip():
            name = value.strip()
        elif key in ("flags", "features"):
            flags.update(f for f in value.split() if _ISA.match(f))
    if sys.platform == "darwin":  # pragma: no cover - macOS
        import subprocess

        out = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True
        )
        name = out.stdout.strip() or name
    env = {k: os.environ[k] for k in _ISA_ENV if os.environ.get(k)}
    return {
        "model": name,
        "arch": platform.machine(),
        "isa": sorted(flags),
        "threads": _threads(),
        **({"env": env} if env else {}),
    }


def _threads() -> int:
    from ..backends.cpu_threads import cpu_threads

    return cpu_threads()


def engine_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"canary": str(CANARY_VERSION)}
    for dist in ("ctranslate2", "xllamacpp", "transformers", "torch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def content_revision(resolved: ResolvedModel) -> str | None:
    """What the model's weights are, without loading them: the GGUF file's hash, the Hub
    commit, or a hash of a local folder's weights."""
    from ..backends.ctranslate2 import _folder_fingerprint
    from ..loading import file_sha256, gguf_path, prepare

    if resolved.format == ModelFormat.GGUF:
        return f"sha256:{file_sha256(gguf_path(resolved))}"
    if resolved.source == ModelSource.HUB:
        return prepare(resolved, tokenizer_only=True).revision
    if resolved.path is not None and resolved.path.is_dir():
        return _folder_fingerprint(resolved.path)
    return None


def key_for(resolved: ResolvedModel, revision: str | None, cpu: dict, versions: dict) -> str:
    blob = json.dumps([resolved.id, revision, cpu, versions], sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", resolved.alias or resolved.id).strip("-")[-40:]
    return f"{slug}-{digest}"
