"""Transcription with the real embedded Whisper tiny.en on espeak-ng speech: formats, WER,
re-runs, a kill -9 midway, S3 (SeaweedFS), silence, corrupt files, other model sources."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pretrained.tasks.transcribe import word_error_rate
from tests import media
from tests.helpers import assert_one_line_error

pytestmark = pytest.mark.integration

FORMATS = ("txt", "srt", "vtt", "json")


def _corpus_wer(pairs: list[tuple[str, str]], normalize: str | None = "english") -> float:
    """WER over all files together (word-weighted), as jiwer computes it for lists."""
    import jiwer

    from pretrained.tasks.transcribe import normalizer

    norm = normalizer(normalize)
    return jiwer.wer([norm(r) for r, _ in pairs], [norm(h) for _, h in pairs])


def test_a_folder_of_wav_mp3_mp4_transcribes_to_all_formats_and_reruns_skip(
    cli, speech_dir, tmp_path
):
    out = tmp_path / "out"
    result = cli("transcribe", speech_dir, "--output", out)
    assert result.exit_code == 0, result.stderr
    assert "3 inputs: 3 done, 0 skipped, 0 failed" in result.stderr
    pairs = []
    for stem in ("train", "meeting", "office"):
        for fmt in FORMATS:
            assert (out / f"{stem}.{fmt}").stat().st_size > 0, (stem, fmt)
        data = json.loads((out / f"{stem}.json").read_text())
        assert data["language"] == "en" and data["model"] == "whisper-tiny.en"
        assert data["engine"] == "faster-whisper" and data["compute_type"] == "int8"
        assert 5 < data["duration"] < 20
        starts = [s["start"] for s in data["segments"]]
        assert starts == sorted(starts) and all(s["end"] > s["start"] for s in data["segments"])
        assert (out / f"{stem}.txt").read_text().split() == data["text"].split()
        srt = (out / f"{stem}.srt").read_text()
        assert srt.count(" --> ") == len(data["segments"])
        assert (out / f"{stem}.vtt").read_text().startswith("WEBVTT")
        pairs.append((media.SENTENCES[stem], data["text"]))
    normalized, raw = _corpus_wer(pairs), _corpus_wer(pairs, None)
    assert normalized <= 0.08, pairs
    assert raw > normalized  # case, punctuation and "twenty five" vs "25" count without it
    assert not list(out.glob(".*"))  # no temp files left

    again = cli("transcribe", speech_dir, "--output", out)
    assert again.exit_code == 0
    assert "3 inputs: 0 done, 3 skipped, 0 failed" in again.stderr
    assert "model:" not in again.stderr  # nothing to transcribe: the model is not even loaded


def test_one_file_word_timestamps_and_language(cli, speech_dir, tmp_path):
    source = shutil.copy(speech_dir / "train.wav", tmp_path / "train.wav")
    result = cli("transcribe", source, "--word-timestamps", "--format", "json,txt")
    assert result.exit_code == 0, result.stderr
    assert word_error_rate(media.SENTENCES["train"], result.stdout) <= 0.1
    data = json.loads((tmp_path / "train.json").read_text())
    for segment in data["segments"]:
        words = segment["words"]
        assert words and all(w["start"] <= w["end"] for w in words)
        assert (
            segment["start"] - 0.5 <= words[0]["start"] and words[-1]["end"] <= segment["end"] + 0.5
        )
        assert "".join(w["word"] for w in words).strip() == segment["text"]
    assert_one_line_error(cli("transcribe", source, "--language", "fr"), 2, "English-only")


def test_silence_corrupt_file_and_a_video_without_sound(cli, speech_dir, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(speech_dir / "train.wav", folder / "train.wav")
    media.silence(folder / "quiet.wav", 10)
    media.corrupt(folder / "broken.mp3")
    media.video_without_audio(folder / "mute.mp4")
    result = cli("transcribe", folder, "--format", "txt,json")
    assert result.exit_code == 1
    assert "4 inputs: 2 done, 0 skipped, 2 failed" in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2
    assert any("broken.mp3" in e and "cannot decode" in e for e in errors)
    assert any("mute.mp4" in e and "no audio track" in e for e in errors)
    assert (folder / "quiet.txt").read_text() == "\n"  # silence: nothing invented
    assert word_error_rate(media.SENTENCES["train"], (folder / "train.txt").read_text()) <= 0.1

    # without VAD Whisper says "You" to silence; the hallucination guard drops it
    no_vad = cli("transcribe", folder / "quiet.wav", "--no-vad", "--format", "json")
    assert no_vad.exit_code == 0
    data = json.loads((folder / "quiet.json").read_text())
    assert data["text"] == "" and data["options"]["vad"] is False


def _long_speech(folder: Path, work: Path) -> tuple[Path, str]:
    """~80 s of espeak speech (the three passages, repeated with variations)."""
    parts, text = [], []
    for i in range(3):
        for key in ("train", "meeting", "office"):
            sentence = media.SENTENCES[key] + f" This was part {i + 1} of {key}."
            parts.append(media.speak(sentence, work / f"{key}-{i}.wav"))
            text.append(sentence)
    return media.concat(parts, folder / "b_long.wav"), " ".join(text)


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "PRETRAINED_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("PRETRAINED_DEBUG", None)
    return env


def test_kill_9_midway_then_rerun_finishes_with_nothing_missing_or_doubled(speech_dir, tmp_path):
    folder, work, out = tmp_path / "in", tmp_path / "work", tmp_path / "out"
    folder.mkdir(), work.mkdir()
    shutil.copy(speech_dir / "train.wav", folder / "a_short.wav")
    long_path, long_text = _long_speech(folder, work)
    shutil.copy(speech_dir / "meeting.mp3", folder / "c_short.mp3")
    home = tmp_path / "home"
    command = [sys.executable, "-m", "pretrained", "transcribe", str(folder), "--output", str(out)]
    command += ["--window-seconds", "60"]

    proc = subprocess.Popen(command, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    checkpoint = None
    while time.time() < deadline and proc.poll() is None and checkpoint is None:
        checkpoint = (
            next((home / "jobs").glob("*/checkpoint.json"), None) if home.exists() else None
        )
        time.sleep(0.05)
    assert checkpoint is not None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)  # mid-transcription of b_long.wav, after its 1st window
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (out / "a_short.json").exists() and not (out / "b_long.json").exists()
    assert not (out / "c_short.txt").exists()

    rerun = subprocess.run(command, env=_env(home), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "3 inputs: 2 done, 1 skipped, 0 failed" in rerun.stderr
    long_line = next(line for line in rerun.stdout.splitlines() if "b_long.wav" in line)
    assert long_line.startswith("done") and "resumed at" in long_line
    expected = {f"{stem}.{fmt}" for stem in ("a_short", "b_long", "c_short") for fmt in FORMATS}
    assert {p.name for p in out.iterdir()} == expected  # nothing missing, no temp files
    data = json.loads((out / "b_long.json").read_text())
    assert data["duration"] > 70 and data["timings"]["resumed_at"] > 0
    starts = [s["start"] for s in data["segments"]]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    # nothing doubled or lost at the window edges or at the resume point
    assert word_error_rate(long_text, data["text"]) <= 0.08
    jobs = subprocess.run(
        [sys.executable, "-m", "pretrained", "jobs", "list", "--json"],
        env=_env(home), capture_output=True, text=True, check=True,
    )  # fmt: skip
    listed = json.loads(jobs.stdout)
    assert len(listed) == 3 and {j["status"] for j in listed} == {"done"}
    assert not list((home / "jobs").glob("*/checkpoint.json"))


def test_an_s3_prefix_transcribes_then_skips_without_downloading(
    cli, aws_env, speech_dir, tmp_path, monkeypatch
):
    client = aws_env.client()
    prefix = f"{uuid.uuid4().hex[:8]}/talks/2026"
    for name in ("train.wav", "meeting.mp3", "office.mp4"):
        client.upload_file(str(speech_dir / name), aws_env.bucket, f"{prefix}/{name}")
    client.put_object(Bucket=aws_env.bucket, Key=f"{prefix}/README.txt", Body=b"not media")
    uri = f"s3://{aws_env.bucket}/{prefix}/"
    out = tmp_path / "out"
    args = ["transcribe", uri, "--endpoint-url", aws_env.url, "--output", out]

    result = cli(*args, "--format", "txt,json")
    assert result.exit_code == 0, result.stderr
    assert "3 inputs: 3 done, 0 skipped, 0 failed" in result.stderr
    for stem in ("train", "meeting", "office"):
        text = (out / f"{stem}.txt").read_text()
        assert word_error_rate(media.SENTENCES[stem], text) <= 0.15, (stem, text)
    sources = {json.loads(p.read_text())["source"] for p in out.glob("*.json")}
    assert sources == {uri + name for name in ("train.wav", "meeting.mp3", "office.mp4")}
    from pretrained.sources import s3

    assert list(s3.temp_dir().iterdir()) == []  # downloads removed

    def no_downloads(*a, **k):
        raise AssertionError("a finished object was downloaded again")

    with monkeypatch.context() as patch:
        patch.setattr(s3, "download_to_temp", no_downloads)
        again = cli(*args, "--format", "txt,json")
    assert again.exit_code == 0, again.stderr
    assert "3 inputs: 0 done, 3 skipped, 0 failed" in again.stderr

    media.convert(speech_dir / "train.wav", tmp_path / "train.flac")  # a new recording arrives
    client.upload_file(str(tmp_path / "train.flac"), aws_env.bucket, f"{prefix}/late/train.flac")
    third = cli(*args, "--format", "txt")
    assert third.exit_code == 0, third.stderr
    assert "4 inputs: 1 done, 3 skipped, 0 failed" in third.stderr
    assert (out / "late" / "train.txt").exists()


def test_local_ct2_folders_and_hub_ids_load_too(fake_hub, tmp_path, speech_dir, monkeypatch):
    from pretrained.errors import UnsupportedModelError
    from pretrained.models import load_transcriber, unload_all
    from pretrained.models.registry import SPEECH_RECOGNITION, resolve
    from pretrained.tasks.transcribe import transcribe
    from tests import tiny

    embedded = resolve("whisper-tiny.en", task=SPEECH_RECOGNITION).path
    local = tmp_path / "my-whisper"
    shutil.copytree(embedded, local)
    result = transcribe(speech_dir / "train.wav", model=str(local))
    assert (
        result.model == str(local) and word_error_rate(media.SENTENCES["train"], result.text) <= 0.1
    )

    repo = fake_hub.add_folder("Systran/faster-whisper-tiny.en", embedded)
    unload_all()
    for name in ("Systran/faster-whisper-tiny.en", "tiny.en"):  # Hub id, faster-whisper short name
        backend = load_transcriber(name)
        assert backend.model_id == "Systran/faster-whisper-tiny.en"
        assert backend.revision == repo.sha
    fake_hub.add_folder("org/tiny-gpt2", tiny.gpt2_dir(tmp_path / "gpt2"))
    with pytest.raises(UnsupportedModelError, match="not a CTranslate2 model"):
        load_transcriber("org/tiny-gpt2")
    gpt2 = [path for _, path in fake_hub.requests if "tiny-gpt2" in path]
    assert gpt2 and not any(path.endswith((".safetensors", ".bin")) for path in gpt2)
    with pytest.raises(UnsupportedModelError, match="faster-whisper"):
        load_transcriber(str(tmp_path / "gpt2"))
    unload_all()
