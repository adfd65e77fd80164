"""The acceptance run: batch classify of a 100k-row Parquet file made here, with progress,
killed with SIGKILL mid-run, then resumed: every row exactly once, no duplicates, no gaps."""

from __future__ import annotations

import json
import random
import signal
import time

import pytest

from tests.jobs.test_batch import _chunks, _spawn

pytestmark = pytest.mark.integration

ROWS = 100_000


def _task() -> str:
    from pretrained.jobs.batch_tasks import TASKS

    return "classify" if "classify" in TASKS else "embed"


@pytest.mark.timeout(2400)  # 100k rows through MiniLM on 2 cores (shared with other jobs)
def test_100k_rows_resume_after_kill_9(cli, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(0)
    good = ["great", "wonderful", "excellent", "lovely", "superb"]
    bad = ["awful", "broken", "terrible", "useless", "disappointing"]
    texts = [
        f"The product is {rng.choice(good if i % 2 else bad)}, I would "
        f"{'buy it again' if i % 2 else 'never buy it again'}."
        for i in range(ROWS)
    ]
    source = tmp_path / "reviews.parquet"
    pq.write_table(pa.table({"review_id": list(range(10**6, 10**6 + ROWS)), "text": texts}), source)
    out = tmp_path / "labels.parquet"
    task = _task()
    args = [
        "batch",
        task,
        str(source),
        "--output",
        str(out),
        "--id-column",
        "review_id",
        "--chunk-size",
        "5000",
        "--batch-size",
        "128",
    ]

    proc = _spawn(args)
    deadline = time.time() + 600
    while _chunks(out) < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, stderr
    assert "progress:" in stderr and "rows/s" in stderr and "ETA" in stderr
    committed = _chunks(out)
    assert 3 <= committed < 20

    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["rows"] == ROWS and data["errors"] == 0
    assert data["resumed"] == committed * 5000 and data["processed"] == ROWS - committed * 5000
    assert (
        "resuming:" in result.stderr and "progress: 100,000/100,000 rows (100.0%)" in result.stderr
    )

    table = pq.read_table(out)
    ids = table.column("id").to_pylist()
    assert len(ids) == ROWS and len(set(ids)) == ROWS  # exact count, no duplicates
    assert ids == list(range(10**6, 10**6 + ROWS))  # no gaps, input order
    meta = json.loads(table.schema.metadata[b"pretrained"])
    assert meta["task"] == task and meta["model"] and meta["total_rows"] == ROWS
    if task == "classify":
        from pretrained.tasks.classify import classify

        labels = table.column("label").to_pylist()
        # rows from before and after the kill are what classify() says for the same texts
        sample = [0, 1, 7_000, 7_001, 99_998, 99_999]
        direct = classify([texts[i] for i in sample])
        assert [labels[i] for i in sample] == [item.label for item in direct.items]


@pytest.mark.timeout(1800)
def test_classify_on_ray_matches_local(cli, tmp_path):
    pytest.importorskip("ray")
    import pyarrow.parquet as pq

    texts = [f"Item {i}: {'I love it' if i % 3 else 'it broke after a day'}." for i in range(300)]
    source = tmp_path / "items.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    common = ["batch", "classify", str(source), "--chunk-size", "50", "--batch-size", "25", "-q"]
    local, ray = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    assert cli(*common, "-o", str(local)).exit_code == 0
    result = cli(*common, "-o", str(ray), "--executor", "ray", "--num-workers", "2", "--json")
    assert result.exit_code == 0, result.stderr
    a, b = pq.read_table(local).to_pylist(), pq.read_table(ray).to_pylist()
    assert [r["id"] for r in a] == [r["id"] for r in b] == list(range(300))
    assert [r["label"] for r in a] == [r["label"] for r in b]
    # scores agree to float rounding (the workers run torch with 1 thread, the driver with 2)
    assert max(abs(x["score"] - y["score"]) for x, y in zip(a, b, strict=True)) < 1e-5


def test_batch_transcribe_and_summarize_folders(cli, tmp_path):
    import shutil
    import subprocess

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    audio = tmp_path / "audio"
    audio.mkdir()
    subprocess.run(
        ["espeak-ng", "-w", str(audio / "talk.wav"), "Hello world. The meeting starts at noon."],
        check=True,
    )
    (audio / "notes.txt").write_text("not audio")
    out = tmp_path / "transcripts.jsonl"
    result = cli("batch", "transcribe", str(audio), "-o", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["notes.txt", "talk.wav"]
    assert rows[0]["error"] and rows[1]["error"] is None
    assert rows[1]["language"] == "en" and "noon" in rows[1]["text"].lower()

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(2):
        (docs / f"doc{i}.txt").write_text(
            " ".join(f"Sentence {j} of document {i} talks about topic {j % 3}." for j in range(12))
        )
    summaries = tmp_path / "summaries.parquet"
    result = cli("batch", "summarize", str(docs), "-o", str(summaries), "--sentences", "2", "-q")
    assert result.exit_code == 0, result.stderr
    import pyarrow.parquet as pq

    rows = pq.read_table(summaries).to_pylist()
    assert [r["id"] for r in rows] == ["doc0.txt", "doc1.txt"]
    assert all(r["summary"] and r["error"] is None and r["mode"] for r in rows)
