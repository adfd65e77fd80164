"""The conversion cache under $PRETRAINED_CACHE: `cached_build` (an exclusive lock per entry,
a temp folder renamed into place with a `.complete` record), listing and clearing entries, and
memoized file hashes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import settings
from .._util import atomic_write
from ..errors import (
    InvalidOptionError,
)


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoized by (path, size, mtime) so warm starts skip the hashing."""
    path = path.resolve()
    stat = path.stat()
    memo_file = settings.cache_dir() / "file-hashes.json"
    key = f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
    memo: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        memo = json.loads(memo_file.read_text())
    if key in memo:
        return memo[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    memo[key] = digest.hexdigest()
    atomic_write(memo_file, json.dumps(memo, indent=0))
    return memo[key]


def publish_dir(tmp: Path, final: Path) -> Path:
    """Atomically move a finished temp folder into place; if another process won the race,
    keep theirs and drop ours."""
    try:
        os.rename(tmp, final)
    except OSError:
        if (final / ".complete").exists():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            raise
    return final


@dataclass
class Prepared:
    """A folder transformers can load from, plus provenance for the run log."""

    path: Path
    revision: str | None  # commit sha (Hub) or 'sha256:<file hash>' (GGUF)
    converted: bool = False
    cache_hit: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _build_lock(final: Path):
    """An exclusive lock next to a cache entry, so a second process waits for the first one's
    conversion instead of doing the same work (the rename in publish_dir is what keeps the
    entry whole; the lock only saves the duplicate work)."""
    from filelock import FileLock

    return FileLock(str(final.parent / f".{final.name}.lock"))


def cached_build(name: str, build, meta: dict[str, Any], revision: str | None) -> Prepared:
    """The cache entry `name` under the cache folder, built once by `build(tmp_folder)`.

    The build writes into a fresh temp folder; a `.complete` file with `meta` is added and the
    folder is renamed into place, so readers only ever see complete entries, a crash leaves
    only a `.tmp-*` folder behind, and two racing processes end up sharing one entry."""
    final = settings.cache_dir() / name
    if (final / ".complete").exists():
        return Prepared(final, revision, cache_hit=True)
    with _build_lock(final):
        if (final / ".complete").exists():  # another process built it while we waited
            return Prepared(final, revision, cache_hit=True)
        start = time.time()
        tmp = Path(tempfile.mkdtemp(dir=settings.cache_dir(), prefix=".tmp-"))
        try:
            build(tmp)
            record = {**meta, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
            (tmp / ".complete").write_text(json.dumps(record, indent=1))
            publish_dir(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return Prepared(final, revision, converted=True, seconds=time.time() - start)


ON_CLEAR: list[Callable[[], object]] = []  # called before clear_cache deletes entries


def cache_entries() -> list[dict[str, Any]]:
    """Every complete entry of the conversion cache, with what it was made from and its size."""
    root = settings.cache_dir()
    out = []
    for entry in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        marker = entry / ".complete"
        if not marker.exists():
            continue
        try:
            meta = json.loads(marker.read_text())
        except ValueError:
            meta = {}
        size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
        out.append({"name": entry.name, "path": str(entry), "size_bytes": size, **meta})
    return out


def clear_cache(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Delete the named cache entries (all of them when `names` is None); → what was deleted.

    Leftover temp folders of crashed conversions go too, but only when older than an hour,
    so a conversion running in another process right now is left alone."""
    entries = cache_entries()
    if names is not None:
        known = {e["name"] for e in entries}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InvalidOptionError(
                f"no cache entry named {', '.join(repr(n) for n in unknown)}",
                hint="run 'pretrained models cache list' to see the entries",
            )
        entries = [e for e in entries if e["name"] in names]
    for hook in ON_CLEAR:  # models/__init__ unloads its models: one from a deleted entry breaks
        hook()
    root = settings.cache_dir()
    for entry in entries:
        # rename first so a reader never sees a half-deleted entry as complete
        doomed = root / f".tmp-del-{entry['name']}-{os.getpid()}"
        with contextlib.suppress(OSError):
            os.rename(entry["path"], doomed)
            shutil.rmtree(doomed, ignore_errors=True)
    if names is None:
        # remembered verdicts and tables go with the entries (models/calibrate.py,
        # backends/fast_embeddings.py, tasks/run.py): a clean cache decides again
        shutil.rmtree(root / "calibration", ignore_errors=True)
        for record in (*root.glob("embed-unsupported.json"), *root.glob("pipeline-tasks-*.json")):
            record.unlink(missing_ok=True)
        for stale in root.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > 3600:
                    shutil.rmtree(stale, ignore_errors=True)
    return entries
