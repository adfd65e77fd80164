"""jobs/store.py and jobs/files.py: keys, claims across processes, checkpoints, atomic writes."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from pretrained.errors import JobNotFoundError
from pretrained.jobs.files import atomic_write, sweep
from pretrained.jobs.store import JobStore


def _job(store: JobStore, content: str = "a" * 64, **options):
    return store.ensure(
        kind="transcribe",
        source="/data/talk.wav",
        content_sha256=content,
        model="Systran/faster-whisper-tiny.en",
        revision=None,
        options={"beam_size": 5, **options},
    )


def test_same_content_model_and_options_is_the_same_job():
    store = JobStore()
    first = _job(store)
    assert first.status == "pending" and len(first.id) == 12
    assert _job(store).id == first.id
    assert _job(store, beam_size=1).id != first.id
    assert _job(store, content="b" * 64).id != first.id
    assert len(store.list()) == 3


def test_a_job_held_by_a_live_process_is_not_claimed_until_that_process_dies():
    store = JobStore()
    job = _job(store)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store._run(
            "UPDATE jobs SET status = 'running', pid = ?, host = ? WHERE id = ?",
            (other.pid, socket.gethostname(), job.id),
        )
        assert store.get(job.id).held_elsewhere
        assert not store.claim(job.id)
    finally:
        other.kill()
        other.wait()
    assert not store.get(job.id).held_elsewhere  # its holder is gone: the job is resumable
    assert store.claim(job.id)
    claimed = store.get(job.id)
    assert claimed.status == "running" and claimed.pid == os.getpid() and claimed.attempts == 1


def test_a_job_running_on_another_machine_is_abandoned_after_an_hour_without_news():
    store = JobStore()
    job = _job(store)
    store._run(
        "UPDATE jobs SET status = 'running', pid = 1, host = 'elsewhere', updated_at = ? WHERE id = ?",
        (datetime.now(timezone.utc).isoformat(timespec="seconds"), job.id),
    )
    assert not store.claim(job.id)
    old = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat(timespec="seconds")
    store._run("UPDATE jobs SET updated_at = ? WHERE id = ?", (old, job.id))
    assert store.claim(job.id)


def test_checkpoint_finish_fail_and_results():
    store = JobStore()
    job = _job(store)
    assert store.claim(job.id)
    store.checkpoint(job.id, {"next_start": 42.0, "segments": []})
    assert store.load_checkpoint(job.id)["next_start"] == 42.0
    assert store.get(job.id).progress == 42.0
    with pytest.raises(JobNotFoundError, match="no result yet"):
        store.result(job.id)
    store.fail(job.id, ValueError("boom\nsecond line"))
    failed = store.get(job.id)
    assert (failed.status, failed.error_type, failed.error) == ("failed", "ValueError", "boom")
    assert store.claim(job.id)  # a failed job is retried by the next run
    assert store.get(job.id).error is None
    store.finish(job.id, {"duration": 3.5, "language": "en", "timings": {"rtf": 0.1}}, ["/o/a.txt"])
    done = store.get(job.id)
    assert (done.status, done.duration, done.language, done.rtf) == ("done", 3.5, "en", 0.1)
    assert done.outputs == ["/o/a.txt"] and done.pid is None
    assert store.load_checkpoint(job.id) is None  # removed once the result is safe
    assert store.result(job.id)["duration"] == 3.5
    store.add_outputs(job.id, ["/o/a.srt", "/o/a.txt"])
    assert store.get(job.id).outputs == ["/o/a.srt", "/o/a.txt"]
    assert [j.id for j in store.list("done")] == [job.id] and store.list("failed") == []


def test_ids_by_prefix():
    store = JobStore()
    job = _job(store)
    assert store.get(job.id[:4]).id == job.id
    assert store.get(job.id.upper()).id == job.id
    with pytest.raises(JobNotFoundError, match="no job"):
        store.get("0" * 12 if not job.id.startswith("0") else "f" * 12)
    with pytest.raises(JobNotFoundError, match="not a job id"):
        store.get("talk.wav")
    for i in range(40):  # enough ids that some share a first character
        _job(store, content=f"{i:064x}")
    first_chars = [j.id[0] for j in store.list(limit=100)]
    shared = next(c for c in first_chars if first_chars.count(c) > 1)
    with pytest.raises(JobNotFoundError, match="several"):
        store.get(shared)


def test_atomic_write_replaces_in_one_step_and_sweep_removes_leftovers(tmp_path):
    target = tmp_path / "out" / "talk.srt"
    atomic_write(target, "first")
    atomic_write(target, "second")
    assert target.read_text() == "second"
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode & 0o044  # readable by others like any file the user writes (umask permitting)
    leftover = target.parent / ".talk.srt.x1y2z3.part"  # what a kill -9 mid-write leaves
    leftover.write_text("half")
    unrelated = target.parent / ".other.srt.abc.part"
    unrelated.write_text("keep")
    assert sweep(target) == 1
    assert not leftover.exists() and unrelated.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == [".other.srt.abc.part", "talk.srt"]
