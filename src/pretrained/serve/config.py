"""What a server serves and how hard it protects itself: one dataclass, shared by the app
factory, the CLI and the worker processes (which receive it as JSON in an environment variable,
with the API keys replaced by their SHA-256 digests).

Task names are the server's vocabulary: `generate` (/v1/completions), `chat`, `tokenize`,
`summarize`, `embed` (/v1/embeddings), `classify`, `transcribe` (/v1/audio/transcriptions).
A task is available when its task module exists in this install (capabilities land one by one).
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import InvalidOptionError

CONFIG_ENV = "PRETRAINED_SERVE_CONFIG"  # how `--workers N` hands the config to each worker
API_KEY_ENV = "PRETRAINED_API_KEY"

# server task → (task module that must exist, registry task used for the default model)
TASKS: dict[str, tuple[str, str]] = {
    "generate": ("pretrained.tasks.generate", "text-generation"),
    "chat": ("pretrained.tasks.chat", "chat"),
    "tokenize": ("pretrained.tasks.tokenize", "text-generation"),
    "summarize": ("pretrained.tasks.summarize", "summarize"),
    "embed": ("pretrained.tasks.embed", "embedding"),
    "classify": ("pretrained.tasks.classify", "classify"),
    "transcribe": ("pretrained.tasks.transcribe", "speech-recognition"),
    "rerank": ("pretrained.tasks.rerank", "rerank"),
}
# tasks that share one text-generation model unless told otherwise
TEXT_TASKS = ("generate", "chat", "tokenize", "summarize")
TEXT_MODEL = "text"  # key of the plain `--model M` in ServeConfig.models
MiB = 1024 * 1024


def available_tasks() -> list[str]:
    """Server tasks whose task module is installed, in a stable order."""
    out = []
    for name, (module, _) in TASKS.items():
        try:
            if importlib.util.find_spec(module) is not None:
                out.append(name)
        except ImportError:  # pragma: no cover - a broken parent package
            continue
    return out


@dataclass(frozen=True)
class ServeConfig:
    tasks: tuple[str, ...] = ()  # empty → every available task
    models: dict[str, str] = field(default_factory=dict)  # task (or "text") → model
    adapters: dict[str, str] = field(default_factory=dict)  # LoRA name → source (adapters.py)
    load_options: dict[str, Any] = field(default_factory=dict)  # device, dtype, revision …
    api_keys: tuple[str, ...] = ()  # empty → no auth (only sensible on 127.0.0.1)
    api_key_digests: tuple[str, ...] = ()  # SHA-256 of more keys (how workers receive them)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    preload: bool = False
    max_body_bytes: int = 2 * MiB  # JSON bodies
    max_upload_bytes: int = 25 * MiB  # multipart uploads (audio, documents)
    max_concurrency: int = 16  # inference requests running at once
    max_queue: int = 64  # waiting for a slot; beyond that → 429
    timeout_s: float = 300.0  # per request, queue wait included → 504
    read_timeout_s: float = 30.0  # to receive a request body, before it may take a slot → 408
    max_auth_failures: int = 10  # wrong keys / logins per client per minute, then 429
    max_new_tokens: int = 2048  # the most a request may ask for
    cors_origins: tuple[str, ...] = ()
    allow_private_urls: bool = False
    micro_batch: bool = True
    batch_max_size: int = 64
    batch_wait_ms: float = 5.0
    ui: bool = True
    graceful_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        known = available_tasks()
        for task in self.tasks:
            if task not in TASKS:
                raise InvalidOptionError(
                    f"--task {task!r} is not a server task",
                    hint=f"use one or more of: {', '.join(TASKS)}",
                )
            if task not in known:
                raise InvalidOptionError(
                    f"--task {task!r} is not installed in this version",
                    hint=f"available here: {', '.join(known)}",
                )
        for task in self.models:
            if task not in TASKS and task != TEXT_MODEL:
                raise InvalidOptionError(
                    f"--model {task}=… names an unknown task",
                    hint=f"use TASK=MODEL with TASK one of: {', '.join(TASKS)}",
                )
        for name in (
            "max_body_bytes",
            "max_upload_bytes",
            "max_concurrency",
            "workers",
            "max_auth_failures",
        ):
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise InvalidOptionError(f"{flag} must be at least 1", hint=f"e.g. {flag} 4")
        if self.max_queue < 0:
            raise InvalidOptionError("--max-queue must be ≥ 0", hint="e.g. --max-queue 64")
        if self.timeout_s <= 0:
            raise InvalidOptionError("--timeout must be > 0 seconds", hint="e.g. --timeout 120")
        if self.read_timeout_s <= 0:
            raise InvalidOptionError(
                "--read-timeout must be > 0 seconds", hint="e.g. --read-timeout 30"
            )
        if not 1 <= self.port <= 65535 and self.port != 0:
            raise InvalidOptionError(f"--port {self.port} is not a port", hint="e.g. --port 8000")

    @property
    def enabled(self) -> list[str]:
        return list(self.tasks) if self.tasks else available_tasks()

    def model_for(self, task: str) -> str | None:
        """The model a task uses: its own --model TASK=M, else the text model for text tasks."""
        if task in self.models:
            return self.models[task]
        if task in TEXT_TASKS:
            return self.models.get(TEXT_MODEL)
        return None

    @property
    def key_digests(self) -> tuple[str, ...]:
        """SHA-256 digests of every accepted API key (empty: no auth)."""
        from .auth import digest

        return tuple(digest(k) for k in self.api_keys) + tuple(self.api_key_digests)

    def to_env(self) -> str:
        """JSON for the worker processes: the keys travel as digests only."""
        data = asdict(self)
        data["api_keys"] = []
        data["api_key_digests"] = list(self.key_digests)
        return json.dumps(data)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServeConfig:
        raw = (environ or os.environ).get(CONFIG_ENV)
        if not raw:
            return cls()
        data = json.loads(raw)
        for name in ("tasks", "api_keys", "api_key_digests", "cors_origins"):
            data[name] = tuple(data.get(name) or ())
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def parse_models(values: list[str] | None) -> dict[str, str]:
    """`--model M` (the text model) and `--model TASK=M` → {task: model}."""
    out: dict[str, str] = {}
    for value in values or []:
        task, sep, model = value.partition("=")
        if sep and task in TASKS:
            if not model.strip():
                raise InvalidOptionError(
                    f"--model {value!r} has no model", hint="e.g. embed=minilm-l6"
                )
            out[task] = model.strip()
        elif sep and "/" not in task and not task.startswith((".", "~")):
            raise InvalidOptionError(
                f"--model {value!r}: {task!r} is not a server task",
                hint=f"use TASK=MODEL with TASK one of: {', '.join(TASKS)}",
            )
        else:
            out[TEXT_MODEL] = value.strip()
    return out
