"""The local job store: one SQLite table under PRETRAINED_HOME plus one folder per job.

A job is one input processed with one model and one set of options. Its id comes from a key
made of the input's *content* hash (sha256), the model (+ revision) and the options, so the same
recording found again — in the same folder, elsewhere, or in a bucket — is recognised and
skipped, while another model or other options make a new job. States:

    pending ──claim──▶ running ──▶ done
                          │  ╰────▶ failed ──claim──▶ running …
                          ╰─ killed / Ctrl-C: the row still says running, but its pid is gone;
                             the next claim takes it over and resumes from its checkpoint

Files in `$PRETRAINED_HOME/jobs/<id>/`: `checkpoint.json` (segments so far, where to restart)
while running, `result.json` (the transcript) once done. All writes are atomic.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from .. import settings
from .._util import first_line
from ..errors import JobNotFoundError, PretrainedError
from ..runlog import _retry
from .files import atomic_write, process_alive

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    content_sha256 TEXT NOT NULL,
    model TEXT,
    revision TEXT,
    options TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    progress REAL,
    duration REAL,
    language TEXT,
    rtf REAL,
    outputs TEXT,
    error_type TEXT,
    error TEXT,
    hint TEXT,
    pid INTEGER,
    host TEXT
);
CREATE INDEX IF NOT EXISTS jobs_updated ON jobs (updated_at);
CREATE TABLE IF NOT EXISTS content_hashes (
    fingerprint TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL
);
"""
JobStatus = Literal["pending", "running", "done", "failed"]
STATUSES: tuple[JobStatus, ...] = typing.get_args(JobStatus)
# A running job on another machine (shared PRETRAINED_HOME) counts as abandoned after this long
# without a checkpoint; on this machine a dead pid is enough.
_STALE_AFTER = timedelta(hours=1)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def job_key(kind: str, content_sha256: str, model: str, revision: str | None, options: dict) -> str:
    payload = {
        "kind": kind,
        "content": content_sha256,
        "model": model,
        "revision": revision,
        "options": options,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _alive(pid: int | None, host: str | None, updated_at: str | None) -> bool:
    """Is the process that holds a running job still there?"""
    if pid is None:
        return False
    if host != socket.gethostname():
        updated = datetime.fromisoformat(updated_at) if updated_at else None
        return bool(updated and datetime.now(timezone.utc) - updated < _STALE_AFTER)
    return process_alive(pid)


@dataclass
class Job:
    id: str
    key: str
    kind: str
    source: str
    content_sha256: str
    model: str | None
    revision: str | None
    options: dict[str, Any]
    status: JobStatus
    created_at: str
    updated_at: str
    finished_at: str | None = None
    attempts: int = 0
    progress: float | None = None
    duration: float | None = None
    language: str | None = None
    rtf: float | None = None
    outputs: list[str] = field(default_factory=list)
    error_type: str | None = None
    error: str | None = None
    hint: str | None = None
    pid: int | None = None
    host: str | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"

    @property
    def held_elsewhere(self) -> bool:
        """Running in another live process right now."""
        return (
            self.status == "running"
            and _alive(self.pid, self.host, self.updated_at)
            and not (self.pid == os.getpid() and self.host == socket.gethostname())
        )

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.pop("host", None)
        return out

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        data["options"] = json.loads(data["options"] or "{}")
        data["outputs"] = json.loads(data["outputs"] or "[]")
        return cls(**data)


class JobStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings.home() / "jobs.sqlite"
        self.root = self.path.parent / "jobs"

    # ------------------------------------------------------------ plumbing
    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            yield conn
        finally:
            conn.close()

    def _run(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        def action() -> list[sqlite3.Row]:
            with self._db() as conn:
                return conn.execute(sql, params).fetchall()

        return _retry(action) or []

    def _change(self, sql: str, params: tuple = ()) -> int:
        """Run one write; returns how many rows it changed."""

        def action() -> int:
            with self._db() as conn:
                return conn.execute(sql, params).rowcount

        return _retry(action) or 0

    def folder(self, job_id: str) -> Path:
        return self.root / job_id

    # ------------------------------------------------------------ content hashes
    def known_hash(self, fingerprint: str) -> str | None:
        rows = self._run("SELECT sha256 FROM content_hashes WHERE fingerprint = ?", (fingerprint,))
        return rows[0]["sha256"] if rows else None

    def remember_hash(self, fingerprint: str, sha256: str) -> None:
        self._run(
            "INSERT OR REPLACE INTO content_hashes (fingerprint, sha256) VALUES (?, ?)",
            (fingerprint, sha256),
        )

    # ------------------------------------------------------------ jobs
    def ensure(
        self,
        *,
        kind: str,
        source: str,
        content_sha256: str,
        model: str,
        revision: str | None,
        options: dict[str, Any],
    ) -> Job:
        """The job for this content + model + options, created (pending) when new."""
        key = job_key(kind, content_sha256, model, revision, options)
        job_id = key[:12]
        now = _now()
        self._run(
            "INSERT OR IGNORE INTO jobs (id, key, kind, source, content_sha256, model, revision,"
            " options, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (
                job_id,
                key,
                kind,
                source,
                content_sha256,
                model,
                revision,
                json.dumps(options, sort_keys=True),
                now,
                now,
            ),
        )
        self._run("UPDATE jobs SET source = ? WHERE id = ?", (source, job_id))
        return self.get(job_id)

    def claim(self, job_id: str) -> bool:
        """Mark the job running in this process, unless another live process holds it."""
        job = self.get(job_id)
        if job.held_elsewhere:
            return False
        # compare-and-set on (status, pid): a racing process that claimed first wins
        changed = self._change(
            "UPDATE jobs SET status = 'running', pid = ?, host = ?, attempts = attempts + 1,"
            " updated_at = ?, error_type = NULL, error = NULL, hint = NULL"
            " WHERE id = ? AND status = ? AND pid IS ?",
            (os.getpid(), socket.gethostname(), _now(), job_id, job.status, job.pid),
        )
        return changed == 1

    def checkpoint(self, job_id: str, state: dict[str, Any]) -> None:
        atomic_write(self.folder(job_id) / "checkpoint.json", json.dumps(state))
        self._run(
            "UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ?",
            (state.get("next_start"), _now(), job_id),
        )

    def load_checkpoint(self, job_id: str) -> dict[str, Any] | None:
        path = self.folder(job_id) / "checkpoint.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def finish(self, job_id: str, result: dict[str, Any], outputs: list[str]) -> None:
        atomic_write(
            self.folder(job_id) / "result.json", json.dumps(result, ensure_ascii=False, indent=1)
        )
        timings = result.get("timings") or {}
        self._run(
            "UPDATE jobs SET status = 'done', finished_at = ?, updated_at = ?, progress = ?,"
            " duration = ?, language = ?, rtf = ?, outputs = ?, pid = NULL WHERE id = ?",
            (
                _now(),
                _now(),
                result.get("duration"),
                result.get("duration"),
                result.get("language"),
                timings.get("rtf"),
                json.dumps(sorted(set(outputs))),
                job_id,
            ),
        )
        with contextlib.suppress(OSError):
            (self.folder(job_id) / "checkpoint.json").unlink()

    def add_outputs(self, job_id: str, outputs: list[str]) -> None:
        if not outputs:
            return
        job = self.get(job_id)
        merged = sorted(set(job.outputs) | set(outputs))
        self._run("UPDATE jobs SET outputs = ? WHERE id = ?", (json.dumps(merged), job_id))

    def fail(self, job_id: str, error: BaseException) -> None:
        if isinstance(error, PretrainedError):
            message, hint = error.message, error.hint
        else:
            message = first_line(error, "")
            hint = "rerun with PRETRAINED_DEBUG=1 for the traceback"
        self._run(
            "UPDATE jobs SET status = 'failed', error_type = ?, error = ?, hint = ?,"
            " updated_at = ?, pid = NULL WHERE id = ?",
            (type(error).__name__, message, hint, _now(), job_id),
        )

    def release(self, job_id: str) -> None:
        """Interrupted (Ctrl-C): back to pending; its checkpoint stays for the next run."""
        self._run(
            "UPDATE jobs SET status = 'pending', pid = NULL, updated_at = ? WHERE id = ?",
            (_now(), job_id),
        )

    def result(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        path = self.folder(job.id) / "result.json"
        if not job.done or not path.exists():
            raise JobNotFoundError(
                f"job {job.id} has no result yet (status: {job.status})",
                hint=f"rerun the command that started it, or see: pretrained jobs show {job.id}",
            )
        return json.loads(path.read_text())

    def get(self, ref: str) -> Job:
        """A job by id or by a unique prefix of its id (like git)."""
        ref = ref.strip().lower()
        if not ref or not all(c in "0123456789abcdef" for c in ref):
            raise JobNotFoundError(
                f"'{ref}' is not a job id", hint="job ids are hex, see: pretrained jobs list"
            )
        rows = self._run("SELECT * FROM jobs WHERE id LIKE ? LIMIT 2", (ref + "%",))
        if not rows:
            raise JobNotFoundError(f"no job with id '{ref}'")
        if len(rows) > 1:
            raise JobNotFoundError(
                f"'{ref}' matches several jobs", hint="give more characters of the id"
            )
        return Job.from_row(rows[0])

    def list(self, status: JobStatus | None = None, limit: int = 50) -> list[Job]:
        if status:
            rows = self._run(
                "SELECT * FROM jobs WHERE status = ? ORDER BY updated_at DESC, id LIMIT ?",
                (status, limit),
            )
        else:
            rows = self._run("SELECT * FROM jobs ORDER BY updated_at DESC, id LIMIT ?", (limit,))
        return [Job.from_row(r) for r in rows]
