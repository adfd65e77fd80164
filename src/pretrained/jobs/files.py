"""Atomic file writes: a crash or kill -9 never leaves a half-written file in place.
(And `process_alive`, to tell a killed writer's leftovers from a live one's work.)

Each write goes to a hidden temp file beside the target (`.NAME.<random>.part`), is flushed to
disk, then renamed over the target in one step. A process killed between the two leaves only
the temp file, which `sweep` removes on the next run.
"""

from __future__ import annotations

import contextlib
import glob
from pathlib import Path

from .._util import PART_SUFFIX as _SUFFIX
from .._util import atomic_write, process_alive

__all__ = ["atomic_write", "process_alive", "sweep"]


def sweep(path: Path) -> int:
    """Remove temp files a killed writer left for `path`. Returns how many were removed."""
    removed = 0
    if path.parent.is_dir():
        for leftover in path.parent.glob(glob.escape(f".{path.name}.") + f"*{_SUFFIX}"):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed += 1
    return removed
