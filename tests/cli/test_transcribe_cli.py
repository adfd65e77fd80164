"""`pretrained transcribe` and `pretrained jobs` on the scripted speech engine."""

from __future__ import annotations

import json

import pytest

from pretrained.models.backends.scripted import ScriptedTranscriber
from tests import media
from tests.helpers import assert_one_line_error

WORDS = [f"word{i}" for i in range(1000)]


@pytest.fixture
def scripted(monkeypatch):
    """Every model name loads the scripted engine (the real one is tested in integration/)."""
    import pretrained.models

    backend = ScriptedTranscriber(WORDS)
    monkeypatch.setattr(pretrained.models, "load_transcriber", lambda *a, **k: backend)
    return backend


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    media.bursts(root / "a.wav", seconds=6, every=2, length=0.5)
    media.bursts(root / "b.wav", seconds=4, every=1.5, length=0.4)
    return root


@pytest.mark.parametrize(
    "args, message",
    [
        (["--beam-size", "0"], "--beam-size"),
        (["--format", "pdf"], "unknown output format"),
        (["--language", "english"], "--language"),
        (["--task", "summarise"], "--task"),
        (["--language-detection-segments", "0"], "--language-detection-segments"),
    ],
)
def test_bad_knobs_exit_2_before_any_work(cli, scripted, folder, args, message):
    result = cli("transcribe", folder, *args)
    assert_one_line_error(result, 2, message)
    assert scripted.calls == []


def test_missing_inputs_and_s3_without_output(cli, scripted, tmp_path):
    assert_one_line_error(cli("transcribe", tmp_path / "nope.wav"), 1, "no such file")
    assert_one_line_error(cli("transcribe", "s3://"), 2, "no bucket")


def test_a_folder_prints_one_line_per_input_and_a_summary(cli, scripted, folder, tmp_path):
    out = tmp_path / "out"
    result = cli("transcribe", folder, "--output", out, "--format", "srt,txt")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("done ") for line in lines)
    assert "a.{txt,srt}" in lines[0]
    assert result.stderr.splitlines()[-1].startswith("2 inputs: 2 done, 0 skipped, 0 failed")
    assert sorted(p.name for p in out.iterdir()) == ["a.srt", "a.txt", "b.srt", "b.txt"]

    again = cli("transcribe", folder, "--output", out, "--format", "srt,txt", "--json")
    assert again.exit_code == 0
    data = again.json()
    assert (data["done"], data["skipped"], data["failed"]) == (0, 2, 0)
    assert data["model"] == "Systran/faster-whisper-tiny.en"  # the default, as jobs key it
    assert {i["status"] for i in data["items"]} == {"skipped"}


def test_one_file_prints_its_transcript(cli, scripted, folder):
    result = cli("transcribe", folder / "a.wav", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "word0 word1 word2\n"
    assert (folder / "a.json").exists() and not (folder / "a.txt").exists()


def test_a_corrupt_file_fails_alone_with_one_line_and_exit_1(cli, scripted, folder):
    media.corrupt(folder / "broken.mp3")
    alone = cli("transcribe", folder / "broken.mp3")
    assert_one_line_error(alone, 1, "broken.mp3")
    assert "1 input: 0 done, 0 skipped, 1 failed" in alone.stderr

    result = cli("transcribe", folder)
    assert result.exit_code == 1
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["done", "done"]
    assert result.stderr.count("error: ") == 1 and "broken.mp3" in result.stderr
    assert "3 inputs: 2 done, 0 skipped, 1 failed" in result.stderr


def test_jobs_list_show_results(cli, scripted, folder):
    assert cli("jobs", "list").stdout.startswith("no jobs yet")
    cli("transcribe", folder, "--format", "txt")
    media.corrupt(folder / "broken.mp3")
    cli("transcribe", folder, "--format", "txt")

    listed = cli("jobs", "list", "--json").json()
    assert sorted(j["status"] for j in listed) == ["done", "done", "failed"]
    table = cli("jobs", "list")
    assert table.exit_code == 0 and "broken.mp3" in table.stdout and "failed" in table.stdout
    assert [j["status"] for j in cli("jobs", "list", "--status", "failed", "--json").json()] == [
        "failed"
    ]

    done = next(j for j in listed if j["source"].endswith("a.wav"))
    shown = cli("jobs", "show", done["id"][:6])
    assert shown.exit_code == 0
    assert shown.stdout.splitlines()[0].split() == ["id", done["id"]]
    assert "a.txt" in shown.stdout
    assert cli("jobs", "show", done["id"], "--json").json()["content_sha256"]

    txt = cli("jobs", "results", done["id"])
    assert txt.stdout == "word0\nword1\nword2\n"
    srt = cli("jobs", "results", done["id"], "--format", "srt")
    assert srt.stdout.startswith("1\n00:00:01,000 --> 00:00:01,500\nword0\n")
    data = json.loads(cli("jobs", "results", done["id"], "--format", "json").stdout)
    assert data["source"].endswith("a.wav")

    failed = next(j for j in listed if j["status"] == "failed")
    shown = cli("jobs", "show", failed["id"])
    assert "UnreadableInputError" in shown.stdout and "hint" in shown.stdout
    assert_one_line_error(cli("jobs", "results", failed["id"]), 1, "no result yet")


def test_jobs_errors(cli):
    assert_one_line_error(cli("jobs", "show", "abc123"), 1, "no job")
    assert_one_line_error(cli("jobs", "show", "not-an-id"), 1, "not a job id")
    assert_one_line_error(cli("jobs", "list", "--status", "odd"), 2, "unknown status")
    assert_one_line_error(cli("jobs", "results", "abc", "--format", "docx"), 2, "unknown format")
