"""`pretrained serve`: the web UI and the OpenAI-compatible API in one process."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from . import _options as o
from ._output import info, note

LIMITS = "Limits"


def serve(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="The text model (alias, Hub id, path), or TASK=MODEL for one task "
            "(e.g. embed=minilm-l6). Repeatable. Default: each task's embedded model.",
            rich_help_panel=o.MODEL_PANEL,
        ),
    ] = None,
    adapter: Annotated[
        list[str] | None,
        typer.Option(
            "--adapter",
            help="NAME=SOURCE: a LoRA adapter (folder, run folder or Hub id) on the text model, "
            "served as model 'BASE:NAME'. Repeatable.",
            rich_help_panel=o.MODEL_PANEL,
        ),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task",
            help="Serve only these tasks (repeatable): generate, chat, tokenize, summarize, "
            "embed, classify, transcribe. Default: every task installed.",
        ),
    ] = None,
    preload: Annotated[
        bool, typer.Option("--preload", help="Load the models at start (/ready says when done).")
    ] = False,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to bind.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", help="Worker processes (each loads its own models).")
    ] = 1,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="PRETRAINED_API_KEY",
            show_envvar=True,
            help="Require 'Authorization: Bearer KEY' on /v1 (and the key as the UI password).",
        ),
    ] = None,
    cors: Annotated[
        list[str] | None,
        typer.Option(
            "--cors", help="Allow browser calls from this origin (repeatable). Off by default."
        ),
    ] = None,
    allow_private_urls: Annotated[
        bool,
        typer.Option(
            "--allow-private-urls",
            help="Let URL inputs reach loopback/private/link-local addresses (off: no SSRF).",
        ),
    ] = False,
    max_concurrency: Annotated[
        int,
        typer.Option(
            "--max-concurrency", help="Inference requests at once.", rich_help_panel=LIMITS
        ),
    ] = 16,
    max_queue: Annotated[
        int,
        typer.Option(
            "--max-queue", help="Requests waiting for a slot; more get 429.", rich_help_panel=LIMITS
        ),
    ] = 64,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds per request (→ 504).", rich_help_panel=LIMITS),
    ] = 300.0,
    read_timeout: Annotated[
        float,
        typer.Option(
            "--read-timeout",
            help="Seconds to receive a request body (→ 408).",
            rich_help_panel=LIMITS,
        ),
    ] = 30.0,
    max_body_mb: Annotated[
        float,
        typer.Option("--max-body-mb", help="Largest JSON body (→ 413).", rich_help_panel=LIMITS),
    ] = 2.0,
    max_upload_mb: Annotated[
        float,
        typer.Option(
            "--max-upload-mb", help="Largest file upload (→ 413).", rich_help_panel=LIMITS
        ),
    ] = 25.0,
    max_new_tokens: Annotated[
        int,
        typer.Option(
            "--max-new-tokens", help="Most tokens a request may ask for.", rich_help_panel=LIMITS
        ),
    ] = 2048,
    micro_batch: Annotated[
        bool,
        typer.Option(
            "--micro-batch/--no-micro-batch",
            help="Share one forward pass between embedding/classify requests arriving together.",
            rich_help_panel=LIMITS,
        ),
    ] = True,
    batch_wait_ms: Annotated[
        float,
        typer.Option(
            "--batch-wait-ms", help="How long a batch waits for company.", rich_help_panel=LIMITS
        ),
    ] = 5.0,
    ui: Annotated[bool, typer.Option("--ui/--no-ui", help="Mount the web UI at /.")] = True,
    revision: o.Revision = None,
    device: o.Device = None,
    dtype: o.Dtype = None,
    quantize: o.Quantize = None,
    engine: o.Engine = "auto",
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
) -> None:
    """Serve a web UI (/) and an OpenAI-compatible API (/v1) from one process."""
    from ..serve import ServeConfig
    from ..serve import serve as run_server
    from ..serve.adapters import parse_adapters
    from ..serve.config import MiB, parse_models

    load = o.load_params(dict(locals()))
    load.pop("model")  # --model here is task=model pairs, not a load option
    config = ServeConfig(
        tasks=tuple(task or ()),
        models=parse_models(model),
        adapters=parse_adapters(adapter),
        load_options={k: v for k, v in load.items() if v not in (None, False)},
        api_keys=(api_key,) if api_key else (),
        host=host,
        port=port,
        workers=workers,
        preload=preload,
        max_body_bytes=int(max_body_mb * MiB),
        max_upload_bytes=int(max_upload_mb * MiB),
        max_concurrency=max_concurrency,
        max_queue=max_queue,
        timeout_s=timeout,
        read_timeout_s=read_timeout,
        max_new_tokens=max_new_tokens,
        cors_origins=tuple(cors or ()),
        allow_private_urls=allow_private_urls,
        micro_batch=micro_batch,
        batch_wait_ms=batch_wait_ms,
        ui=ui,
    )
    from ..serve.pool import ModelPool

    pool = ModelPool(config)  # resolves every model name now: a typo fails before binding
    shown = "[::1]" if host == "::1" else host
    info(
        "serving "
        + ", ".join(f"{m['id']} ({', '.join(m['tasks'])})" for m in pool.models())
        + f" on http://{shown}:{port}"
    )
    info(
        f"UI at / · API at /v1 · MCP at /mcp · docs at /docs · API key {'required' if api_key else 'off'}"
        f" · {max_concurrency} at once, queue {max_queue}, timeout {timeout:g}s"
        + (" · preloading" if preload else " · models load on first use")
    )
    if not api_key and not _loopback(host):
        note(
            f"warning: {host} is reachable from other machines and no API key is set; "
            "pass --api-key (or set PRETRAINED_API_KEY)"
        )
    run_server(config)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
