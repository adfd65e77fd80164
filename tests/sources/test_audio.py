"""sources/audio.py: PyAV decoding in chunks, probing, folder listing."""

from __future__ import annotations

import numpy as np
import pytest

from pretrained.errors import InputNotFoundError, NoAudioTrackError, UnreadableInputError
from pretrained.sources.audio import expand_inputs, list_folder, probe, stream_audio
from tests import media


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".mp4"])
def test_chunked_decoding_matches_faster_whispers_own_decoder(tmp_path, suffix):
    from faster_whisper.audio import decode_audio

    wav, _ = media.bursts(tmp_path / "tones.wav", seconds=75, every=2, length=0.5)
    if suffix == ".mp3":
        path = media.convert(wav, tmp_path / "tones.mp3")
    elif suffix == ".mp4":
        path = media.video_with_audio(wav, tmp_path / "tones.mp4")
    else:
        path = wav
    chunks = list(stream_audio(path, chunk_seconds=30))
    assert len(chunks) >= 3 and all(c.dtype == np.float32 for c in chunks)
    assert all(c.shape[0] >= 30 * 16_000 for c in chunks[:-1])
    ours = np.concatenate(chunks)
    np.testing.assert_array_equal(ours, decode_audio(str(path)))


def test_probe_reports_duration_and_rejects_what_cannot_be_transcribed(tmp_path):
    info = probe(media.silence(tmp_path / "q.wav", 2.5))
    assert info.duration == pytest.approx(2.5, abs=0.01) and info.sample_rate == 16_000
    with pytest.raises(NoAudioTrackError, match=r"has no audio track \(it has: video\)"):
        probe(media.video_without_audio(tmp_path / "mute.mp4"))
    with pytest.raises(UnreadableInputError, match="cannot decode"):
        probe(media.corrupt(tmp_path / "x.wav"))
    text = tmp_path / "notes.mp3"
    text.write_text("hello, I am text pretending to be audio\n" * 50)
    with pytest.raises(UnreadableInputError):
        list(stream_audio(text))


def test_folders_list_media_recursively_and_skip_hidden_files(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".cache").mkdir()
    for name in ("a/b/deep.MP3", "a/talk.mkv", "top.webm", ".cache/x.wav", ".dot.wav", "readme.md"):
        (tmp_path / name).write_bytes(b"x")
    assert [i.relative for i in list_folder(tmp_path)] == ["top.webm", "a/talk.mkv", "a/b/deep.MP3"]
    assert [i.relative for i in list_folder(tmp_path, glob="*.mkv")] == ["a/talk.mkv"]
    assert [i.relative for i in list_folder(tmp_path, recursive=False)] == ["top.webm"]
    named = expand_inputs([str(tmp_path / "readme.md"), str(tmp_path / "top.webm"), str(tmp_path)])
    # a file named on the command line is tried whatever its extension; duplicates once
    assert [i.relative for i in named] == ["readme.md", "top.webm", "a/talk.mkv", "a/b/deep.MP3"]
    with pytest.raises(InputNotFoundError):
        expand_inputs([str(tmp_path / "missing.wav")])
