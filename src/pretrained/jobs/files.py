"""Atomic file writes: a crash or kill -9 never leaves a half-written file in place.
(And `process_alive`, to tell a killed writer's leftovers from a live one's work.)

Each write goes to a hidden temp file beside the target (`.NAME.<random>.part`), is flushed to
disk, then renamed over the target in one step. A process killed between the two leaves only
the temp file, which `sweep` removes on the next run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path

_SUFFIX = ".part"


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def sweep(path: Path) -> int:
    """Remove temp files a killed writer left for `path`. Returns how many were removed."""
    removed = 0
    if path.parent.is_dir():
        for leftover in path.parent.glob(glob.escape(f".{path.name}.") + f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed += 1
    return removed
