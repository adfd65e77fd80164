"""`pretrained init`: scaffold an MLOps starter project (Makefile, CI, devcontainer, Space sync)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _options as o
from ._output import info, print_json


def init(
    folder: Annotated[Path, typer.Argument(help="Folder to create (or fill, with --force).")],
    space: Annotated[
        str | None,
        typer.Option(
            "--space", help="The Hugging Face Space user/name the sync workflow pushes to."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder.")] = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Create a starter project: example app, tests, Makefile, devcontainer, CI, Space sync."""
    from ..ship.scaffold import init_project

    result = init_project(folder, space=space, force=force)
    if json_out:
        print_json(result.to_dict())
        return
    info(f"created {result.name} in {result.path} ({len(result.files)} files)", quiet=quiet)
    info(f"next: cd {result.path} && make test   (Space sync target: {result.space})", quiet=quiet)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
