"""Rows of a JSONL file: one JSON object per line, a text field read from each."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import InvalidOptionError, UnreadableInputError


def jsonl_rows(lines: Iterable[str], name: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for every non-blank line; bad JSON is a one-line error."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise UnreadableInputError(
                f"{name} line {number} is not valid JSON ({exc.msg})",
                hint="write one JSON object per line",
            ) from exc


def text_field(row: Any, field: str, name: str, number: int, hint: str) -> str:
    """row[field] as text, or an error naming the fields the row does have."""
    if not isinstance(row, dict) or not isinstance(row.get(field), str):
        keys = ", ".join(row) if isinstance(row, dict) else type(row).__name__
        raise InvalidOptionError(
            f"{name} line {number} has no text field '{field}' (found: {keys})", hint=hint
        )
    return row[field]
