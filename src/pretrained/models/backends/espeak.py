"""The offline default speech engine: espeak-ng (Debian package `espeak-ng`).

espeak-ng is a rule-based formant synthesizer, not a neural model: robotic but instant, small
and available offline on every machine the Makefile/CI set up. It is labelled `neural: False`
so the task can say so. The binary is driven as a subprocess writing a WAV file.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

from ...errors import DependencyError, InvalidOptionError, ModelLoadError

BINARY = "espeak-ng"
DEFAULT_VOICE = "en-us"
BASE_WPM = 175  # espeak-ng's own default speed; --rate 1.0 keeps it
MIN_WPM, MAX_WPM = 80, 450  # espeak-ng clamps outside this range


def binary() -> str:
    path = shutil.which(BINARY) or shutil.which("espeak")
    if path is None:
        raise DependencyError(
            "the espeak-ng speech synthesizer is not installed",
            hint="sudo apt-get install espeak-ng (or pick a Hub model: --model facebook/mms-tts-eng)",
        )
    return path


@functools.lru_cache(maxsize=4)
def _voice_table(exe: str) -> dict[str, str]:
    """lower-case language code / voice name / voice file → the name to pass to -v."""
    out = subprocess.run([exe, "--voices"], capture_output=True, text=True, check=False).stdout
    table: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 5:
            continue
        language, name, file = parts[1], parts[3], parts[4]
        for key in (language, name, file, file.rsplit("/", 1)[-1]):
            table.setdefault(key.lower(), language)
    return table


class EspeakSpeechBackend:
    engine = "espeak-ng"
    neural = False
    revision = None
    device = "cpu"
    sample_rate = 22050
    max_chars = 2000  # espeak-ng has no context limit; chunks only keep memory flat
    load_seconds = 0.0

    def __init__(self) -> None:
        self.exe = binary()
        version = subprocess.run([self.exe, "--version"], capture_output=True, text=True).stdout
        # "eSpeak NG text-to-speech: 1.51  Data at: …"
        self.version = version.split(":")[1].split()[0] if ":" in version else "?"
        self.model_id = f"espeak-ng {self.version}"

    def voices(self) -> list[str]:
        return sorted(set(_voice_table(self.exe).values()))

    def _voice(self, voice: str | None) -> str:
        if not voice:
            return DEFAULT_VOICE
        base, _, variant = voice.partition("+")  # en-us+f3: a voice plus a variant
        known = _voice_table(self.exe).get(base.lower())
        if known is None:
            raise InvalidOptionError(
                f"espeak-ng has no voice '{voice}'",
                hint="pick a language code such as en-us, en-gb, fr-fr, de, es "
                "(all of them: pretrained speak --list-voices)",
            )
        return f"{known}+{variant}" if variant else known

    def synthesize(self, text: str, *, voice: str | None = None, rate: float = 1.0):
        import numpy as np

        wpm = int(min(MAX_WPM, max(MIN_WPM, round(BASE_WPM * rate))))
        with tempfile.TemporaryDirectory(prefix="pretrained-espeak-") as tmp:
            target = Path(tmp) / "out.wav"
            proc = subprocess.run(
                [self.exe, "-v", self._voice(voice), "-s", str(wpm), "-w", str(target), "--stdin"],
                input=text.encode("utf-8"),
                capture_output=True,
                check=False,
            )
            if proc.returncode != 0 or not target.exists():
                message = proc.stderr.decode(errors="replace").strip().splitlines()
                raise ModelLoadError(
                    f"espeak-ng failed: {message[0] if message else f'exit {proc.returncode}'}",
                    hint="check the voice name (pretrained speak --list-voices)",
                )
            with wave.open(str(target)) as wav:
                self.sample_rate = wav.getframerate()
                frames = wav.readframes(wav.getnframes())
        return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


def load_speech_backend(resolved: Any, **options: Any) -> EspeakSpeechBackend:  # noqa: ARG001
    start = time.time()
    backend = EspeakSpeechBackend()
    backend.load_seconds = time.time() - start
    return backend
