"""One server: an OpenAI-compatible API (/v1), health/ready/metrics and a Gradio UI (/), over the
same task functions as the CLI. `create_app(ServeConfig(...))` builds it; `serve()` runs it."""

from __future__ import annotations

from .config import ServeConfig


def create_app(config: ServeConfig | None = None, **kwargs):
    from .app import create_app as _create_app

    return _create_app(config, **kwargs)


def serve(config: ServeConfig) -> None:
    from .app import serve as _serve

    _serve(config)


__all__ = ["ServeConfig", "create_app", "serve"]
