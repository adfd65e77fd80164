"""Audio in: media files decoded with PyAV (FFmpeg's libraries), folders of them, S3 objects.

`stream_audio` decodes any audio or video file into 16 kHz mono float32 chunks without ever
holding the whole file, so hour-long recordings transcribe in bounded memory. `expand_inputs`
turns what the user typed (files, folders, `s3://bucket/prefix`) into `MediaItem`s; an item
is opened as a local path only while it is being transcribed (S3 objects are downloaded to a
temporary file and removed afterwards).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._util import first_line
from ..errors import (
    InputNotFoundError,
    NoAudioTrackError,
    UnreadableInputError,
    UsageError,
    missing_dependency,
)
from . import s3
from .items import AUDIO_EXTENSIONS, MEDIA_EXTENSIONS, VIDEO_EXTENSIONS, MediaItem, matches

SAMPLE_RATE = 16_000
_UNSUPPORTED_HINT = (
    "pass an audio or video file FFmpeg can read (wav, mp3, m4a, flac, ogg, mp4, mkv, webm, mov)"
)


def _av():
    try:
        import av
    except ImportError as exc:
        raise missing_dependency("av", "audio") from exc
    return av


def _first_line(exc: BaseException) -> str:
    # FFmpeg errors carry the bare reason in strerror; str() repeats the file name
    return first_line(getattr(exc, "strerror", None) or exc, type(exc).__name__)


@dataclass
class AudioInfo:
    duration: float | None  # seconds, from the container (None when it does not say)
    codec: str
    sample_rate: int | None
    channels: int | None


@contextlib.contextmanager
def _open_audio(path: Path, name: str) -> Iterator[tuple[Any, Any]]:
    """(container, first audio stream); clear errors for missing, corrupt and silent files."""
    av = _av()
    if not path.exists():
        raise InputNotFoundError(f"file not found: {name}")
    if path.is_dir():
        raise UnreadableInputError(f"'{name}' is a folder, not a media file")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise UnreadableInputError(
            f"cannot decode '{name}': not a readable audio or video file ({_first_line(exc)})",
            hint=_UNSUPPORTED_HINT,
        ) from exc
    try:
        if not container.streams.audio:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            raise NoAudioTrackError(f"'{name}' has no audio track (it has: {', '.join(kinds)})")
        yield container, container.streams.audio[0]
    finally:
        container.close()


def probe(path: str | Path, name: str | None = None) -> AudioInfo:
    path = Path(path)
    with _open_audio(path, name or str(path)) as (container, stream):
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000  # av.time_base
        return AudioInfo(
            duration=duration,
            codec=stream.codec_context.name,
            sample_rate=stream.codec_context.sample_rate,
            channels=stream.codec_context.channels,
        )


def stream_audio(
    path: str | Path, *, name: str | None = None, chunk_seconds: float = 30.0
) -> Iterator[Any]:
    """16 kHz mono float32 numpy chunks of about `chunk_seconds` each, decoded lazily.

    Samples are converted like faster-whisper's own decoder (s16, then / 32768) so results
    match a bare faster-whisper call on the same file. Frames FFmpeg reports as invalid are
    skipped (a damaged stretch of a long recording should not lose the rest); a file that
    yields no sound at all and had errors is reported as unreadable.
    """
    import numpy as np

    av = _av()
    path = Path(path)
    name = name or str(path)
    target = max(1, int(chunk_seconds * SAMPLE_RATE))
    with _open_audio(path, name) as (container, stream):
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        pending: list[Any] = []
        size = 0
        produced = 0
        errors = 0
        last_error: BaseException | None = None

        def frames() -> Iterator[Any]:
            nonlocal errors, last_error
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    return
                except av.error.FFmpegError as exc:
                    errors, last_error = errors + 1, exc
                    return
                try:
                    yield from packet.decode()
                except av.error.FFmpegError as exc:  # one damaged packet: skip it
                    errors, last_error = errors + 1, exc

        def resampled(frame: Any) -> Iterator[Any]:
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)

        for frame in frames():
            for array in resampled(frame):
                pending.append(array)
                size += array.shape[0]
                if size >= target:
                    chunk = np.concatenate(pending).astype(np.float32) / 32768.0
                    pending, size = [], 0
                    produced += chunk.shape[0]
                    yield chunk
        for array in resampled(None):  # flush the resampler
            pending.append(array)
            size += array.shape[0]
        if size:
            produced += size
            yield np.concatenate(pending).astype(np.float32) / 32768.0
        if produced == 0 and errors:
            raise UnreadableInputError(
                f"cannot decode '{name}': {_first_line(last_error or Exception('invalid data'))}",
                hint=_UNSUPPORTED_HINT,
            )


# ---------------------------------------------------------------- inputs: files, folders, S3
def local_item(path: Path, relative: str) -> MediaItem:
    stat = path.stat()
    return MediaItem(
        uri=str(path),
        relative=relative,
        size=stat.st_size,
        fingerprint=f"file:{path}:{stat.st_size}:{stat.st_mtime_ns}",
        path=path,
    )


def list_folder(folder: Path, glob: str | None = None, recursive: bool = True) -> list[MediaItem]:
    """Media files under `folder` (recursively), sorted; hidden files and folders are skipped."""
    items = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for file in sorted(files):
            if file.startswith("."):
                continue
            path = Path(root) / file
            relative = path.relative_to(folder).as_posix()
            if matches(relative, glob):
                items.append(local_item(path.resolve(), relative))
    return items


def expand_inputs(
    inputs: list[str],
    *,
    glob: str | None = None,
    recursive: bool = True,
    endpoint_url: str | None = None,
) -> list[MediaItem]:
    """Files, folders and s3:// URIs → media items, in the order given, without duplicates."""
    if not inputs:
        raise UsageError(
            "no input given", hint="pretrained transcribe talk.mp4 (or a folder, or s3://bucket/)"
        )
    items: list[MediaItem] = []
    for spec in inputs:
        if spec.startswith("s3://"):
            found = s3.list_objects(spec, glob=glob, endpoint_url=endpoint_url)
        else:
            path = Path(spec).expanduser()
            if not path.exists():
                raise InputNotFoundError(
                    f"no such file or folder: {spec}",
                    hint="check the path (relative paths start from the current folder)",
                )
            if path.is_dir():
                found = list_folder(path, glob, recursive)
            else:
                # A file named explicitly is tried whatever its extension; FFmpeg decides.
                found = [local_item(path.resolve(), path.name)]
        if not found:
            where = "objects under" if spec.startswith("s3://") else "media files in"
            raise InputNotFoundError(
                f"no {where} '{spec}'" + (f" match --glob '{glob}'" if glob else ""),
                hint="media files end in " + ", ".join(e.lstrip(".") for e in MEDIA_EXTENSIONS),
            )
        items.extend(found)
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.uri not in seen:
            seen.add(item.uri)
            unique.append(item)
    return unique


__all__ = [
    "AUDIO_EXTENSIONS",
    "MEDIA_EXTENSIONS",
    "SAMPLE_RATE",
    "VIDEO_EXTENSIONS",
    "MediaItem",
    "expand_inputs",
    "list_folder",
    "local_item",
    "probe",
    "stream_audio",
]
