"""Text to speech: the espeak-ng engine (offline default) and a tiny random VITS (HF engine)."""

import shutil
import wave

import numpy as np
import pytest

from pretrained import runlog
from pretrained.errors import InvalidOptionError
from pretrained.media import audio_duration
from pretrained.tasks.speak import SpeakOptions, speak, split_sentences
from tests.helpers import assert_one_line_error

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng not installed (scripts/system-deps.sh)"
)


def test_split_sentences():
    assert split_sentences("Hello there. How are you?  Fine!\n\nNew paragraph") == [
        "Hello there.",
        "How are you?",
        "Fine!",
        "New paragraph",
    ]
    long = "word " * 50 + "end, then a clause; and more words here."
    chunks = split_sentences(long, max_chars=60)
    assert all(len(c) <= 60 for c in chunks) and " ".join(chunks) == " ".join(long.split())
    assert split_sentences("   ") == []


@needs_espeak
def test_espeak_duration_grows_with_text(tmp_path):
    short = speak("Hello.", out=tmp_path / "short.wav")
    longer = speak(
        "Hello. Welcome to the workshop on pre-trained models. "
        "Today we turn text into speech, offline.",
        out=tmp_path / "long.wav",
    )
    assert short.engine == "espeak-ng" and short.neural is False
    assert 0.2 < short.duration_s < longer.duration_s
    assert longer.sentences == 3
    with wave.open(str(tmp_path / "long.wav")) as wav:  # a playable PCM WAV
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        assert wav.getnframes() / wav.getframerate() == pytest.approx(longer.duration_s, abs=0.01)
    assert np.abs(longer.samples).max() > 0.05  # not silence


@needs_espeak
def test_espeak_rate_and_voice(tmp_path):
    text = "The quick brown fox jumps over the lazy dog."
    normal = speak(text)
    fast = speak(text, options=SpeakOptions(rate=2.0))
    assert fast.duration_s < normal.duration_s * 0.75
    assert speak(text, options=SpeakOptions(voice="en-gb+f3")).duration_s > 0
    with pytest.raises(InvalidOptionError, match="no voice"):
        speak(text, options=SpeakOptions(voice="no-such-voice"))


@needs_espeak
@pytest.mark.parametrize("suffix", [".mp3", ".ogg"])
def test_compressed_formats(tmp_path, suffix):
    result = speak("Hello world. This is compressed audio.", out=tmp_path / f"x{suffix}")
    assert result.format == suffix[1:]
    assert audio_duration(tmp_path / f"x{suffix}") == pytest.approx(result.duration_s, abs=0.15)


def test_vits_engine(tiny_vits_dir, tmp_path):
    with runlog.track("speak"):
        result = speak(
            "Hello world. A tiny random voice!", str(tiny_vits_dir), out=tmp_path / "v.wav"
        )
    assert result.engine == "transformers" and result.neural is True
    assert result.sample_rate == 16000 and result.sentences == 2 and result.duration_s > 0
    assert audio_duration(tmp_path / "v.wav") == pytest.approx(result.duration_s, abs=0.01)
    row = runlog.recent(1)[0]
    assert row["task"] == "text-to-speech" and row["model"] == str(tiny_vits_dir)
    assert row["extra"]["neural"] is True


def test_vits_rate_changes_duration(tiny_vits_dir):
    import torch

    torch.manual_seed(0)
    slow = speak("hello world", str(tiny_vits_dir), SpeakOptions(rate=0.5))
    torch.manual_seed(0)
    fast = speak("hello world", str(tiny_vits_dir), SpeakOptions(rate=2.0))
    assert slow.duration_s > fast.duration_s


def test_vits_single_speaker_refuses_voice(tiny_vits_dir):
    with pytest.raises(InvalidOptionError, match="speaker id"):
        speak("hello", str(tiny_vits_dir), SpeakOptions(voice="3"))


@pytest.mark.parametrize("rate", [0, -1, 10, float("nan")])
def test_bad_rate(rate):
    with pytest.raises(InvalidOptionError, match="--rate"):
        SpeakOptions(rate=rate).validate()


@needs_espeak
def test_cli_speak(cli, tmp_path):
    out = tmp_path / "welcome.wav"
    result = cli("speak", "Welcome to the workshop", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out) and audio_duration(out) > 0.5
    assert "NOT a neural model" in result.stderr
    data = cli("speak", "-", "--out", tmp_path / "s.ogg", "--json", input="Hi. Bye.").json()
    assert data["sentences"] == 2 and data["neural"] is False and data["format"] == "ogg"
    text = tmp_path / "t.txt"
    text.write_text("From a file.")
    assert cli("speak", "--file", text, "--out", tmp_path / "f.wav").exit_code == 0
    voices = cli("speak", "--list-voices")
    assert voices.exit_code == 0 and "en-us" in voices.stdout.split()


def test_cli_speak_hf_model(cli, tiny_vits_dir, tmp_path):
    result = cli(
        "speak", "Hello there.", "--model", tiny_vits_dir, "--out", tmp_path / "v.mp3", "--json"
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["engine"] == "transformers" and result.json()["format"] == "mp3"


@pytest.mark.parametrize(
    "args, code, contains",
    [
        (["hello", "--out", "x.flac"], 2, "cannot write audio"),
        (["hello", "--rate", "0"], 2, "--rate"),
        (["", "--out", "x.wav"], 1, "empty"),
        (["hello", "--voice", "no-such-voice"], 2, "no voice"),
        (["hello", "--model", "./missing-model"], 1, "no model at"),
    ],
)
def test_cli_speak_bad_inputs(cli, tmp_path, monkeypatch, args, code, contains):
    monkeypatch.chdir(tmp_path)
    if code == 2 and "--voice" in args and shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    assert_one_line_error(cli("speak", *args), code, contains)


def test_missing_espeak_is_one_line(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    from pretrained import models

    models.unload_all()
    result = cli("speak", "hello", "--out", tmp_path / "x.wav")
    assert_one_line_error(result, 1, "espeak-ng")
    assert "apt-get install espeak-ng" in result.stderr
