"""Images, audio, video and tables in: a local path or an http(s) URL, checked before any model
loads, so a wrong input type fails in one line instead of deep inside a pipeline."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..errors import InputError, InputNotFoundError, NetworkError, UnreadableInputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
AUDIO_SUFFIXES = {".wav", ".mp3", ".ogg", ".flac", ".m4a", ".opus", ".aac", ".webm"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm"}


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def media_kind(value: str) -> str | None:
    """'image' / 'audio' / 'video' when `value` names an existing media file, else None."""
    path = Path(value).expanduser()
    suffix = path.suffix.lower()
    if not (is_url(value) or path.is_file()):
        return None
    for kind, suffixes in (
        ("image", IMAGE_SUFFIXES),
        ("audio", AUDIO_SUFFIXES - {".webm"}),
        ("video", VIDEO_SUFFIXES),
    ):
        if suffix in suffixes:
            return kind
    return None


def fetch(url: str) -> bytes:
    """GET a URL with httpx (redirects followed); errors become our error tree."""
    import httpx

    try:
        response = httpx.get(url, follow_redirects=True, timeout=30)
    except httpx.HTTPError as exc:
        raise NetworkError(f"could not download {url}: {exc}") from exc
    if response.status_code == 404:
        raise InputNotFoundError(f"{url} answered 404 Not Found", hint="check the address")
    if response.status_code >= 400:
        raise NetworkError(f"{url} answered HTTP {response.status_code}")
    return response.content


def _local(value: str, what: str, example: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise InputNotFoundError(
            f"this task takes {what}, and '{_short(value)}' is neither an existing file nor an "
            "http(s) URL",
            hint=f"pass a path or URL, e.g. {example}",
        )
    if path.is_dir():
        raise UnreadableInputError(f"'{path}' is a folder, not {what}", hint="pass a file path")
    return path


def _short(value: str, limit: int = 60) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def read_image(value: str) -> Any:
    """A PIL image (RGB) from a path or URL."""
    from PIL import Image, UnidentifiedImageError

    if is_url(value):
        data, name = fetch(value), value
    else:
        path = _local(value, "an image file or URL", "photo.jpg")
        data, name = path.read_bytes(), str(path)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise UnreadableInputError(
            f"'{_short(name)}' is not an image this tool can read",
            hint="pass a PNG, JPEG, WebP, GIF, BMP or TIFF file",
        ) from exc
    return image.convert("RGB")


def read_audio(value: str, sampling_rate: int) -> Any:
    """Mono float32 samples at `sampling_rate` from a path or URL (decoded with PyAV)."""
    import numpy as np

    try:
        import av
    except ImportError as exc:
        from ..errors import missing_dependency

        raise missing_dependency("av", "audio") from exc
    if is_url(value):
        source: Any = io.BytesIO(fetch(value))
        name = value
    else:
        source = str(_local(value, "an audio file or URL", "speech.wav"))
        name = source
    chunks = []
    try:
        with av.open(source) as container:
            if not container.streams.audio:
                raise UnreadableInputError(
                    f"'{_short(name)}' has no audio track", hint="pass a wav/mp3/ogg/flac/m4a file"
                )
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sampling_rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except av.error.FFmpegError as exc:
        raise UnreadableInputError(
            f"'{_short(name)}' is not an audio file this tool can decode",
            hint="pass a wav/mp3/ogg/flac/m4a file",
        ) from exc
    if not chunks:
        raise InputError(f"'{_short(name)}' contains no audio samples")
    return np.concatenate(chunks).astype(np.float32)


def read_video(value: str) -> str:
    """A local path or URL for a video pipeline (which decodes it itself)."""
    if is_url(value):
        return value
    return str(_local(value, "a video file or URL", "clip.mp4"))


def read_table(value: str) -> dict[str, list[str]]:
    """A CSV file as {column: [cells]} (what the table-question-answering pipeline takes)."""
    import csv

    from .files import read_text_file

    path = _local(value, "a table (.csv file)", "table.csv")
    rows = list(csv.reader(io.StringIO(read_text_file(path))))
    if len(rows) < 2:
        raise InputError(f"'{path}' needs a header row and at least one data row")
    header = rows[0]
    return {
        name: [row[i] if i < len(row) else "" for row in rows[1:]] for i, name in enumerate(header)
    }
