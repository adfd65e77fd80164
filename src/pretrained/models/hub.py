"""Hugging Face Hub access: file listings, safe snapshot downloads, error translation.

Every Hub exception becomes a `PretrainedError` with a hint; the token (HF_TOKEN or the
stored login) is passed to huggingface_hub and never printed.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import settings
from ..errors import (
    GatedModelError,
    ModelNotCachedError,
    ModelNotFoundError,
    NetworkError,
    PickleRefusedError,
)
from .registry import ModelFormat

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# Files every transformers-style load may need, besides the weights.
META_PATTERNS = [
    "*.json",
    "*.txt",
    "*.model",
    "*.tiktoken",
    "*.py",
    "*.md",
    "*.jinja",
    "tokenizer*",
    "vocab*",
    "merges*",
    "spiece*",
    "*/*.json",
]


def is_pickle(name: str, fmt: str = ModelFormat.TRANSFORMERS) -> bool:
    """A weights file that unpickles on load. CTranslate2's model.bin is not pickle."""
    if fmt == ModelFormat.CTRANSLATE2 and Path(name).name == "model.bin":
        return False
    return name.endswith(PICKLE_SUFFIXES) and not name.endswith("training_args.bin")


def weight_files(names: list[str]) -> dict[str, list[str]]:
    """Split file names into safetensors / pickle / gguf weights."""
    return {
        "safetensors": [n for n in names if n.endswith(".safetensors")],
        "pickle": [n for n in names if is_pickle(n)],
        "gguf": [n for n in names if n.endswith(".gguf")],
    }


@contextlib.contextmanager
def hub_errors(repo_id: str, revision: str | None = None) -> Iterator[None]:
    """Translate huggingface_hub / network exceptions into our error tree."""
    from huggingface_hub import errors as hf

    rev = f" at revision '{revision}'" if revision else ""
    try:
        yield
    except hf.GatedRepoError as exc:
        has_token = bool(settings.hf_token())
        raise GatedModelError(
            f"'{repo_id}' is gated: "
            + ("your token has no access to it" if has_token else "it needs a Hugging Face token"),
            hint=(
                f"accept the licence at https://huggingface.co/{repo_id}, then "
                + ("retry" if has_token else "run 'hf auth login' (or set HF_TOKEN)")
            ),
        ) from exc
    except hf.RevisionNotFoundError as exc:
        raise ModelNotFoundError(
            f"'{repo_id}' has no revision '{revision}'",
            hint=f"see the branches, tags and commits at https://huggingface.co/{repo_id}/commits/main",
        ) from exc
    except hf.RepositoryNotFoundError as exc:
        has_token = bool(settings.hf_token())
        raise ModelNotFoundError(
            f"model '{repo_id}' was not found on the Hugging Face Hub",
            hint="check the spelling"
            + (
                ""
                if has_token
                else "; if it is private, log in with 'hf auth login' (or set HF_TOKEN)"
            ),
        ) from exc
    except (hf.LocalEntryNotFoundError, hf.OfflineModeIsEnabled) as exc:
        raise ModelNotCachedError(
            f"model '{repo_id}'{rev} is not in the local cache and the Hub cannot be reached"
            + (" (HF_HUB_OFFLINE=1)" if settings.offline() else "")
        ) from exc
    except hf.EntryNotFoundError as exc:
        raise ModelNotFoundError(f"a file is missing in '{repo_id}'{rev}: {exc}") from exc
    except hf.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise GatedModelError(f"the Hub refused access to '{repo_id}' (HTTP {status})") from exc
        raise NetworkError(
            f"the Hugging Face Hub answered an error for '{repo_id}': HTTP {status}"
        ) from exc
    except (
        OSError
    ) as exc:  # connection refused, DNS failure, timeouts (httpx errors are OSErrors too)
        if type(exc).__module__.startswith(
            ("httpx", "requests", "urllib3", "socket")
        ) or isinstance(exc, (ConnectionError, TimeoutError)):
            raise NetworkError(
                f"could not reach the Hugging Face Hub for '{repo_id}': {exc}"
            ) from exc
        raise


def api():
    """An HfApi bound to the configured endpoint and token (the token is never printed)."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=settings.hf_endpoint(), token=settings.hf_token())


def snapshot(
    repo_id: str,
    revision: str | None,
    allow_patterns: list[str] | None = None,
    *,
    local_only: bool | None = None,
    repo_type: str = "model",
) -> Path:
    """snapshot_download with our endpoint, token, offline switch and error translation."""
    from huggingface_hub import snapshot_download

    with hub_errors(repo_id, revision):
        return Path(
            snapshot_download(
                repo_id,
                repo_type=repo_type,
                revision=revision,
                allow_patterns=allow_patterns,
                endpoint=settings.hf_endpoint(),
                token=settings.hf_token(),
                local_files_only=settings.offline() if local_only is None else local_only,
            )
        )


@dataclass
class Snapshot:
    path: Path
    sha: str | None
    files: list[str]


def _cached_snapshot(repo_id: str, revision: str | None) -> Snapshot:
    folder = snapshot(repo_id, revision, local_only=True)
    files = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
    return Snapshot(folder, folder.name, files)


def list_files(
    repo_id: str, revision: str | None = None
) -> tuple[list[str], str | None, dict[str, int]]:
    """(file names, resolved commit sha, sizes) from the Hub, or from the cache when offline."""
    if settings.offline():
        snap = _cached_snapshot(repo_id, revision)
        sizes = {f: (snap.path / f).stat().st_size for f in snap.files}
        return snap.files, snap.sha, sizes
    with hub_errors(repo_id, revision):
        try:
            info = api().model_info(repo_id, revision=revision, files_metadata=True)
        except Exception as exc:
            # No network but maybe cached: fall back like transformers does.
            if _is_connection_error(exc):
                snap = _cached_snapshot(repo_id, revision)
                return snap.files, snap.sha, {f: (snap.path / f).stat().st_size for f in snap.files}
            raise
    files = [s.rfilename for s in info.siblings or []]
    sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
    return files, info.sha, sizes


def _is_connection_error(exc: BaseException) -> bool:
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    return bool(
        names & {"ConnectError", "ConnectionError", "ConnectTimeout", "TimeoutError", "ReadTimeout"}
    )


def download(
    repo_id: str,
    revision: str | None = None,
    *,
    fmt: str = ModelFormat.TRANSFORMERS,
    trust_pickle: bool = False,
    gguf_file: str | None = None,
    subfolder_patterns: list[str] | None = None,
) -> Snapshot:
    """Download what a load needs — safetensors weights unless pickle is explicitly trusted."""
    files, sha, _ = list_files(repo_id, revision)
    weights = weight_files(files)
    patterns = list(META_PATTERNS) + list(subfolder_patterns or [])
    if fmt == ModelFormat.CTRANSLATE2:
        patterns += ["model.bin", "*.bin"]
    elif gguf_file or (weights["gguf"] and not weights["safetensors"] and not weights["pickle"]):
        target = gguf_file or sorted(weights["gguf"])[0]
        if target not in files:
            raise ModelNotFoundError(
                f"'{repo_id}' has no file '{target}'",
                hint=f"files: {', '.join(weights['gguf'][:8])}",
            )
        patterns.append(target)
    elif weights["safetensors"]:
        patterns += ["*.safetensors", "*.safetensors.index.json"]
    elif weights["pickle"]:
        if not trust_pickle:
            raise PickleRefusedError(
                f"'{repo_id}' only has pickle weights ({', '.join(weights['pickle'][:3])}), which are refused by default"
            )
        patterns += [f"*{suffix}" for suffix in PICKLE_SUFFIXES]
    patterns = [
        p
        for p in patterns
        if not (p.endswith(".bin") and fmt != ModelFormat.CTRANSLATE2 and not trust_pickle)
    ]
    # The requested revision (not the sha) so the cache records the branch → commit ref and
    # the same name works offline later.
    folder = snapshot(repo_id, revision, patterns)
    local = [f for f in files if any(fnmatch.fnmatch(f, p) for p in patterns)]
    return Snapshot(folder, sha or folder.name, local)


_SHARD = re.compile(r"-\d{5}-of-\d{5}$")


def weight_variant(name: str) -> str | None:
    """'unet/diffusion_pytorch_model.fp16.safetensors' → 'fp16'; plain weights → None."""
    base = Path(name).name
    for suffix in (".safetensors", *PICKLE_SUFFIXES):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    base = _SHARD.sub("", base)
    return base.rsplit(".", 1)[1] if "." in base else None


def download_diffusers(
    repo_id: str,
    revision: str | None = None,
    *,
    variant: str | None = None,
    trust_pickle: bool = False,
) -> tuple[Snapshot, str | None]:
    """Download a diffusers pipeline: model_index.json and, per component folder, its configs,
    tokenizer files and one set of weights — the `variant` (e.g. fp16) when every component has
    it, else the plain (full-precision) weights. Single-file checkpoints at the repo root (often
    several GB) are skipped. Pickle weights only with trust_pickle.
    Returns (snapshot, the variant actually used)."""
    from ..errors import UnsupportedModelError

    files, sha, _ = list_files(repo_id, revision)
    if "model_index.json" not in files:
        raise UnsupportedModelError(
            f"'{repo_id}' is not a diffusers pipeline (it has no model_index.json)",
            hint="pick a text-to-image pipeline, e.g. --model stabilityai/sd-turbo",
        )
    components = sorted({f.split("/")[0] for f in files if f.count("/") == 1})
    kinds = ["safetensors", "pickle"] if trust_pickle else ["safetensors"]
    weights = {}
    for c in components:
        found = weight_files([f for f in files if f.startswith(f"{c}/")])
        if found["safetensors"] or found["pickle"]:
            weights[c] = found
    for c, found in weights.items():
        if not any(found[k] for k in kinds):
            raise PickleRefusedError(
                f"'{repo_id}' has only pickle weights for its '{c}' component "
                f"({found['pickle'][0]}), which are refused by default"
            )

    def covered(candidate: str | None) -> bool:
        return all(
            any(weight_variant(n) == candidate for k in kinds for n in found[k])
            for found in weights.values()
        )

    if not covered(variant):
        options = [None] + sorted(
            {weight_variant(n) for f in weights.values() for n in f["safetensors"]} - {None}
        )
        usable = [v for v in options if covered(v)]
        if not usable:
            raise UnsupportedModelError(
                f"'{repo_id}' has no set of weights that covers every pipeline component",
                hint="pass --trust-pickle if its components only have .bin weights, or pick another model",
            )
        variant = usable[0]
    patterns = ["model_index.json"]
    for c in components:
        patterns += [f"{c}/*.json", f"{c}/*.txt", f"{c}/*.model"]
        found = weights.get(c)
        if found:
            kind = next(k for k in kinds if any(weight_variant(n) == variant for n in found[k]))
            patterns += [n for n in found[kind] if weight_variant(n) == variant]
    folder = snapshot(repo_id, revision, patterns)
    local = [f for f in files if any(fnmatch.fnmatch(f, p) for p in patterns)]
    return Snapshot(folder, sha or folder.name, local), variant
