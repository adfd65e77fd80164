"""Rows in, for batch jobs: JSONL, CSV/TSV, text lines (.txt), Parquet, a local Hugging Face
dataset (saved with `save_to_disk` or laid out as on the Hub), a folder of files, or an `s3://`
prefix.

Every source has a fixed row order, a row count known up front (for progress and ETA) and
random access by row range, so a job can be cut into chunks that any process (a resumed run, a
Ray worker) reads on its own. Nothing reads a whole file into memory:

- JSONL, CSV and text files are scanned once to note the byte offset of every `stride`-th row; a range read
  seeks there. Blank JSONL lines are not rows; nor are blank lines of a text file (one row
  per line).
- Parquet is read one row group at a time (the last group read is kept for the next range).
- Datasets are Arrow files that `datasets` memory-maps.
- Folders and S3 prefixes are listings sorted by path/key; each file or object is one row.

Sources are plain picklable objects: open handles are dropped when pickled and reopened lazily.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputNotFoundError, InvalidOptionError, UnreadableInputError
from .record_spec import (
    Record,
    RecordSpec,
    check_id_column,
    choose_column,
    dig,
    file_fingerprint,
)

__all__ = ["Record", "RecordSpec", "open_records"]

TABLE_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "lines",
    ".parquet": "parquet",
    ".pq": "parquet",
}
DATA_SUFFIXES = {".parquet", ".arrow", ".jsonl", ".json", ".csv"}
FORMATS = ("auto", "jsonl", "csv", "lines", "parquet", "dataset", "folder", "s3")


class _Source:
    """Shared pickling behaviour: attributes starting with '_h' are open handles."""

    format = "?"
    location = ""
    total = 0
    id_type = "int"  # int | str: the type of the id column in the output

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_h")}

    def fingerprint(self) -> dict[str, Any]:  # a file source's; the others override it
        return {**file_fingerprint(self.path), "column": self.column}  # type: ignore[attr-defined]

    def read(self, start: int, stop: int) -> list[Record]:
        raise NotImplementedError

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row whole, in order: to write a job's results back beside the input's own
        columns. Only file sources (JSONL, CSV, text lines, Parquet) have it."""
        raise InvalidOptionError(
            f"{self.location} is a {self.format} input: its rows cannot be written back",
            hint="pass a .jsonl, .csv, .tsv, .txt or .parquet file",
        )

    def describe(self) -> str:
        return f"{self.location} ({self.format}, {self.total:,} rows)"


# ---------------------------------------------------------------- JSONL
@dataclass
class JsonlSource(_Source):
    path: Path
    spec: RecordSpec
    stride: int
    offsets: list[int] = field(default_factory=list)  # byte offset of rows 0, stride, 2·stride …
    total: int = 0
    column: str = ""
    format = "jsonl"

    def __post_init__(self) -> None:
        self.location = str(self.path)
        self.id_type = "str" if self.spec.id_column else "int"
        first: dict | None = None
        count = 0
        offset = 0
        with self.path.open("rb") as fh:
            for raw in fh:
                if raw.strip():
                    if count % self.stride == 0:
                        self.offsets.append(offset)
                    if first is None:
                        with contextlib.suppress(ValueError):
                            first = json.loads(raw)
                    count += 1
                offset += len(raw)
        self.total = count
        self._pick_column(first)

    def _pick_column(self, first: Any) -> None:
        columns = list(first) if isinstance(first, dict) else []
        if isinstance(first, str) and not self.spec.column:
            self.column = ""  # a JSONL file of bare strings
        else:
            self.column = choose_column(columns, self.spec, str(self.path))
        check_id_column(columns, self.spec, str(self.path))

    def read(self, start: int, stop: int) -> list[Record]:
        out: list[Record] = []
        index = (start // self.stride) * self.stride
        with self.path.open("rb") as fh:
            fh.seek(self.offsets[start // self.stride])
            for raw in fh:
                if not raw.strip():
                    continue
                if index >= stop:
                    break
                if index >= start:
                    out.append(self._record(index, raw))
                index += 1
        return out

    def _record(self, index: int, raw: bytes) -> Record:
        try:
            item = json.loads(raw)
        except ValueError as exc:
            return Record(index, index, None, f"line is not valid JSON ({exc})")
        value = item if isinstance(item, str) and not self.column else dig(item, self.column)
        rid: Any = index
        if self.spec.id_column:
            raw_id = dig(item, self.spec.id_column)
            rid = None if raw_id is None else str(raw_id)
        return Record(index, rid, value)

    def rows(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as fh:
            for raw in fh:
                if raw.strip():
                    yield self._whole(raw)

    def _whole(self, raw: bytes) -> dict[str, Any]:
        try:
            item = json.loads(raw)
        except ValueError:
            return {}  # the job's row says why (its `error`)
        return item if isinstance(item, dict) else {"text": item}


@dataclass
class LinesSource(JsonlSource):
    """A plain text file (.txt): one row per non-blank line, its id the line's row number."""

    format = "lines"

    def _pick_column(self, first: Any) -> None:
        with self.path.open("rb") as fh:
            head = fh.read(8192)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
            raise UnreadableInputError(
                f"'{self.path.name}' is binary or UTF-16, not lines of UTF-8 text",
                hint="save it as UTF-8 text, one input per line",
            )
        check_id_column([], self.spec, str(self.path))

    def _record(self, index: int, raw: bytes) -> Record:
        from .files import decode_bytes

        try:
            return Record(index, index, decode_bytes(raw, self.location).strip("\r\n"))
        except UnreadableInputError as exc:
            return Record(index, index, None, exc.message)

    def _whole(self, raw: bytes) -> dict[str, Any]:
        return {"text": self._record(0, raw).value}


# ---------------------------------------------------------------- CSV
def _csv_lines(fh: io.BufferedReader, consumed: list[int]) -> Iterator[str]:
    """Decoded lines for csv.reader, counting the bytes it has pulled. csv.reader pulls exactly
    the lines of one record (more than one when a quoted field holds newlines), so after each
    record `consumed` is the byte offset where the next record starts."""
    for raw in fh:
        consumed[0] += len(raw)
        yield raw.decode("utf-8-sig" if consumed[0] == len(raw) else "utf-8", errors="replace")


@dataclass
class CsvSource(_Source):
    path: Path
    spec: RecordSpec
    stride: int
    offsets: list[int] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    total: int = 0
    column: str = ""
    delimiter: str = ","  # "\t" for .tsv
    format = "csv"

    def __post_init__(self) -> None:
        self.location = str(self.path)
        self.id_type = "str" if self.spec.id_column else "int"
        consumed = [0]
        with self.path.open("rb") as fh:
            reader = csv.reader(_csv_lines(fh, consumed), delimiter=self.delimiter)
            self.header = next(reader, [])
            count = 0
            start = consumed[0]
            for _row in reader:
                if count % self.stride == 0:
                    self.offsets.append(start)
                count += 1
                start = consumed[0]
        self.total = count
        self.column = choose_column(self.header, self.spec, str(self.path))
        check_id_column(self.header, self.spec, str(self.path))

    def read(self, start: int, stop: int) -> list[Record]:
        out: list[Record] = []
        index = (start // self.stride) * self.stride
        col = self.header.index(self.column)
        idc = self.header.index(self.spec.id_column) if self.spec.id_column else None
        with self.path.open("rb") as fh:
            fh.seek(self.offsets[start // self.stride])
            for row in csv.reader(_csv_lines(fh, [1]), delimiter=self.delimiter):
                if index >= stop:
                    break
                if index >= start:
                    value = row[col] if col < len(row) else None
                    rid = row[idc] if idc is not None and idc < len(row) else index
                    out.append(Record(index, rid, value))
                index += 1
        return out

    def rows(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as fh:
            reader = csv.reader(_csv_lines(fh, [0]), delimiter=self.delimiter)
            next(reader, None)
            for row in reader:
                yield {h: row[i] if i < len(row) else None for i, h in enumerate(self.header)}


# ---------------------------------------------------------------- Parquet
@dataclass
class ParquetSource(_Source):
    path: Path
    spec: RecordSpec
    total: int = 0
    column: str = ""
    group_starts: list[int] = field(default_factory=list)
    format = "parquet"

    def __post_init__(self) -> None:
        self.location = str(self.path)
        meta = self._file().metadata
        names = self._file().schema_arrow.names
        self.column = choose_column(names, self.spec, str(self.path))
        check_id_column(names, self.spec, str(self.path))
        self.id_type = "int"
        if self.spec.id_column:
            import pyarrow as pa

            kind = self._file().schema_arrow.field(self.spec.id_column).type
            self.id_type = "int" if pa.types.is_integer(kind) else "str"
        starts, total = [], 0
        for g in range(meta.num_row_groups):
            starts.append(total)
            total += meta.row_group(g).num_rows
        self.group_starts, self.total = starts, total

    def _file(self):
        if getattr(self, "_hfile", None) is None:
            import pyarrow.parquet as pq

            try:
                self._hfile = pq.ParquetFile(self.path)
            except Exception as exc:  # pyarrow raises ArrowInvalid for non-Parquet files
                raise UnreadableInputError(
                    f"'{self.path}' is not a readable Parquet file ({exc})",
                    hint="check the file, or pass --input-format to say what it is",
                ) from exc
        return self._hfile

    def _group(self, g: int):
        cached = getattr(self, "_hgroup", None)
        if cached is not None and cached[0] == g:
            return cached[1]
        columns = [self.column.split(".")[0]]
        if self.spec.id_column and self.spec.id_column not in columns:
            columns.append(self.spec.id_column)
        table = self._file().read_row_group(g, columns=columns)
        data = {name: table.column(name).to_pylist() for name in columns}
        self._hgroup = (g, data)
        return data

    def read(self, start: int, stop: int) -> list[Record]:
        import bisect

        out: list[Record] = []
        index = start
        head = self.column.split(".")[0]
        while index < min(stop, self.total):
            g = bisect.bisect_right(self.group_starts, index) - 1
            data = self._group(g)
            base = self.group_starts[g]
            end = min(stop, base + len(data[head]))
            for i in range(index, end):
                value = data[head][i - base]
                if head != self.column:
                    value = dig({head: value}, self.column)
                rid = data[self.spec.id_column][i - base] if self.spec.id_column else i
                if self.spec.id_column and self.id_type == "str" and rid is not None:
                    rid = str(rid)
                out.append(Record(i, rid, value))
            index = end
        return out

    def rows(self) -> Iterator[dict[str, Any]]:
        for g in range(self._file().metadata.num_row_groups):
            yield from self._file().read_row_group(g).to_pylist()


# ---------------------------------------------------------------- datasets (Arrow)
@dataclass
class DatasetSource(_Source):
    path: Path
    spec: RecordSpec
    total: int = 0
    column: str = ""
    split: str | None = None
    saved: bool = True  # save_to_disk layout (else a Hub-style folder read by load_dataset)
    format = "dataset"

    def __post_init__(self) -> None:
        self.location = str(self.path)
        ds = self._dataset()
        names = list(ds.column_names)
        self.column = choose_column(names, self.spec, str(self.path))
        check_id_column(names, self.spec, str(self.path))
        self.id_type = "int"
        if self.spec.id_column:
            dtype = str(ds.features[self.spec.id_column])
            self.id_type = "int" if "int" in dtype else "str"
        self.total = len(ds)

    def _dataset(self):
        if getattr(self, "_hds", None) is not None:
            return self._hds
        try:
            import datasets
        except ImportError as exc:  # pragma: no cover - part of the train extra
            from ..errors import missing_dependency

            raise missing_dependency("datasets", "train") from exc
        datasets.disable_progress_bars()
        try:
            if self.saved:
                ds = datasets.load_from_disk(str(self.path))
            else:
                ds = datasets.load_dataset(str(self.path), split=self.split)
        except (FileNotFoundError, ValueError) as exc:
            raise UnreadableInputError(
                f"cannot read the dataset at '{self.path}': {exc}",
                hint="pass a folder saved with save_to_disk or laid out like a Hub dataset repo",
            ) from exc
        if isinstance(ds, datasets.DatasetDict):
            splits = list(ds)
            split = self.split or ("train" if "train" in splits else splits[0])
            if split not in ds:
                raise InvalidOptionError(
                    f"the dataset has no split '{split}'", hint=f"splits: {', '.join(splits)}"
                )
            self.split = split
            ds = ds[split]
        self._hds = ds
        return ds

    def fingerprint(self) -> dict[str, Any]:
        ds = self._dataset()
        files = sorted(f["filename"] for f in getattr(ds, "cache_files", []) or [])
        stats = [file_fingerprint(Path(f)) for f in files]
        return {"path": str(self.path.resolve()), "split": self.split, "files": stats}

    def read(self, start: int, stop: int) -> list[Record]:
        ds = self._dataset()
        stop = min(stop, self.total)
        head = self.column.split(".")[0]
        columns = [head] + ([self.spec.id_column] if self.spec.id_column else [])
        batch = ds.select_columns(list(dict.fromkeys(columns)))[start:stop]
        out = []
        for offset, value in enumerate(batch[head]):
            i = start + offset
            if head != self.column:
                value = dig({head: value}, self.column)
            rid: Any = batch[self.spec.id_column][offset] if self.spec.id_column else i
            if self.spec.id_column and self.id_type == "str" and rid is not None:
                rid = str(rid)
            out.append(Record(i, rid, value))
        return out


# ---------------------------------------------------------------- folders of files
def _read_document(path: Path) -> str:
    """The text of one file of a folder input. PDFs and HTML go through the text sources when
    they are installed (issue #3); plain text files through the encoding-aware reader."""
    from .files import read_text_file

    return read_text_file(path)


@dataclass
class FolderSource(_Source):
    path: Path
    spec: RecordSpec
    files: list[str] = field(default_factory=list)  # paths relative to `path`, sorted
    total: int = 0
    format = "folder"
    id_type = "str"

    def __post_init__(self) -> None:
        self.location = str(self.path)
        names = []
        for root, dirs, filenames in os.walk(self.path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in filenames:
                if not name.startswith("."):
                    names.append(str((Path(root) / name).relative_to(self.path)))
        self.files = sorted(names)
        self.total = len(self.files)

    def fingerprint(self) -> dict[str, Any]:
        digest = hashlib.sha256("\n".join(self.files).encode()).hexdigest()[:16]
        return {"path": str(self.path.resolve()), "files": self.total, "listing": digest}

    def read(self, start: int, stop: int) -> list[Record]:
        from ..errors import PretrainedError

        out = []
        for i in range(start, min(stop, self.total)):
            rel = self.files[i]
            target = self.path / rel
            if self.spec.kind == "audio":
                out.append(Record(i, rel, str(target)))
                continue
            try:
                out.append(Record(i, rel, _read_document(target)))
            except PretrainedError as exc:
                out.append(Record(i, rel, None, exc.message))
        return out


# ---------------------------------------------------------------- S3 prefixes
@dataclass
class S3Source(_Source):
    url: str
    spec: RecordSpec
    keys: list[str] = field(default_factory=list)
    total: int = 0
    format = "s3"
    id_type = "str"

    def __post_init__(self) -> None:
        from ..errors import NetworkError
        from .s3 import parse_uri

        self.location = self.url
        bucket, prefix = parse_uri(self.url)
        try:
            pages = (
                self._client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=bucket, Prefix=prefix)
            )
            keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        except Exception as exc:  # botocore errors: no credentials, no bucket, no network
            raise NetworkError(
                f"cannot list {self.url}: {exc}",
                hint="check the bucket name, AWS credentials and AWS_ENDPOINT_URL",
            ) from exc
        self.keys = sorted(k for k in keys if not k.endswith("/"))
        self.total = len(self.keys)

    def _client(self):
        # boto3's own configuration: credentials chain, AWS_ENDPOINT_URL for S3-compatible stores
        if getattr(self, "_hclient", None) is None:
            from .s3 import client

            self._hclient = client()
        return self._hclient

    def fingerprint(self) -> dict[str, Any]:
        digest = hashlib.sha256("\n".join(self.keys).encode()).hexdigest()[:16]
        return {"url": self.url, "objects": self.total, "listing": digest}

    def read(self, start: int, stop: int) -> list[Record]:
        from .files import decode_bytes
        from .s3 import parse_uri

        bucket, prefix = parse_uri(self.url)
        out = []
        for i in range(start, min(stop, self.total)):
            key = self.keys[i]
            rid = key[len(prefix) :].lstrip("/") or key
            try:
                data = self._client().get_object(Bucket=bucket, Key=key)["Body"].read()
                value: Any = data if self.spec.kind == "audio" else decode_bytes(data, key)
                out.append(Record(i, rid, value))
            except Exception as exc:  # one unreadable object is that row's error
                message = getattr(exc, "message", None) or str(exc)
                out.append(Record(i, rid, None, message))
        return out


# ---------------------------------------------------------------- opening
def _is_dataset_folder(path: Path) -> tuple[bool, bool]:
    """→ (is a dataset, saved with save_to_disk)."""
    names = {p.name for p in path.iterdir()}
    if names & {"dataset_dict.json", "state.json"}:
        return True, True
    data = [
        p
        for p in path.rglob("*")
        if p.is_file() and p.suffix in DATA_SUFFIXES and ".git" not in p.parts
    ]
    readme = path / "README.md"
    hub_card = readme.exists() and readme.read_text(errors="replace").startswith("---")
    if data and (hub_card or "data" in names):
        return True, False
    return False, False


def open_records(
    location: str, spec: RecordSpec, *, stride: int = 1024, input_format: str = "auto"
) -> _Source:
    """Open an input for a batch job (nothing is read beyond the scan for row offsets)."""
    fmt = (input_format or "auto").lower()
    if fmt not in FORMATS:
        raise InvalidOptionError(
            f"unknown input format '{input_format}'", hint=f"use one of: {', '.join(FORMATS)}"
        )
    if location.startswith("s3://") or fmt == "s3":
        if not location.startswith("s3://"):
            raise InvalidOptionError(
                f"'{location}' is not an s3:// address", hint="write it as s3://bucket/prefix/"
            )
        return S3Source(location, spec)
    path = Path(location).expanduser()
    if not path.exists():
        raise InputNotFoundError(f"input not found: {location}")
    if path.is_dir():
        if fmt in ("dataset", "folder"):
            is_ds, saved = (True, _is_dataset_folder(path)[1]) if fmt == "dataset" else (False, 0)
        else:
            is_ds, saved = _is_dataset_folder(path)
        if is_ds:
            return DatasetSource(path, spec, split=spec.split, saved=bool(saved))
        return FolderSource(path, spec)
    if fmt == "auto":
        fmt = TABLE_SUFFIXES.get(path.suffix.lower(), "")
        if not fmt:
            raise UnreadableInputError(
                f"cannot tell the format of '{path.name}' from its extension",
                hint="use .jsonl, .csv, .txt or .parquet, or pass --input-format jsonl|csv|parquet",
            )
    if fmt == "jsonl":
        return JsonlSource(path, spec, stride)
    if fmt == "csv":
        return CsvSource(path, spec, stride, delimiter="\t" if path.suffix == ".tsv" else ",")
    if fmt == "lines":
        return LinesSource(path, spec, stride)
    if fmt == "parquet":
        return ParquetSource(path, spec)
    raise InvalidOptionError(
        f"--input-format {fmt} needs a folder, but '{location}' is a file",
        hint="drop --input-format to guess from the extension",
    )
