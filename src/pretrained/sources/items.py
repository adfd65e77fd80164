"""Inputs of a transcription run, wherever they live: `MediaItem` (a local file or a remote
object, opened as a local path only while in use) and which names count as media."""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus", ".aac", ".wma", ".aiff")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpeg", ".mpg")
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS + VIDEO_EXTENSIONS


@dataclass
class MediaItem:
    """One input of a transcription run."""

    uri: str  # absolute path or s3://bucket/key: what the user sees and the job records
    relative: str  # path relative to the folder / prefix it was found under (output layout)
    size: int | None
    fingerprint: str  # cheap identity (path + size + mtime, or S3 ETag) → cached content hash
    path: Path | None = None  # local files
    remote: Any = None  # sources.s3.RemoteObject for S3 objects (has download_to_temp)

    @property
    def is_local(self) -> bool:
        return self.path is not None

    @contextlib.contextmanager
    def open(self, *, endpoint_url: str | None = None) -> Iterator[Path]:
        """A local path for the duration of the block (S3: a temp download, then removed)."""
        if self.path is not None:
            yield self.path
            return
        with self.remote.download_to_temp(endpoint_url=endpoint_url) as local:
            yield local


def matches(relative: str, glob: str | None) -> bool:
    if glob:
        return fnmatch.fnmatch(relative, glob) or fnmatch.fnmatch(Path(relative).name, glob)
    return relative.lower().endswith(MEDIA_EXTENSIONS)
