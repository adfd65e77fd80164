"""Text inputs shared by commands: literal text/stdin/--file arguments (media commands) and
documents from any source with progress (summarize, classify, embed, similar, ask)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import EmptyInputError, UsageError
from ._output import err_console, info


def text_argument(value: str | None, what: str, example: str, *, file: Path | None = None) -> str:
    """The text of a command: the argument, stdin for '-', or the contents of --file."""
    from ..sources import read_stdin, read_text_file

    if value is not None and file is not None:
        raise UsageError(f"give the {what} or --file, not both", hint=example)
    if file is not None:
        return read_text_file(file)
    if value == "-":
        return read_stdin()
    if value is None:
        raise UsageError(f"no {what} given", hint=example)
    if not value.strip():
        raise EmptyInputError(f"the {what} is empty", hint=example)
    return value


def load_document(source: str | None, text: str | None, *, timeout: float | None = None):
    """SOURCE (path, URL, wiki:Title, '-') or --text → Document, with a status line."""
    from ..errors import UsageError
    from ..sources import from_text, load_text

    if source is not None and text is not None:
        raise UsageError(
            "give a SOURCE or --text, not both", hint="e.g. pretrained summarize notes.md"
        )
    if text is not None:
        return from_text(text, source="--text")
    if source is None:
        if not sys.stdin.isatty():
            source = "-"
        else:
            raise UsageError(
                "no source given",
                hint="pass a file, a URL, wiki:Title, '-' for stdin, or --text \"…\"",
            )
    return load_text(source, timeout=timeout)


def describe_document(document: Any, quiet: bool) -> None:
    words = len(document.text.split())
    title = f"'{document.title}' " if document.title else ""
    info(
        f"source: {title}({document.kind}, {words:,} words, {len(document.text):,} chars)",
        quiet=quiet,
    )


@contextlib.contextmanager
def staged_progress(quiet: bool = False) -> Iterator[Any]:
    """Yields on_progress(stage, done, total): one bar per stage, on a terminal only."""
    if quiet or not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
    ) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
