"""Output helpers shared by every command: results on stdout, everything else on stderr."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from .._util import human_bytes, human_count  # noqa: F401 - re-exported for the commands


def err_console():
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def out_console():
    from rich.console import Console

    # Piped output is read by people in logs and CI too: do not squeeze tables into 80 columns.
    width = None if sys.stdout.isatty() else 160
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, width=width)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def print_json(data: Any, *, compact: bool = False) -> None:
    text = json.dumps(data, ensure_ascii=False, default=str, indent=None if compact else 2)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def info(message: str, *, quiet: bool = False) -> None:
    """A dim status line on stderr (model used, knobs, timings)."""
    if not quiet:
        from rich.markup import escape

        from ..redact import redact

        # escape: "[default for this task]" and other brackets are text, not rich markup
        err_console().print(f"[dim]{escape(redact(message))}[/dim]", markup=True)


def note(message: str, *, quiet: bool = False) -> None:
    if not quiet:
        from ..redact import redact

        err_console().print(redact(message), markup=False)


def print_error(message: str, hint: str | None) -> None:
    from ..redact import redact

    # Plain writes, not rich: errors must stay one line each, whatever the terminal width;
    # URLs lose their userinfo and credential query values (a message may quote the input)
    first = redact(" ".join(str(message).split()))
    sys.stderr.write(f"error: {first}\n")
    if hint:
        sys.stderr.write(f"hint: {redact(' '.join(str(hint).split()))}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def spinner(message: str, *, quiet: bool = False) -> Iterator[None]:
    """A spinner on stderr while something slow runs (only on a terminal)."""
    if quiet or not sys.stderr.isatty():
        yield
        return
    with err_console().status(message):
        yield


@contextlib.contextmanager
def progress(total: int, description: str, *, quiet: bool = False) -> Iterator[Any]:
    """A progress bar on stderr; yields advance(n). Off when not a terminal or with --quiet."""
    if quiet or not sys.stderr.isatty() or total <= 1:
        yield lambda n=1: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def calibration_table(rows: list[dict], title: str):
    """The engine calibration rows (models/calibrate.py Verdict.table) as a rich table."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    columns = (
        "model",
        "engine",
        "decode tok/s",
        "prefill tok/s",
        "agreement",
        "path margin",
        "canary",
    )
    for column in (*columns, ""):
        table.add_column(column)

    def share(value) -> str:
        return f"{value:.0%}" if value is not None else "-"

    for row in rows:
        table.add_row(
            row["model"],
            row["engine"],
            f"{row['decode_tok_s']:.1f}" if row["decode_tok_s"] else "-",
            f"{row['prefill_tok_s']:.0f}" if row["prefill_tok_s"] else "-",
            share(row["agreement"]),
            f"{row['path_margin']:.2f}" if row.get("path_margin") is not None else "-",
            row["canary"],
            ", ".join(
                (["[green]chosen[/]"] if row["chosen"] else [])
                + [f"[green]{task}[/]" for task in row.get("chosen_for", [])]
            ),
        )
    return table
