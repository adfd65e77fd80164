"""Files out: audio (wav / mp3 / ogg) and images (PNG with text metadata).

WAV is written with the standard library; mp3 (LAME) and ogg (Opus) are encoded with PyAV (the
`audio` extra, which bundles the ffmpeg libraries), so no system ffmpeg is needed.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InvalidOptionError, OutputError, missing_dependency

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

AUDIO_FORMATS = {".wav": "wav", ".mp3": "mp3", ".ogg": "ogg"}
IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


def check_output(path: str | Path, formats: dict[str, str], what: str) -> Path:
    """Validate an output path before any work is done: known extension, writable folder."""
    target = Path(path).expanduser()
    if target.suffix.lower() not in formats:
        raise InvalidOptionError(
            f"cannot write {what} as '{target.suffix or target.name}'",
            hint=f"end --out with one of: {', '.join(formats)}",
        )
    if target.is_dir():
        raise OutputError(
            f"--out '{target}' is a folder", hint=f"give a file name, e.g. {what}.png"
        )
    parent = target.parent
    if not parent.exists():
        raise OutputError(
            f"the folder '{parent}' does not exist", hint=f"create it first: mkdir -p {parent}"
        )
    return target


def numbered(path: Path, count: int) -> list[Path]:
    """out.png → [out.png] for one file, [out-1.png, out-2.png, …] for several."""
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(1, count + 1)]


# ---------------------------------------------------------------- audio
def to_int16(samples: np.ndarray) -> np.ndarray:
    import numpy as np

    mono = np.asarray(samples, dtype=np.float32).reshape(-1)
    return (np.clip(mono, -1.0, 1.0) * 32767.0).astype("<i2")


def write_audio(path: str | Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write mono float samples in [-1, 1]; the format follows the file extension."""
    target = check_output(path, AUDIO_FORMATS, "audio")
    fmt = AUDIO_FORMATS[target.suffix.lower()]
    pcm = to_int16(samples)
    try:
        if fmt == "wav":
            with wave.open(str(target), "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(int(sample_rate))
                wav.writeframes(pcm.tobytes())
        else:
            _encode(target, fmt, pcm, int(sample_rate))
    except OSError as exc:
        raise OutputError(f"cannot write '{target}': {exc.strerror or exc}") from exc
    return target


def _encode(target: Path, fmt: str, pcm: np.ndarray, sample_rate: int) -> None:
    try:
        import av
    except ImportError as exc:
        raise missing_dependency("av", "audio") from exc
    # mp3: LAME; ogg: Opus in an Ogg container (PyAV's ffmpeg has no libvorbis encoder).
    # Both take only some sample rates: keep ours when allowed, else resample.
    codec = "libmp3lame" if fmt == "mp3" else "libopus"
    allowed = av.codec.Codec(codec, "w").audio_rates or ()
    rate = sample_rate if not allowed or sample_rate in allowed else max(allowed)
    with av.open(str(target), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = sample_rate
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def audio_duration(path: str | Path) -> float:
    """Seconds of audio in a file (any format PyAV reads; WAV without it)."""
    target = Path(path)
    if target.suffix.lower() == ".wav":
        with wave.open(str(target)) as wav:
            return wav.getnframes() / wav.getframerate()
    import av

    with av.open(str(target)) as container:
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return sum(frame.samples for frame in container.decode(stream)) / stream.rate


# ---------------------------------------------------------------- images
def save_image(image: Any, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Save a PIL image; PNG files get `metadata` as tEXt/iTXt chunks (prompt, seed, model …)."""
    target = check_output(path, IMAGE_FORMATS, "image")
    fmt = IMAGE_FORMATS[target.suffix.lower()]
    kwargs: dict[str, Any] = {}
    if fmt == "png" and metadata:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for key, value in metadata.items():
            if value is not None:
                info.add_itxt(key, str(value))
        kwargs["pnginfo"] = info
    if fmt == "jpeg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    try:
        image.save(target, format=fmt.upper(), **kwargs)
    except OSError as exc:
        raise OutputError(f"cannot write '{target}': {exc.strerror or exc}") from exc
    return target


def png_metadata(path: str | Path) -> dict[str, str]:
    from PIL import Image

    with Image.open(path) as image:
        return dict(getattr(image, "text", {}) or {})
