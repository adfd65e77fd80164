"""What a batch job takes from each input row (the column, the id) and the record it reads:
the parts of `records` every source shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidOptionError

TEXT_COLUMNS = ("text", "content", "prompt", "sentence", "review", "body", "article", "document")
AUDIO_COLUMNS = ("audio", "path", "file", "filename")


@dataclass
class Record:
    index: int  # position in the input (0-based): what resume and chunking count by
    id: Any  # written to the output: the --id-column value, the file path/key, or the index
    value: Any  # the text (or, for audio tasks, a local path or the object's bytes)
    error: str | None = None  # the row could not be read (bad JSON, binary file …)


@dataclass
class RecordSpec:
    """What to take from each row."""

    column: str | None = None  # the text column / JSON field (dotted path for nested JSON)
    id_column: str | None = None
    kind: str = "text"  # text | audio
    split: str | None = None  # dataset split


def dig(item: Any, path: str) -> Any:
    """item['a']['b'] for path 'a.b' (a key containing dots wins over the nested lookup)."""
    if isinstance(item, dict) and path in item:
        return item[path]
    for part in path.split("."):
        if not isinstance(item, dict) or part not in item:
            return None
        item = item[part]
    return item


def choose_column(columns: list[str], spec: RecordSpec, where: str) -> str:
    if spec.column:
        head = spec.column.split(".")[0]
        if spec.column not in columns and head not in columns:
            raise InvalidOptionError(
                f"{where} has no column '{spec.column}' (columns: {', '.join(columns) or 'none'})",
                hint="pick one with --column NAME",
            )
        return spec.column
    wanted = AUDIO_COLUMNS if spec.kind == "audio" else TEXT_COLUMNS
    for name in wanted:
        if name in columns:
            return name
    if len(columns) == 1:
        return columns[0]
    raise InvalidOptionError(
        f"{where} has several columns and none is called {' or '.join(repr(w) for w in wanted[:2])}"
        f" (columns: {', '.join(columns[:12])})",
        hint="pick the input column with --column NAME",
    )


def check_id_column(columns: list[str], spec: RecordSpec, where: str) -> None:
    if spec.id_column and spec.id_column not in columns:
        raise InvalidOptionError(
            f"{where} has no column '{spec.id_column}' for --id-column",
            hint=f"columns: {', '.join(columns[:12])}",
        )


def file_fingerprint(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
