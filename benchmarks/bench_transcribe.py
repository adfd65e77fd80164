"""Transcription: `pretrained.tasks.transcribe` vs a bare faster-whisper call, same file, same
model instance, same knobs (beam 5, VAD on), alternating runs. Figures: real-time factor (lower
is better), our overhead, peak RSS of a fresh process (2-minute and 10-minute files), and WER on
the known text with and without Whisper's English normalizer.

The audio is synthetic speech made here with espeak-ng (≥ 2 minutes) from the text below."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import PEAK_RSS_SOURCE, median_of

PASSAGE = [
    "The next train to the city leaves from platform four in ten minutes.",
    "Please keep your ticket with you until the end of the journey.",
    "Thank you all for coming today.",
    "We will start with a short update on the budget for the coming year.",
    "The library opens at nine in the morning and closes at six in the evening.",
    "Children under twelve can borrow up to five books at a time.",
    "Please remember to water the plants and close the windows before you leave the office.",
    "The cleaners will arrive at seven and they will need the keys to the storage room.",
    "My grandmother grows tomatoes, beans and sunflowers in her garden every summer.",
    "Last year she sold more than two hundred jars of jam at the village market.",
    "The bridge was closed for repairs for three weeks in the spring.",
    "Drivers had to take a long detour through the hills to reach the harbour.",
    "Our team met on Monday to plan the opening of the new museum.",
    "We expect about twenty five people at the first guided tour.",
    "The weather today will be sunny with a light breeze from the west.",
    "In the afternoon the temperature should rise to eighteen degrees.",
    "The kitchen will serve soup, bread and fresh fruit at lunch time.",
    "Anyone with an allergy should speak to the chef before ordering.",
    "The concert starts at eight and the doors open half an hour earlier.",
    "Tickets cost fifteen pounds for adults and free entry for students.",
]

BARE = (
    PEAK_RSS_SOURCE
    + """
import sys, time
from faster_whisper import WhisperModel
model = WhisperModel(sys.argv[1], compute_type="int8")
segments, info = model.transcribe(sys.argv[2], beam_size=5, vad_filter=True)
text = " ".join(s.text.strip() for s in segments)
print(peak_rss_mib())
"""
)
OURS = (
    PEAK_RSS_SOURCE
    + """
import sys
from pretrained.tasks.transcribe import transcribe
result = transcribe(sys.argv[2], model=sys.argv[1])
print(peak_rss_mib())
"""
)


def synthesize(folder: Path, repeat: int) -> tuple[Path, str]:
    """espeak-ng speech of the passage, `repeat` times (each ≈ 1 minute), as one WAV."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("needs espeak-ng (scripts/system-deps.sh installs it)")
    text = " ".join(PASSAGE * repeat)
    path = folder / f"speech-{repeat}.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path, text


def peak_rss_mb(script: str, model_dir: Path, audio: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", script, str(model_dir), str(audio)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def run(args) -> list[dict]:
    from pretrained.models import load_transcriber
    from pretrained.models.registry import SPEECH_RECOGNITION, resolve
    from pretrained.sources.audio import probe
    from pretrained.tasks.transcribe import transcribe, word_error_rate

    model_dir = resolve("whisper-tiny.en", task=SPEECH_RECOGNITION).path
    backend = load_transcriber("whisper-tiny.en")
    bare_model = backend.model  # the very same faster_whisper.WhisperModel
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-transcribe-") as tmp:
        audio, reference = synthesize(Path(tmp), repeat=2)
        seconds = probe(audio).duration or 0.0
        assert seconds >= 120, f"synthetic speech is only {seconds:.0f}s"
        texts: dict[str, str] = {}

        def ours() -> None:
            texts["ours"] = transcribe(audio, backend=backend).text

        def bare() -> None:
            segments, _ = bare_model.transcribe(str(audio), beam_size=5, vad_filter=True)
            texts["bare"] = " ".join(s.text.strip() for s in segments)

        ours(), bare()  # warm-up (VAD model, caches)
        wall: dict[str, list[float]] = {"ours": [], "bare": []}
        cpu: dict[str, list[float]] = {"ours": [], "bare": []}
        for _ in range(max(1, min(args.repeat, 2))):  # alternate: the same machine state
            for name, fn in (("ours", ours), ("bare", bare)):
                began_cpu = time.process_time()  # all threads of this process
                wall[name].append(median_of(fn, 1)[0])
                cpu[name].append(time.process_time() - began_cpu)
        ours_s, bare_s = statistics.median(wall["ours"]), statistics.median(wall["bare"])
        ours_cpu, bare_cpu = statistics.median(cpu["ours"]), statistics.median(cpu["bare"])
        rows.append(
            {
                "name": f"real-time factor, {seconds:.0f}s espeak speech (tiny.en int8, CPU)",
                "ours": ours_s / seconds,
                "baseline": bare_s / seconds,
                "baseline_name": "bare faster-whisper transcribe()",
                "unit": "s/s audio",
                "higher_is_better": False,
                "note": f"wall seconds ours {[round(t, 2) for t in wall['ours']]} "
                f"bare {[round(t, 2) for t in wall['bare']]}",
            }
        )
        rows.append(
            {
                "name": "overhead vs bare faster-whisper, CPU time (median)",
                "ours": 100 * (ours_cpu / bare_cpu - 1),
                "unit": "%",
                "higher_is_better": False,
                "note": f"CPU seconds ours {[round(t, 2) for t in cpu['ours']]} "
                f"bare {[round(t, 2) for t in cpu['bare']]}; wall-clock overhead "
                f"{100 * (ours_s / bare_s - 1):+.1f}%",
            }
        )
        for name, normalize, label in (
            ("WER, Whisper English normalizer (numbers, punctuation, case)", "english", "english"),
            ("WER, basic normalizer (punctuation, case)", "basic", "basic"),
        ):
            rows.append(
                {
                    "name": name,
                    "ours": 100 * word_error_rate(reference, texts["ours"], normalize),
                    "baseline": 100 * word_error_rate(reference, texts["ours"], None),
                    "baseline_name": "same transcript, no normalizer",
                    "unit": "% WER",
                    "higher_is_better": False,
                    "note": f"{label}; bare faster-whisper transcript: "
                    f"{100 * word_error_rate(reference, texts['bare'], normalize):.1f}%",
                }
            )
        long_audio, _ = synthesize(Path(tmp), repeat=4)
        long_s = probe(long_audio).duration or 0.0
        for audio_path, length in ((audio, seconds), (long_audio, long_s)):
            rows.append(
                {
                    "name": f"peak RSS, fresh process, {length / 60:.0f}-minute file",
                    "ours": peak_rss_mb(OURS, model_dir, audio_path),
                    "baseline": peak_rss_mb(BARE, model_dir, audio_path),
                    "baseline_name": "bare faster-whisper (decodes the whole file)",
                    "unit": "MB",
                    "higher_is_better": False,
                }
            )
    print("   transcript (ours):", json.dumps(texts["ours"][:160]) + "…", flush=True)
    return rows
