"""The on-disk state of a batch job: committed chunks and a manifest, next to the output.

    labels.parquet              the final output (written once every chunk is committed)
    labels.parquet.batch/
        manifest.json           what the job is (fingerprint of input, task, options, model),
                                its status and, once complete, its totals
        lock                    flock'ed by the process running the job
        chunks/chunk-00000042.parquet   the results of rows [42·N, 43·N), one file per chunk

Exactly-once comes from the commit protocol, not from bookkeeping: a chunk's results are
written to a temporary file, fsync'ed, then renamed to their final name (atomic on POSIX).
The set of chunk files *is* the set of finished chunks; a run killed at any moment leaves
either a whole chunk file or none (temporary files are swept on the next start). The final
output is likewise written to a temporary file and renamed, then the chunk files are removed;
the manifest (status "complete") stays as the job's record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._util import atomic_write
from ..errors import InvalidOptionError, JobError, ResumeMismatchError

MANIFEST_VERSION = 1
OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_CHUNK = re.compile(r"^chunk-(\d{8})\.(parquet|jsonl)$")


def output_format(output: Path) -> str:
    fmt = OUTPUT_FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise InvalidOptionError(
            f"cannot write '{output.name}': the output must end in .parquet or .jsonl",
            hint="e.g. --output labels.parquet (or labels.jsonl)",
        )
    return fmt


def fingerprint_digest(fingerprint: dict[str, Any]) -> str:
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fault(point: str) -> None:
    """Kill this process with SIGKILL at a named point when PRETRAINED_BATCH_FAULT names it
    (e.g. 'after-commit:3', 'before-rename:labels.parquet'): the crash tests kill -9 here."""
    if os.environ.get("PRETRAINED_BATCH_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def _write_atomic(path: Path, write) -> None:
    """write(fileobj) into a temp file beside `path`, fsync, rename into place."""
    atomic_write(
        path,
        write,
        prefix=f".tmp-{path.name}.",
        before_rename=lambda: fault(f"before-rename:{path.name}"),
    )


def _diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key}: {a!r} → {b!r}")
    return changes


class BatchStore:
    """The state folder of one batch job (see the module docstring)."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.format = output_format(output)
        self.dir = output.with_name(output.name + ".batch")
        self.chunks_dir = self.dir / "chunks"
        self.manifest_path = self.dir / "manifest.json"
        self._lock_fh = None

    # ------------------------------------------------------------ lock
    @contextlib.contextmanager
    def locked(self) -> Iterator[BatchStore]:
        """Hold the job's lock (released by the OS even after kill -9)."""
        import fcntl

        self.chunks_dir.mkdir(parents=True, exist_ok=True)
        fh = (self.dir / "lock").open("a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.close()
            raise JobError(
                f"another process is running the batch job for {self.output}",
                hint="wait for it to finish, or stop it first (the job resumes where it stopped)",
            ) from exc
        try:
            yield self
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()

    # ------------------------------------------------------------ manifest
    def manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise JobError(
                f"the job manifest {self.manifest_path} is corrupt ({exc})",
                hint="pass --restart to start the job over",
            ) from exc

    def write_manifest(self, data: dict[str, Any]) -> None:
        data = {**data, "version": MANIFEST_VERSION, "updated_at": _now()}
        payload = json.dumps(data, indent=2, default=str).encode()
        _write_atomic(self.manifest_path, lambda fh: fh.write(payload))

    def start(
        self, fingerprint: dict[str, Any], info: dict[str, Any], *, restart: bool
    ) -> dict[str, Any]:
        """Open the job: new, resumed (same fingerprint) or refused (different fingerprint)."""
        existing = self.manifest()
        digest = fingerprint_digest(fingerprint)
        if existing is not None and restart:
            self.clear()
            existing = None
        if existing is None and self.output.exists() and not restart:
            raise JobError(
                f"{self.output} already exists and was not written by this batch job",
                hint="pass --restart to overwrite it, or choose another --output",
            )
        if existing is not None and existing.get("fingerprint_sha256") != digest:
            changes = _diff(existing.get("fingerprint", {}), fingerprint)
            done = self.committed_rows_estimate(existing)
            raise ResumeMismatchError(
                f"{self.output} belongs to a job started with different settings "
                f"({'; '.join(changes[:4]) or 'fingerprint differs'})",
                hint=f"rerun with the original settings to resume, or pass --restart to discard "
                f"{done} committed rows and start over",
            )
        if existing is None:
            manifest = {
                "status": "running",
                "created_at": _now(),
                "fingerprint": fingerprint,
                "fingerprint_sha256": digest,
                **info,
            }
            self.write_manifest(manifest)
            return manifest
        self.sweep()
        return existing

    def committed_rows_estimate(self, manifest: dict[str, Any]) -> str:
        size = manifest.get("chunk_size") or 0
        n = len(self.committed())
        return f"≈{n * size:,}" if size else f"{n} chunks of"

    def clear(self) -> None:
        shutil.rmtree(self.chunks_dir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.manifest_path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.output.unlink()
        self.chunks_dir.mkdir(parents=True, exist_ok=True)

    def sweep(self) -> None:
        """Remove temporary files left by a killed run (never a committed chunk)."""
        for folder in (self.chunks_dir, self.dir, self.output.parent):
            if not folder.exists():
                continue
            prefix = ".tmp-" if folder != self.output.parent else f".tmp-{self.output.name}."
            for item in folder.iterdir():
                if item.name.startswith(prefix):
                    with contextlib.suppress(OSError):
                        item.unlink()

    # ------------------------------------------------------------ chunks
    def chunk_path(self, chunk: int) -> Path:
        return self.chunks_dir / f"chunk-{chunk:08d}.{self.format}"

    def committed(self) -> set[int]:
        if not self.chunks_dir.exists():
            return set()
        found = set()
        for item in self.chunks_dir.iterdir():
            match = _CHUNK.match(item.name)
            if match and match.group(2) == self.format:
                found.add(int(match.group(1)))
        return found

    def commit(self, chunk: int, rows: list[dict[str, Any]], schema) -> None:
        """Write one chunk's results atomically (the rename is the commit)."""
        target = self.chunk_path(chunk)
        _write_atomic(target, lambda fh: write_rows(fh, rows, self.format, schema))

    def finalize(self, chunks: int, schema, metadata: dict[str, Any]) -> int:
        """Concatenate the chunk files, in order, into the output (atomically). → rows."""
        missing = [c for c in range(chunks) if not self.chunk_path(c).exists()]
        if missing:
            raise JobError(
                f"cannot finish {self.output}: chunks {missing[:5]} are missing",
                hint="rerun the same command to process them",
            )
        rows = 0
        self.output.parent.mkdir(parents=True, exist_ok=True)

        def write(fh) -> None:
            nonlocal rows
            if self.format == "jsonl":
                for c in range(chunks):
                    with self.chunk_path(c).open("rb") as src:
                        for line in src:
                            fh.write(line)
                            rows += 1
                return
            import pyarrow.parquet as pq

            full = schema.with_metadata({"pretrained": json.dumps(metadata, default=str)})
            with pq.ParquetWriter(fh, full) as writer:
                for c in range(chunks):
                    table = pq.read_table(self.chunk_path(c), schema=schema)
                    rows += table.num_rows
                    writer.write_table(table.replace_schema_metadata(full.metadata))

        _write_atomic(self.output, write)
        return rows

    def remove_chunks(self) -> None:
        shutil.rmtree(self.chunks_dir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "lock").unlink()


def write_rows(fh, rows: list[dict[str, Any]], fmt: str, schema) -> None:
    if fmt == "jsonl":
        names = schema.names  # every row gets every column, in the same order as Parquet
        for row in rows:
            line = json.dumps(
                {n: row.get(n) for n in names}, ensure_ascii=False, default=_json_default
            )
            fh.write(line.encode() + b"\n")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, fh)


def _json_default(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()
    return str(value)
