"""Training data in: a Hub dataset pinned to a commit, or a local JSONL / CSV / Parquet / TXT file
(or a folder of them), cut with --limit and split into train / held-out with a seed.

Reading and parsing is the `datasets` library's job; this module decides *what* to read, records
where it came from (the resolved commit sha, or the file's sha256) and turns library errors into
ours.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import (
    InputNotFoundError,
    InvalidOptionError,
    ModelNotCachedError,
    ModelNotFoundError,
    PretrainedError,
    UnreadableInputError,
)

# file suffix → `datasets` packaged builder
BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
}
# What to download from a Hub dataset repo: data files and the card (its YAML lists configs/splits).
HUB_PATTERNS = ["*.jsonl", "*.json", "*.csv", "*.parquet", "*.txt", "*.arrow", "*.md"]
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][\w.\-]{0,95}/)?[A-Za-z0-9][\w.\-]{0,95}$")


@dataclass
class DataSource:
    """Where the rows came from, as recorded in config.yaml and the model card."""

    name: str  # what the user passed
    kind: str  # hub | local
    split: str
    revision: str | None = None  # requested Hub revision
    resolved_revision: str | None = None  # Hub commit sha, or sha256:<hash> of a local file
    path: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "hub":
            return f"{self.name}@{(self.resolved_revision or 'main')[:12]} ({self.split})"
        return f"{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Records:
    source: DataSource
    rows: list[dict[str, Any]]
    fields: list[str]
    total: int  # rows before --limit
    train: list[dict[str, Any]] = field(default_factory=list)
    val: list[dict[str, Any]] = field(default_factory=list)


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    import datasets

    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    level = logging.getLogger("datasets").level
    logging.getLogger("datasets").setLevel(logging.ERROR)
    try:
        yield
    finally:
        logging.getLogger("datasets").setLevel(level)
        if enabled:
            datasets.enable_progress_bars()


def _read(target: str, *, builder: str | None, split: str, what: str):
    """load_dataset with our errors: unknown split → usage error, parse failure → unreadable."""
    from datasets import load_dataset

    from .._util import first_line as _first_line

    try:
        with _quiet_datasets():
            if builder:
                return load_dataset(builder, data_files=target, split=split)
            return load_dataset(target, split=split)
    except ValueError as exc:
        message = _first_line(exc)
        if "split" in message.lower():
            raise InvalidOptionError(
                f"--split {split!r} is not in {what}: {message}",
                hint="pick one of the splits it names (local files have one split: train)",
            ) from exc
        raise UnreadableInputError(f"could not read {what}: {message}") from exc
    except FileNotFoundError as exc:
        raise InputNotFoundError(f"no data files found in {what}: {_first_line(exc)}") from exc
    except Exception as exc:  # datasets wraps parser errors in its own exception types
        raise UnreadableInputError(
            f"could not read {what}: {type(exc).__name__}: {_first_line(exc)}",
            hint="check the file: JSONL needs one JSON object per line; CSV needs a header row",
        ) from exc


def _local(path: Path, split: str):
    from ..models.loading import file_sha256

    if path.is_file():
        builder = BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise UnreadableInputError(
                f"'{path}' is not a data format this tool reads",
                hint=f"use one of: {', '.join(sorted(BUILDERS))} (or a Hub dataset id)",
            )
        if path.stat().st_size == 0:
            raise UnreadableInputError(f"'{path}' is empty", hint="put one example per line")
        table = _read(str(path), builder=builder, split=split, what=f"'{path}'")
        revision = f"sha256:{file_sha256(path)}"
    else:
        table = _read(str(path), builder=None, split=split, what=f"the folder '{path}'")
        revision = None
    return table, revision


def _hub(repo_id: str, revision: str | None, split: str):
    from ..models import hub

    try:
        folder = hub.snapshot(repo_id, revision, HUB_PATTERNS, repo_type="dataset")
    except ModelNotCachedError as exc:
        raise InputNotFoundError(
            f"dataset '{repo_id}'"
            + (f" at revision '{revision}'" if revision else "")
            + " is not in the local cache and the Hub cannot be reached",
            hint="connect once to download it (unset HF_HUB_OFFLINE), or pass a local "
            ".jsonl/.csv/.parquet/.txt file",
        ) from exc
    except ModelNotFoundError as exc:
        raise InputNotFoundError(
            exc.message.replace("model ", "dataset ", 1),
            hint=f"check the dataset id and --revision at https://huggingface.co/datasets/{repo_id}",
        ) from exc
    except PretrainedError as exc:  # gated, network: keep the class, name the dataset
        exc.message = exc.message.replace("model ", "dataset ", 1)
        raise
    table = _read(str(folder), builder=None, split=split, what=f"dataset '{repo_id}'")
    # snapshot folders are named by the commit sha they hold
    return table, folder.name


def load(
    data: str, *, revision: str | None = None, split: str = "train", limit: int | None = None
) -> Records:
    """Read rows from a local file/folder or a Hub dataset id; keep the first `limit` rows."""
    if not isinstance(data, str) or not data.strip():
        raise InvalidOptionError("no data given", hint="pretrained finetune quotes.jsonl …")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise InvalidOptionError(f"--limit must be a whole number ≥ 1 (got {limit!r})")
    data = data.strip()
    path = Path(data).expanduser()
    looks_local = path.exists() or data.startswith((".", "/", "~")) or path.suffix in BUILDERS
    if looks_local:
        if not path.exists():
            raise InputNotFoundError(f"no data file at '{data}'")
        if revision:
            raise InvalidOptionError(
                "--revision pins a Hub dataset; a local file has no revisions",
                hint="drop --revision (the file's sha256 is recorded instead)",
            )
        table, resolved = _local(path.resolve(), split)
        source = DataSource(data, "local", split, None, resolved, str(path.resolve()))
    elif _HUB_ID.match(data) and "--" not in data and ".." not in data:
        table, resolved = _hub(data, revision, split)
        source = DataSource(data, "hub", split, revision, resolved)
    else:
        raise InputNotFoundError(
            f"'{data}' is neither an existing file nor a Hub dataset id",
            hint="pass a .jsonl/.csv/.parquet/.txt file or a Hub id such as Abirate/english_quotes",
        )
    total = len(table)
    if total == 0:
        raise UnreadableInputError(f"{source.label} has no rows", hint="check the file or --split")
    if limit is not None and limit < total:
        table = table.select(range(limit))
    return Records(source, table.to_list(), list(table.column_names), total)


def held_out_count(n: int, val_size: float | int) -> int:
    """--val-size as a fraction (0 < x < 1) or a row count (whole number); 0 = no held-out split."""
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float)) or val_size < 0:
        raise InvalidOptionError(
            f"--val-size must be a fraction in (0, 1) or a whole number of rows (got {val_size!r})",
            hint="e.g. --val-size 0.1 or --val-size 200",
        )
    if val_size == 0:
        return 0
    if val_size < 1:
        count = max(1, round(n * val_size))
    elif float(val_size).is_integer():
        count = int(val_size)
    else:
        raise InvalidOptionError(
            f"--val-size must be a fraction in (0, 1) or a whole number of rows (got {val_size!r})",
            hint="e.g. --val-size 0.1 or --val-size 200",
        )
    if count >= n:
        raise InvalidOptionError(
            f"--val-size {val_size} leaves no rows to train on ({n} rows in all)",
            hint="use a smaller --val-size, or more data",
        )
    return count


def split(records: Records, val_size: float | int, seed: int) -> Records:
    """Seeded held-out split: the same seed and data always give the same two sets."""
    n = len(records.rows)
    count = held_out_count(n, val_size)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    held = set(order[:count])
    records.val = [records.rows[i] for i in sorted(held)]
    records.train = [row for i, row in enumerate(records.rows) if i not in held]
    return records
