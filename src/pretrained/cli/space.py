"""`pretrained space`: export a task as a self-contained Hugging Face Space, optionally push it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _options as o
from ._output import info, print_json


def space(
    task: Annotated[str, typer.Argument(help="summarize, chat, generate, classify or transcribe.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the Space into.")
    ] = Path("space"),
    model: o.Model = None,
    revision: o.Revision = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Space title (README front matter).")
    ] = None,
    push: Annotated[
        str | None,
        typer.Option(
            "--push", help="Create or update the Space user/name on the Hub (needs a write token)."
        ),
    ] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the Space private.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty --out folder.")
    ] = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Export TASK as a Hugging Face Space (app.py, requirements.txt, README.md); --push uploads it."""
    from ..ship.space import export_space, push_space

    result = export_space(task, model, out, title=title, revision=revision, force=force)
    quiet = quiet or json_out
    info(f"wrote {', '.join(result.files)} to {result.path} (model {result.model})", quiet=quiet)
    if push:
        result.url, result.commit = push_space(result.path, push, private=private)
        info(f"pushed to {result.url} (commit {result.commit[:12]})", quiet=quiet)
    if json_out:
        print_json(result.to_dict())
    elif not quiet:
        info(f"run it: cd {result.path} && pip install -r requirements.txt && python app.py")


def register(app: typer.Typer) -> None:
    app.command("space")(space)
