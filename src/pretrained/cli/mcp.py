"""`pretrained mcp`: the tasks as MCP tools over stdio, for desktop MCP clients (docs/mcp.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from . import _options as o


def mcp(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="The text model (generate, chat, summarize, tokenize), or TASK=MODEL "
            "(embed=…, classify=…, transcribe=…, rerank=…). Repeatable.",
            show_default=False,
        ),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option("--task", help="Serve only these tasks (repeatable; default: all)."),
    ] = None,
    revision: o.Revision = None,
    device: o.Device = None,
    trust_pickle: o.TrustPickle = False,
) -> None:
    """Serve the tasks as MCP tools on stdin/stdout (models load on first use, once)."""
    from ..models.loading import check_device
    from ..serve.config import ServeConfig, parse_models
    from ..serve.mcp import serve_stdio
    from ..serve.pool import ModelPool

    load = {"revision": revision, "device": check_device(device) if device else None}
    load["trust_pickle"] = trust_pickle
    config = ServeConfig(
        tasks=tuple(task or ()),
        models=parse_models(model),
        load_options={k: v for k, v in load.items() if v not in (None, False)},
        ui=False,
    )
    pool = ModelPool(config)  # every model name resolves now: a typo fails before serving
    serve_stdio(pool)


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)
