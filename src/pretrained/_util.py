"""The bottom floor: small helpers every layer may use, importing nothing of the package.

- `__version__`: the package version (the package front re-exports it)
- `atomic_write`: temp file beside the target, fsync, rename, fsync the folder — a crash or
  kill -9 never leaves a half-written file in place
- `first_line`: an exception (or message) → its first line, for one-line error messages
- `human_bytes`, `human_count`: sizes and counts for people
- `process_alive`: is a pid (on this machine) still running
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__version__ = "0.1.0"

PART_SUFFIX = ".part"


def first_line(error: BaseException | str, fallback: str | None = None) -> str:
    """The first line of an exception's message; `fallback` (default: the exception's type
    name, or "" for a plain string) when the message is empty."""
    lines = str(error).strip().splitlines()
    if lines:
        return lines[0]
    if fallback is not None:
        return fallback
    return "" if isinstance(error, str) else type(error).__name__


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(
    path: Path,
    data: str | bytes | Callable[[IO[bytes]], object],
    *,
    prefix: str | None = None,
    before_rename: Callable[[], object] | None = None,
) -> Path:
    """Write `data` (text, bytes, or a function writing to a binary file object) to `path`
    atomically: a hidden temp file beside it (`prefix` + random + `.part`; the prefix defaults
    to `.NAME.`), flushed and fsync'ed, renamed over the target, then the folder fsync'ed.
    A writer killed midway leaves only the temp file (a sweep's business). → `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=prefix or f".{path.name}.", suffix=PART_SUFFIX
    )
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def process_alive(pid: int) -> bool:
    """Is process `pid` (on this machine) still running? Used to tell leftovers from work."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but someone else's
        return True
    return True


def human_bytes(size: int | float | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def human_count(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)
