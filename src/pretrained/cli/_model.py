"""Loading a text model for a command, with a status line saying exactly what was picked."""

from __future__ import annotations

from typing import Any

from ._output import info, spinner


def load_backend(load_opts: dict[str, Any], *, quiet: bool = False, task: str = "text-generation"):
    from ..models import load
    from ..models.registry import resolve

    resolved = resolve(load_opts.get("model"), task=task, revision=load_opts.get("revision"))
    default = "" if load_opts.get("model") else " [default for this task; --model to change]"
    with spinner(f"loading {resolved.label}…", quiet=quiet):
        backend = load(**{**load_opts, "task": task})
    cached = " (cached conversion)" if getattr(backend, "cache_hit", False) else ""
    info(
        f"model: {resolved.label}{default} · engine {backend.engine} · {backend.device} {backend.dtype}"
        + (f" · loaded in {backend.load_seconds:.1f}s{cached}" if backend.load_seconds else ""),
        quiet=quiet,
    )
    return backend


def describe_knobs(described: dict[str, Any]) -> str:
    parts = []
    for key, value in described.items():
        if key == "temperature" and value == 0:
            parts.append("temperature=0 (greedy)")
        elif key == "system":
            parts.append(f"system={value[:40]!r}")
        else:
            parts.append(f"{key}={value}")
    return "knobs: " + " ".join(parts)
