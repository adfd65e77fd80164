"""Environment and paths. Read at call time, so tests can point them elsewhere.

PRETRAINED_HOME     root of everything this tool writes (default ~/.cache/pretrained)
PRETRAINED_CACHE    converted-model cache (default $PRETRAINED_HOME/cache)
PRETRAINED_DEBUG=1  show tracebacks instead of one-line errors
HF_HUB_OFFLINE=1    never touch the network (huggingface_hub's own switch)
HF_TOKEN            token for gated/private models and uploads (or `hf auth login`)
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def home() -> Path:
    root = os.environ.get("PRETRAINED_HOME") or str(Path.home() / ".cache" / "pretrained")
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Where converted models live (GGUF → safetensors, fast-engine conversions …)."""
    root = os.environ.get("PRETRAINED_CACHE")
    path = Path(root).expanduser() if root else home() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_db() -> Path:
    return home() / "runs.sqlite"


def debug() -> bool:
    return _flag("PRETRAINED_DEBUG")


def offline() -> bool:
    """True when the user asked for no network (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    return _flag("HF_HUB_OFFLINE") or _flag("TRANSFORMERS_OFFLINE")


def hf_token() -> str | None:
    """The Hugging Face token from HF_TOKEN or the stored login. Never print or log it."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token
    try:
        from huggingface_hub import get_token
    except ImportError:  # pragma: no cover - huggingface_hub is a core dependency
        return None
    return get_token()


def hf_endpoint() -> str:
    """The Hub address (HF_ENDPOINT, read at call time so tests can point at a local fake Hub)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hf_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)
