"""jobs/transcribe.py on the scripted speech engine: outputs, skips, failures, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pretrained.errors import InputNotFoundError, UsageError
from pretrained.jobs.store import JobStore
from pretrained.jobs.transcribe import BatchOptions, transcribe_inputs
from pretrained.models.backends.scripted import ScriptedTranscriber
from pretrained.tasks.transcribe import TranscribeOptions
from tests import media

WORDS = [f"word{i}" for i in range(1000)]


def _folder(root: Path) -> Path:
    root.mkdir()
    (root / "nested").mkdir()
    (root / ".hidden").mkdir()
    media.bursts(root / "one.wav", seconds=12, every=3, length=1)
    media.bursts(root / "nested" / "two.wav", seconds=9, every=2, length=0.5, first=0.5)
    media.silence(root / "three.wav", 4)
    media.silence(root / ".hidden" / "skip.wav", 1)
    (root / "notes.txt").write_text("not media")
    return root


def _run(inputs, backend=None, **batch):
    return transcribe_inputs(
        [str(i) for i in inputs],
        TranscribeOptions(),
        BatchOptions(**batch),
        backend=backend or ScriptedTranscriber(WORDS),
    )


def test_a_folder_transcribes_to_every_format_next_to_each_input(tmp_path):
    folder = _folder(tmp_path / "in")
    result = _run([folder])
    assert [i.status for i in result.items] == ["done"] * 3
    assert [Path(i.source).name for i in result.items] == ["one.wav", "three.wav", "two.wav"]
    for stem in ("one", "three", "nested/two"):
        for fmt in ("txt", "srt", "vtt", "json"):
            assert (folder / f"{stem}.{fmt}").exists(), (stem, fmt)
    data = json.loads((folder / "one.json").read_text())
    assert [s["start"] for s in data["segments"]] == [1.0, 4.0, 7.0, 10.0]
    assert data["model"] == "scripted-speech" and data["duration"] == 12.0
    assert (folder / "three.txt").read_text() == "\n"  # silence: an empty transcript
    assert result.summary_line().startswith("3 inputs: 3 done, 0 skipped, 0 failed")
    assert not list(folder.rglob("*.part"))


def test_rerunning_skips_finished_inputs_without_calling_the_engine(tmp_path):
    folder = _folder(tmp_path / "in")
    _run([folder])
    (folder / "one.srt").unlink()  # a missing output is written again from the stored result
    srt_before = (folder / "nested" / "two.srt").read_text()
    idle = ScriptedTranscriber(WORDS)
    again = _run([folder], idle)
    assert [i.status for i in again.items] == ["skipped"] * 3
    assert idle.calls == []
    assert (folder / "one.srt").read_text().startswith("1\n00:00:01,000 --> 00:00:02,000")
    assert (folder / "nested" / "two.srt").read_text() == srt_before
    assert len(JobStore().list()) == 3  # no duplicate jobs

    forced = _run([folder], ScriptedTranscriber(WORDS), force=True)
    assert [i.status for i in forced.items] == ["done"] * 3
    other = _run([folder], ScriptedTranscriber(WORDS), formats=("txt",))
    assert [i.status for i in other.items] == ["skipped"] * 3  # formats do not change the job
    changed = transcribe_inputs(
        [str(folder)], TranscribeOptions(beam_size=1), backend=ScriptedTranscriber(WORDS)
    )
    assert [i.status for i in changed.items] == ["done"] * 3  # other knobs: a new job
    assert len(JobStore().list()) == 6


def test_the_same_recording_elsewhere_is_recognised_by_its_content(tmp_path):
    folder = _folder(tmp_path / "in")
    _run([folder / "one.wav"])
    copy = tmp_path / "copy.wav"
    copy.write_bytes((folder / "one.wav").read_bytes())
    result = _run([copy])
    assert result.items[0].status == "skipped"
    assert (tmp_path / "copy.txt").exists()


def test_output_folder_mirrors_the_layout_and_never_lets_two_inputs_collide(tmp_path):
    folder = _folder(tmp_path / "in")
    media.bursts(folder / "one.mp3.wav", seconds=3, every=1, length=0.3)  # odd but legal name
    media.convert(folder / "one.wav", folder / "one.mp3")
    out = tmp_path / "out"
    result = _run([folder], output_dir=out, formats=("txt", "json"))
    assert {i.status for i in result.items} == {"done"}
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == sorted(
        [
            "nested/two.txt",
            "nested/two.json",
            "one.mp3.json",
            "one.mp3.txt",
            "one.mp3.wav.json",  # shares the stem 'one.mp3' with one.mp3 → full names for both
            "one.mp3.wav.txt",
            "one.wav.json",
            "one.wav.txt",
            "three.json",
            "three.txt",
        ]
    )


def test_a_corrupt_file_fails_alone(tmp_path):
    folder = _folder(tmp_path / "in")
    media.corrupt(folder / "broken.mp3")
    media.video_without_audio(folder / "mute.mp4")
    result = _run([folder])
    status = {Path(i.source).name: i.status for i in result.items}
    assert status == {
        "broken.mp3": "failed",
        "mute.mp4": "failed",
        "one.wav": "done",
        "three.wav": "done",
        "two.wav": "done",
    }
    broken = next(i for i in result.items if i.source.endswith("broken.mp3"))
    assert (
        broken.error["type"] == "UnreadableInputError" and "broken.mp3" in broken.error["message"]
    )
    assert result.failed == 2 and "2 failed" in result.summary_line()
    assert not (folder / "broken.txt").exists()
    failed = JobStore().list("failed")
    assert sorted(j.error_type for j in failed) == ["NoAudioTrackError", "UnreadableInputError"]


def test_a_crash_midway_resumes_from_the_checkpoint(tmp_path):
    path, times = media.bursts(tmp_path / "long.wav", seconds=200, every=7.3, length=1.2)
    options = TranscribeOptions(window_seconds=60)
    crashing = ScriptedTranscriber(WORDS, fail_after=2)
    first = transcribe_inputs([str(path)], options, backend=crashing)
    assert first.items[0].status == "failed"
    assert "scripted crash" in first.items[0].error["message"]
    job = JobStore().list()[0]
    assert job.status == "failed" and job.progress and job.progress > 60
    assert not (tmp_path / "long.txt").exists()

    fresh = ScriptedTranscriber(WORDS)
    second = transcribe_inputs([str(path)], options, backend=fresh)
    item = second.items[0]
    assert item.status == "done" and item.resumed_at == pytest.approx(job.progress)
    data = json.loads((tmp_path / "long.json").read_text())
    assert [round(s["start"], 2) for s in data["segments"]] == [round(a, 2) for a, _ in times]


def test_bad_inputs_stop_before_any_work(tmp_path):
    with pytest.raises(InputNotFoundError, match="no such file"):
        _run([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputNotFoundError, match="no media files"):
        _run([tmp_path / "empty"])
    folder = _folder(tmp_path / "in")
    with pytest.raises(InputNotFoundError, match="--glob"):
        _run([folder], glob="*.flac")
    assert [Path(i.source).name for i in _run([folder], glob="two.*").items] == ["two.wav"]
    assert [Path(i.source).name for i in _run([folder], recursive=False).items] == [
        "one.wav",
        "three.wav",
    ]
    with pytest.raises(UsageError):
        _run([])


def test_two_inputs_with_the_same_relative_path_get_distinct_outputs(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        media.bursts(tmp_path / name / "talk.wav", seconds=3, every=1, length=0.2 + len(name))
    out = tmp_path / "out"
    result = _run([tmp_path / "a", tmp_path / "b"], output_dir=out, formats=("txt",))
    outputs = [o for i in result.items for o in i.outputs]
    assert len(set(outputs)) == 2 and all(Path(o).exists() for o in outputs)
    assert all(Path(o).name.startswith("talk.wav-") for o in outputs)
