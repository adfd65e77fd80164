"""A batch job whose results go back beside the input's own columns: `pretrained classify
--file reviews.csv` writes every input row again with label, score and scores added, as JSONL
or CSV, on stdout or to a file.

The work is an ordinary batch job (`run_batch`: chunks, manifest, resume) whose state lives
under $PRETRAINED_HOME/jobs/<task>/, one job per (input, output) pair: a run stopped half-way
resumes on the same command; a run with other settings, or over a changed input, starts over.
Once the rows are written back the job's own output is removed; its manifest stays.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

from .. import settings
from ..errors import InputNotFoundError, InvalidOptionError, JobError, ResumeMismatchError
from .batch import BatchOptions, BatchResult, run_batch

WriteFormat = Literal["jsonl", "csv"]
WRITE_FORMATS: tuple[WriteFormat, ...] = ("jsonl", "csv")


def input_format(path: Path) -> str:
    """The records format of a file: a table by its extension, any other file as text lines."""
    from ..sources.records import TABLE_SUFFIXES

    return TABLE_SUFFIXES.get(path.suffix.lower(), "lines")


def work_path(task: str, input: Path, output: Path | None) -> Path:
    """Where the batch job for (input, output) keeps its state and results."""
    key = json.dumps([str(input.resolve()), str(output.resolve()) if output else "-"])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return settings.home() / "jobs" / task / f"{input.name}-{digest}.jsonl"


def run_beside(
    task: str,
    input: Path,
    output: Path | None,
    task_options: dict[str, Any],
    *,
    options: BatchOptions,
    on_status: Callable[[str], None] = lambda message: None,
    **batch: Any,
) -> BatchResult:
    """Run (or resume) the batch job of `task` over the file `input`; `batch` goes to
    run_batch (model, on_progress, load_options)."""
    if not input.exists():
        raise InputNotFoundError(f"file not found: {input}", hint="check the path")
    if not input.is_file():
        raise InvalidOptionError(f"'{input}' is a folder, not a file", hint="pass a file path")
    work = work_path(task, input, output)
    work.parent.mkdir(parents=True, exist_ok=True)
    options = dataclasses.replace(options, input_format=input_format(input))

    def told(message: str) -> None:  # the job's own paths and steps are not the user's
        if message.startswith("resuming"):
            on_status(message)

    def run(options: BatchOptions) -> BatchResult:
        return run_batch(
            task, str(input), work, task_options, options=options, on_status=told, **batch
        )

    try:
        return run(options)
    except ResumeMismatchError:  # other settings or a changed input: the old rows do not apply
        on_status(f"{input.name} or the settings changed since the last run: starting over")
        return run(dataclasses.replace(options, restart=True))


def merged_rows(result: BatchResult, input: Path, column: str | None) -> Iterator[dict[str, Any]]:
    """Each input row with the job's result columns added (floats to 4 decimals), in order;
    `error` only where some row has one."""
    from ..sources.records import RecordSpec, open_records

    spec = RecordSpec(column=column)
    source = open_records(str(input), spec, input_format=input_format(input))
    if source.total != result.rows:
        raise JobError(
            f"{input} has {source.total} rows but its job wrote {result.rows}",
            hint="the file changed while it was read; run the command again",
        )
    with Path(result.output).open(encoding="utf-8") as results:
        for index, (row, line) in enumerate(zip(source.rows(), results, strict=True)):
            out = json.loads(line)
            if out.get("id") != index:  # pragma: no cover - a bug in the job's row order
                raise JobError(f"row {index} came back as {out.get('id')}", hint="report it")
            merged = dict(row)
            merged.update({k: _rounded(v) for k, v in out.items() if k not in ("id", "error")})
            if result.errors:
                merged["error"] = out.get("error")
            yield merged


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def write_rows(
    rows: Iterator[dict[str, Any]], handle: IO[str], fmt: WriteFormat, keys: dict[str, list[str]]
) -> int:
    """Write the rows as JSONL, or as CSV with each dict column `scores` spread over columns
    `score_<key>` (`keys` names each dict column's keys). → rows written."""
    writer: csv.DictWriter | None = None
    count = 0
    for count, row in enumerate(rows, 1):
        if fmt == "jsonl":
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            continue
        flat: dict[str, Any] = {}
        for name, value in row.items():  # a dict column spreads out where it stands
            if name not in keys:
                flat[name] = value
                continue
            prefix, values = name.removesuffix("s"), value or {}
            flat.update({f"{prefix}_{key}": values.get(key) for key in keys[name]})
        if writer is None:
            writer = csv.DictWriter(handle, fieldnames=list(flat))
            writer.writeheader()
        try:
            writer.writerow(flat)
        except ValueError as exc:  # a JSONL row with fields the first row did not have
            raise InvalidOptionError(
                f"row {count} does not fit the CSV columns of row 1 ({exc})",
                hint="write JSONL instead: --format jsonl",
            ) from exc
    return count


def remove_results(result: BatchResult) -> None:
    """The rows are written back: drop the job's own copy (its manifest stays)."""
    Path(result.output).unlink(missing_ok=True)
