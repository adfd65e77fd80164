"""The run log: one SQLite row per command (what ran, on which model@revision, how long).

The CLI opens a run around every command (`track`); task functions add what they know
(`annotate`: model, revision, device, token counts). Writes are short transactions in WAL
mode with a busy timeout and retries, so many processes can log at once. Secrets are never
stored: parameters whose names look like credentials are replaced before writing.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import random
import socket
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from . import settings
from .redact import is_secret_name, redact

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    command TEXT NOT NULL,
    task TEXT,
    model TEXT,
    revision TEXT,
    params TEXT,
    duration_s REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    device TEXT,
    status TEXT NOT NULL,
    error_class TEXT,
    extra TEXT,
    host TEXT,
    pid INTEGER
)
"""
_COLUMNS = (
    "started_at",
    "command",
    "task",
    "model",
    "revision",
    "params",
    "duration_s",
    "prompt_tokens",
    "completion_tokens",
    "device",
    "status",
    "error_class",
    "extra",
    "host",
    "pid",
)


def _is_secret(name: str) -> bool:
    return is_secret_name(name)


def _mask(value: str) -> str:
    """Token-shaped values masked; URLs without userinfo or credential query values."""
    return redact(value)


def scrub(params: dict[str, Any]) -> dict[str, Any]:
    """Copy of params with credential-like values masked and non-JSON values stringified."""
    clean: dict[str, Any] = {}
    for name, value in params.items():
        if _is_secret(name):
            clean[name] = "***" if value else value
        elif isinstance(value, str):
            clean[name] = _mask(value)
        elif isinstance(value, (int, float, bool)) or value is None:
            clean[name] = value
        elif isinstance(value, (list, tuple)):
            clean[name] = [
                v if isinstance(v, (int, float, bool)) or v is None else _mask(str(v))
                for v in value
            ]
        elif isinstance(value, dict):
            clean[name] = scrub(value)
        else:
            clean[name] = _mask(str(value))
    return clean


@dataclass
class Run:
    command: str
    task: str | None = None
    model: str | None = None
    revision: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)


_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "pretrained_run", default=None
)


def current() -> Run | None:
    return _current.get()


def annotate(**fields: Any) -> None:
    """Add facts to the run in progress (no-op outside one). Token counts add up."""
    run = _current.get()
    if run is None:
        return
    for name, value in fields.items():
        if value is None:
            continue
        if name in ("prompt_tokens", "completion_tokens"):
            setattr(run, name, (getattr(run, name) or 0) + int(value))
        elif name == "params":
            run.params.update(value)
        elif hasattr(run, name) and name != "extra":
            setattr(run, name, value)
        else:
            run.extra[name] = value


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    with contextlib.suppress(sqlite3.OperationalError):
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(_SCHEMA)
    return conn


def _retry(action, attempts: int = 8):
    for attempt in range(attempts):
        try:
            return action()
        except sqlite3.OperationalError as exc:  # "database is locked" under heavy contention
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (2**attempt) * (0.5 + random.random()))
    return None


RunStatus = Literal["ok", "error", "interrupted"]


def write(
    run: Run, status: RunStatus, error_class: str | None = None, path: Path | None = None
) -> None:
    row = (
        datetime.fromtimestamp(run.started, timezone.utc).isoformat(timespec="seconds"),
        run.command,
        run.task,
        run.model,
        run.revision,
        json.dumps(scrub(run.params), sort_keys=True),
        round(time.time() - run.started, 4),
        run.prompt_tokens,
        run.completion_tokens,
        run.device,
        status,
        error_class,
        json.dumps(scrub(run.extra), sort_keys=True) if run.extra else None,
        socket.gethostname(),
        os.getpid(),
    )
    db = path or settings.runs_db()

    def insert() -> None:
        conn = _connect(db)
        try:
            conn.execute(
                f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                row,
            )
        finally:
            conn.close()

    try:
        _retry(insert)
    except sqlite3.Error as exc:  # the log must never break the command it logs
        print(f"warning: could not write the run log ({exc})", file=sys.stderr)


@contextlib.contextmanager
def track(command: str, **fields: Any) -> Iterator[Run]:
    """Open a run; on exit write one row with status ok/error/interrupted."""
    run = Run(command=command)
    token = _current.set(run)
    annotate(**fields)
    try:
        yield run
    except KeyboardInterrupt:
        write(run, "interrupted", "KeyboardInterrupt")
        raise
    except BaseException as exc:
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            write(run, "ok")
        else:
            write(run, "error", type(exc).__name__)
        raise
    else:
        write(run, "ok")
    finally:
        _current.reset(token)


def recent(limit: int = 20, path: Path | None = None) -> list[dict[str, Any]]:
    db = path or settings.runs_db()
    if not db.exists():
        return []

    def select() -> list[dict[str, Any]]:
        conn = _connect(db)
        conn.row_factory = sqlite3.Row
        try:
            rows = conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        finally:
            conn.close()
        out = []
        for row in rows:
            item = dict(row)
            for key in ("params", "extra"):
                item[key] = json.loads(item[key]) if item[key] else {}
            out.append(item)
        return out

    return _retry(select) or []
