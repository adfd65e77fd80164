"""`pretrained logs`: the run log (what ran, on which model@revision, how long, how it ended)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import InvalidOptionError
from . import _options as o
from ._output import out_console, print_json


def logs(
    limit: Annotated[int, typer.Option("--limit", "-l", help="How many recent runs to show.")] = 20,
    json_out: o.Json = False,
) -> None:
    """Show recent runs from the run log (newest first)."""
    from rich.table import Table

    from .. import runlog, settings

    if limit < 1:
        raise InvalidOptionError(f"--limit must be ≥ 1 (got {limit})", hint="e.g. --limit 20")
    rows = runlog.recent(limit)
    if json_out:
        print_json(rows)
        return
    console = out_console()
    if not rows:
        console.print(f"no runs logged yet in {settings.runs_db()}", markup=False)
        return
    table = Table(title=f"runs ({settings.runs_db()})", title_justify="left")
    for column in (
        "id",
        "started (UTC)",
        "command",
        "model",
        "revision",
        "tokens",
        "seconds",
        "device",
        "status",
    ):
        table.add_column(column)
    for r in rows:
        tokens = (
            "-"
            if r["prompt_tokens"] is None and r["completion_tokens"] is None
            else f"{r['prompt_tokens'] or 0}+{r['completion_tokens'] or 0}"
        )
        rev = r["revision"] or "-"
        status = (
            r["status"]
            if r["status"] == "ok"
            else f"[red]{r['status']}[/] {r['error_class'] or ''}"
        )
        table.add_row(
            str(r["id"]),
            r["started_at"].replace("+00:00", ""),
            r["command"],
            r["model"] or "-",
            rev[:19],
            tokens,
            f"{r['duration_s']:.2f}",
            r["device"] or "-",
            status,
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
