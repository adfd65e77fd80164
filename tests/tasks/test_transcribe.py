"""tasks/transcribe.py on the scripted speech engine: options, windows, resume, guard, renderers."""

from __future__ import annotations

import json

import pytest

from pretrained.errors import (
    InputNotFoundError,
    InvalidOptionError,
    NoAudioTrackError,
    UnreadableInputError,
)
from pretrained.models.backends.scripted import ScriptedTranscriber
from pretrained.models.backends.transcription import Segment, Word
from pretrained.tasks.transcribe import (
    Checkpoint,
    HallucinationGuard,
    TranscribeOptions,
    TranscribeResult,
    parse_formats,
    timecode,
    transcribe,
    word_error_rate,
)
from tests import media


@pytest.mark.parametrize(
    "kwargs, flag",
    [
        ({"beam_size": 0}, "--beam-size"),
        ({"beam_size": 2.5}, "--beam-size"),
        ({"task": "summarise"}, "--task"),
        ({"language": "English"}, "--language"),
        ({"language_detection_segments": 0}, "--language-detection-segments"),
        ({"window_seconds": 10}, "--window-seconds"),
        ({"temperature": 0.5}, "unknown transcription option"),
    ],
)
def test_bad_options_are_usage_errors(kwargs, flag):
    with pytest.raises(InvalidOptionError) as info:
        TranscribeOptions.from_kwargs(**kwargs)
    assert flag in info.value.message
    assert info.value.exit_code == 2


def test_formats_parse_validate_and_keep_a_stable_order():
    assert parse_formats("vtt,txt") == ("txt", "vtt")
    assert parse_formats(["srt", "json,txt"]) == ("txt", "srt", "json")
    assert parse_formats("all") == ("txt", "srt", "vtt", "json")
    for bad in ("pdf", "srt,docx", ","):
        with pytest.raises(InvalidOptionError):
            parse_formats(bad)


def test_timecodes():
    assert timecode(3723.004) == "01:02:03,004"
    assert timecode(61.5, ".") == "00:01:01.500"
    assert timecode(750.4, millis=False) == "00:12:30"
    assert timecode(-1) == "00:00:00,000"


def _result() -> TranscribeResult:
    return TranscribeResult(
        source="talk.wav",
        segments=[
            Segment(0.0, 1.5, " Hello, world.", [Word(0.0, 0.7, " Hello,", 0.9)]),
            Segment(3723.004, 3725.0, " Second <line> & more"),
        ],
        language="en",
        language_probability=0.99,
        duration=3726.0,
        model="scripted",
    )


def test_renderers():
    result = _result()
    assert result.text == "Hello, world. Second <line> & more"
    assert result.render("txt") == "Hello, world.\nSecond <line> & more\n"
    srt = result.render("srt")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,500\nHello, world.\n\n2\n01:02:03,004 --> ")
    vtt = result.render("vtt")
    assert vtt.startswith("WEBVTT\n\n") and "01:02:03.004 --> 01:02:05.000" in vtt
    data = json.loads(result.render("json"))
    assert data["segments"][0] == {
        "id": 0,
        "start": 0.0,
        "end": 1.5,
        "text": "Hello, world.",
        "words": [{"start": 0.0, "end": 0.7, "word": " Hello,", "probability": 0.9}],
    }
    assert data["language"] == "en" and data["duration"] == 3726.0
    again = TranscribeResult.from_dict(data)
    assert again.render("srt") == srt and again.segments[0].words[0].text == " Hello,"
    with pytest.raises(InvalidOptionError):
        result.render("docx")


def test_an_empty_transcript_renders_empty_files():
    empty = TranscribeResult("s.wav", [], "en", 1.0, 5.0, "scripted")
    assert empty.render("txt") == "\n"
    assert empty.render("srt") == ""
    assert empty.render("vtt") == "WEBVTT\n\n"


def test_transcript_loading_refuses_other_json(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(UnreadableInputError, match="not a transcript"):
        TranscribeResult.load(other)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(UnreadableInputError, match="not JSON"):
        TranscribeResult.load(broken)
    good = tmp_path / "good.json"
    good.write_text(_result().render("json"))
    assert TranscribeResult.load(good).text == _result().text


def test_guard_drops_loops_repetitive_text_and_non_speech():
    guard = HallucinationGuard()
    loop = [Segment(i, i + 1, " Thank you for watching.") for i in range(5)]
    kept = [s for s in loop if guard.keep(s)]
    assert len(kept) == 2 and guard.dropped == 3
    stutter = Segment(9, 10, " the the the the the the the the the the the the the the the")
    assert not guard.keep(stutter)
    assert not guard.keep(Segment(10, 11, " You", avg_logprob=-0.82, no_speech_prob=0.94))
    assert not guard.keep(Segment(11, 12, " ... "))
    assert guard.keep(Segment(12, 13, " A real sentence, at last.", no_speech_prob=0.3))
    # a confident transcript in a window Whisper scores as 92 % "no speech" is speech
    assert guard.keep(Segment(13, 14, " Clear words.", avg_logprob=-0.26, no_speech_prob=0.92))
    assert guard.dropped == 5


WORDS = [f"word{i}" for i in range(1000)]  # distinct, or the loop guard would drop them


def test_windows_cover_every_burst_once_with_file_times(tmp_path):
    path, times = media.bursts(tmp_path / "tones.wav", seconds=200, every=7.3, length=1.2)
    backend = ScriptedTranscriber(WORDS)
    options = TranscribeOptions(window_seconds=60)
    result = transcribe(path, options, backend=backend)
    got = [(round(s.start, 2), round(s.end, 2)) for s in result.segments]
    assert got == [(round(a, 2), round(b, 2)) for a, b in times]
    assert len(backend.calls) >= 4  # 200 s in windows of 60 s
    assert max(c["seconds"] for c in backend.calls) <= 60 + 1 + 30  # bounded memory
    assert backend.calls[1]["prompt"]  # later windows are primed with the text so far
    assert result.duration == pytest.approx(200, abs=0.01)
    assert result.language == "en" and result.model == "scripted-speech"


def test_a_killed_transcription_resumes_from_its_checkpoint_with_the_same_result(tmp_path):
    path, _ = media.bursts(tmp_path / "tones.wav", seconds=200, every=7.3, length=1.2)
    options = TranscribeOptions(window_seconds=60)
    first = ScriptedTranscriber(WORDS)
    whole = transcribe(path, options, backend=first)

    saved: list[Checkpoint] = []
    crashing = ScriptedTranscriber(WORDS, fail_after=2)
    with pytest.raises(RuntimeError, match="scripted crash"):
        transcribe(path, options, backend=crashing, on_checkpoint=saved.append)
    assert len(saved) == 2
    state = Checkpoint.from_dict(json.loads(json.dumps(saved[-1].to_dict())))  # as stored

    fresh = ScriptedTranscriber(WORDS)
    resumed = transcribe(path, options, backend=fresh, resume=state)
    assert resumed.timings["resumed_at"] == pytest.approx(state.next_start, abs=0.01)
    assert [t for s in resumed.segments for t in (s.start, s.end)] == pytest.approx(
        [t for s in whole.segments for t in (s.start, s.end)], abs=0.01
    )
    assert resumed.text.startswith(" ".join(s.text.strip() for s in state.segments))
    assert len(fresh.calls) == len(first.calls) - 2  # only the windows after the checkpoint


def test_silence_gives_an_empty_transcript(tmp_path):
    result = transcribe(media.silence(tmp_path / "quiet.wav", 8), backend=ScriptedTranscriber())
    assert result.segments == [] and result.text == ""
    assert result.duration == pytest.approx(8, abs=0.01)


def test_unreadable_inputs_fail_clearly(tmp_path):
    backend = ScriptedTranscriber()
    with pytest.raises(InputNotFoundError):
        transcribe(tmp_path / "missing.wav", backend=backend)
    with pytest.raises(UnreadableInputError, match="folder"):
        transcribe(tmp_path, backend=backend)
    with pytest.raises(UnreadableInputError, match="cannot decode"):
        transcribe(media.corrupt(tmp_path / "bad.mp3"), backend=backend)
    with pytest.raises(NoAudioTrackError, match="no audio track"):
        transcribe(media.video_without_audio(tmp_path / "mute.mp4"), backend=backend)
    assert backend.calls == []


def test_language_must_fit_the_model(tmp_path):
    path = media.silence(tmp_path / "q.wav", 1)
    with pytest.raises(InvalidOptionError, match="English-only"):
        transcribe(path, TranscribeOptions(language="fr"), backend=ScriptedTranscriber())
    with pytest.raises(InvalidOptionError, match="multilingual"):
        transcribe(path, TranscribeOptions(task="translate"), backend=ScriptedTranscriber())
    multi = ScriptedTranscriber(multilingual=True, language="de")
    assert transcribe(path, TranscribeOptions(language="fr"), backend=multi).language == "fr"


def test_word_error_rate_normalizes_numbers_case_and_punctuation():
    reference = "We expect about twenty five people at the opening."
    hypothesis = "we expect about 25 people at the opening"
    assert word_error_rate(reference, hypothesis) == 0.0
    assert word_error_rate(reference, hypothesis, normalize=None) > 0.3
    assert word_error_rate(reference, hypothesis, normalize="basic") > 0.0
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "noise") == 1.0
    with pytest.raises(InvalidOptionError):
        word_error_rate("a", "a", normalize="klingon")
