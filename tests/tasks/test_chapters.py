"""tasks/chapters.py: chaptered summaries of transcripts (timecodes from segment times)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pretrained.tasks.summarize", reason="needs the summarizer (issue 3)")

from pretrained.errors import InvalidOptionError  # noqa: E402
from pretrained.models.backends.transcription import Segment  # noqa: E402
from pretrained.tasks.chapters import chapter_count, summarize_transcript  # noqa: E402
from pretrained.tasks.transcribe import TranscribeResult  # noqa: E402

TOPICS = {"train": 0, "garden": 1, "budget": 2}


class TopicEmbedder:
    """Vectors by topic word (one axis per topic, a little per-sentence noise), so topic
    boundaries are known in advance."""

    model_id = "topic-embedder"
    device = "cpu"
    revision = None

    def encode(self, texts, *, batch_size=32, normalize=True):
        rng = np.random.default_rng(0)
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for i, text in enumerate(texts):
            hits = [axis for word, axis in TOPICS.items() if word in text.lower()]
            out[i, hits[0] if hits else 7] = 1.0
            out[i] += 0.05 * rng.random(8)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _transcript(per_topic: int = 6, seconds: float = 10.0) -> TranscribeResult:
    segments = []
    t = 0.0
    for topic in ("train", "garden", "budget"):
        for i in range(per_topic):
            text = f"Sentence {i} is about the {topic} and some more words here."
            segments.append(Segment(t, t + seconds - 1, " " + text))
            t += seconds
    return TranscribeResult("talks/day1.mp4", segments, "en", 1.0, t, "whisper-tiny.en")


def test_chapter_count_follows_the_length():
    assert chapter_count(30, 10) == 1
    assert chapter_count(185, 30) == 4  # about one a minute
    assert chapter_count(7200, 3000) == 12  # at most 12
    assert chapter_count(600, 6) == 2  # never under 3 segments a chapter
    assert chapter_count(600, 30, wanted=3) == 3
    with pytest.raises(InvalidOptionError):
        chapter_count(600, 30, wanted=0)


def test_chapters_start_at_topic_changes_with_segment_timecodes():
    summary = summarize_transcript(_transcript(), embedder=TopicEmbedder(), chapters=3)
    assert [c.timecode for c in summary.chapters] == ["00:00:00", "00:01:00", "00:02:00"]
    for chapter, topic in zip(summary.chapters, ("train", "garden", "budget"), strict=True):
        assert topic in chapter.title
    assert summary.mode == "extractive" and summary.model == "topic-embedder"
    assert summary.summary and len(summary.summary.split(". ")) <= 4
    markdown = summary.to_markdown()
    assert markdown.startswith("# Summary: day1.mp4\n")
    assert "*00:03:00 of audio · transcribed by whisper-tiny.en · extractive summary" in markdown
    assert "## Chapters\n\n- [00:00:00] " in markdown and "\n- [00:02:00] " in markdown
    data = summary.to_dict()
    assert data["chapters"][1]["start"] == 60.0 and data["chapters"][1]["segments"] == [6, 11]


def test_a_transcript_file_or_dict_works_and_silence_gives_no_chapters(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(_transcript().render("json"))
    from_file = summarize_transcript(path, embedder=TopicEmbedder(), chapters=2)
    assert len(from_file.chapters) == 2
    empty = TranscribeResult("quiet.wav", [], "en", 1.0, 12.0, "whisper-tiny.en")
    nothing = summarize_transcript(empty.to_dict(), embedder=TopicEmbedder())
    assert nothing.chapters == [] and "(no speech)" in nothing.to_markdown()
