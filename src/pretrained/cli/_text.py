"""Text arguments shared by the media commands: literal text, '-' for stdin, or --file."""

from __future__ import annotations

from pathlib import Path

from ..errors import EmptyInputError, UsageError


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
