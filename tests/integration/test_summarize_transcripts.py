"""Transcribe → summarize with the real models: --summarize and `pretrained summarize t.json`."""

from __future__ import annotations

import re

import pytest

from tests import media
from tests.helpers import assert_one_line_error

pytestmark = pytest.mark.integration
pytest.importorskip("pretrained.tasks.summarize", reason="needs the summarizer (issue 3)")


def test_summarize_writes_a_chaptered_summary_with_timecodes(cli, tmp_path):
    folder, work = tmp_path / "in", tmp_path / "work"
    folder.mkdir(), work.mkdir()
    parts = [
        media.speak(media.SENTENCES[key] + f" That was item {i + 1}.", work / f"{key}{i}.wav")
        for i in range(3)
        for key in ("train", "meeting", "office")
    ]
    media.concat(parts, folder / "talk.wav")
    result = cli("transcribe", folder, "--summarize", "--format", "json,txt")
    assert result.exit_code == 0, result.stderr
    summary = (folder / "talk.summary.md").read_text()
    assert summary.startswith("# Summary: talk.wav\n")
    chapters = re.findall(r"^- \[(\d\d:\d\d:\d\d)\] (.+)$", summary, re.MULTILINE)
    assert len(chapters) >= 2 and chapters[0][0] == "00:00:00"
    times = [
        sum(int(x) * f for x, f in zip(t.split(":"), (3600, 60, 1), strict=True))
        for t, _ in chapters
    ]
    assert times == sorted(times) and len(set(times)) == len(times)
    transcript = (folder / "talk.txt").read_text()
    assert all(title in transcript for _, title in chapters)  # extractive: titles are lines of it
    overall = summary.split("\n\n")[2]
    assert 5 <= len(overall.split()) <= 120

    again = cli("transcribe", folder, "--summarize", "--format", "json,txt")
    assert "1 input: 0 done, 1 skipped, 0 failed" in again.stderr
    assert (folder / "talk.summary.md").read_text() == summary

    (folder / "talk.summary.md").unlink()
    direct = cli("summarize", folder / "talk.json")
    assert direct.exit_code == 0, direct.stderr
    assert direct.stdout == (folder / "talk.summary.md").read_text() == summary
    data = cli("summarize", folder / "talk.json", "--json").json()
    assert data["chapters"][0]["timecode"] == "00:00:00" and data["written"].endswith(".summary.md")


def test_summarize_a_json_that_is_not_a_transcript_is_still_plain_text(cli, tmp_path):
    other = tmp_path / "data.json"
    other.write_text('{"title": "not a transcript", "body": "Just some words in a JSON file."}')
    result = cli("summarize", other)
    assert result.exit_code in (0, 1)
    assert "Summary: data.json" not in result.stdout
    empty = tmp_path / "empty.json"
    empty.write_text("")
    assert_one_line_error(cli("summarize", empty), 1)
