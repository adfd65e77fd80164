"""`pretrained push`: upload a fine-tuning run to the Hugging Face Hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _options as o
from ._output import info, print_json


def push(
    run_dir: Annotated[
        Path, typer.Argument(help="A run folder made by 'pretrained finetune' (runs/<name>).")
    ],
    repo: Annotated[
        str, typer.Option("--repo", help="Hub repository: user/name (or name, under your account).")
    ],
    private: Annotated[
        bool, typer.Option("--private", help="Create the repository as private.")
    ] = False,
    merged: Annotated[
        bool,
        typer.Option(
            "--merged",
            help="Upload base + adapter merged (merges first if needed) instead of the adapter.",
        ),
    ] = False,
    message: Annotated[str | None, typer.Option("--message", "-m", help="Commit message.")] = None,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Upload a run's adapter (or merged / fully fine-tuned model) with its model card.
    Needs a write token (HF_TOKEN or 'hf auth login'); it is checked before any upload."""
    from ..ship.push import push as run_push

    result = run_push(run_dir, repo, private=private, merged=merged, message=message)
    if json_out:
        print_json(result.to_dict())
        return
    info(
        f"uploaded {len(result.files)} files ({result.variant}) in commit {str(result.commit)[:12]}",
        quiet=quiet,
    )
    typer.echo(result.url)


def register(app: typer.Typer) -> None:
    app.command("push")(push)
