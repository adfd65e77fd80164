"""Test media made on the spot: espeak-ng speech from known sentences, ffmpeg conversions
(mp3, mp4 with and without sound), tone bursts, silence and a corrupt file."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import pytest

# Known text for WER checks. Numbers are written out: Whisper tends to answer with digits
# ("25"), which only the normalizer reconciles.
SENTENCES = {
    "train": (
        "The next train to the city leaves from platform four in ten minutes. Please keep your "
        "ticket with you."
    ),
    "meeting": (
        "Thank you all for coming today. We will start with a short update on the budget. We "
        "expect about twenty five people at the opening."
    ),
    "office": (
        "Please remember to water the plants and close the windows before you leave the "
        "office tonight. The cleaners will arrive at seven."
    ),
}


def require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (scripts/system-deps.sh installs them)")


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def speak(text: str, path: Path, speed: int = 175) -> Path:
    require("espeak-ng")
    run("espeak-ng", "-s", str(speed), "-w", str(path), text)
    return path


def convert(source: Path, target: Path) -> Path:
    require("ffmpeg")
    run("ffmpeg", "-y", "-loglevel", "error", "-i", str(source), str(target))
    return target


def video_with_audio(audio: Path, target: Path) -> Path:
    require("ffmpeg")
    run(
        "ffmpeg", "-y", "-loglevel", "error",
        "-f", "lavfi", "-i", "color=c=navy:s=64x64:r=5",
        "-i", str(audio), "-shortest", "-c:v", "libx264", "-c:a", "aac", str(target),
    )  # fmt: skip
    return target


def video_without_audio(target: Path, seconds: float = 3.0) -> Path:
    require("ffmpeg")
    run(
        "ffmpeg", "-y", "-loglevel", "error",
        "-f", "lavfi", "-i", "color=c=black:s=64x64:r=5", "-t", str(seconds),
        "-c:v", "libx264", str(target),
    )  # fmt: skip
    return target


def concat(parts: list[Path], target: Path, gap_seconds: float = 0.6) -> Path:
    """Join WAV files (same rate) with short pauses between them."""
    frames = b""
    params = None
    for part in parts:
        with wave.open(str(part), "rb") as w:
            params = w.getparams()
            if frames:
                frames += b"\x00\x00" * int(gap_seconds * w.getframerate()) * w.getnchannels()
            frames += w.readframes(w.getnframes())
    assert params is not None
    with wave.open(str(target), "wb") as out:
        out.setparams(params)
        out.writeframes(frames)
    return target


def write_wav(path: Path, samples, rate: int = 16_000) -> Path:
    import numpy as np

    data = (np.clip(np.asarray(samples), -1, 1) * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data)
    return path


def silence(path: Path, seconds: float = 5.0) -> Path:
    import numpy as np

    return write_wav(path, np.zeros(int(seconds * 16_000)))


def bursts(path: Path, seconds: float, every: float, length: float, first: float = 1.0):
    """A tone of `length` s every `every` s from `first`; returns (path, [(start, end)…])."""
    import numpy as np

    rate = 16_000
    audio = np.zeros(int(seconds * rate), dtype=np.float32)
    times = []
    start = first
    while start + length <= seconds:
        a, b = int(start * rate), int((start + length) * rate)
        audio[a:b] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(b - a) / rate)
        times.append((start, start + length))
        start += every
    return write_wav(path, audio, rate), times


def corrupt(path: Path, size: int = 20_000) -> Path:
    import random

    rng = random.Random(4)
    path.write_bytes(bytes(rng.randrange(256) for _ in range(size)))
    return path
