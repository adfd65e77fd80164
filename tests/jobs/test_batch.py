"""`pretrained batch`: outputs, metadata, errors, and exactly-once resume after kill -9.

The crash tests run the real CLI in a subprocess and kill it with SIGKILL — at exact points
(PRETRAINED_BATCH_FAULT) and from outside at moments picked by watching the committed chunks —
then rerun the same command and compare with an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error

KNOBS = ["--temperature", "0", "--max-new-tokens", "4"]


@pytest.fixture
def prompts(tmp_path) -> Path:
    path = tmp_path / "prompts.jsonl"
    rows = [{"text": f"Once upon a time {i}", "key": f"k{i}"} for i in range(30)]
    rows[7]["text"] = "   "  # an empty row: an error row, not a crash
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _table(path: Path):
    import pyarrow.parquet as pq

    return pq.read_table(path)


def _rows(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    return _table(path).to_pylist()


def _args(prompts, out, model_dir, *extra):
    return [
        "batch",
        "generate",
        str(prompts),
        "--output",
        str(out),
        "--model",
        str(model_dir),
        *KNOBS,
        "--chunk-size",
        "4",
        "--batch-size",
        "3",
        *extra,
    ]


def test_batch_generate_parquet(cli, prompts, tmp_path, tiny_gpt2_dir):
    out = tmp_path / "out.parquet"
    result = cli(*_args(prompts, out, tiny_gpt2_dir, "--id-column", "key", "--json"))
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["status"] == "complete"
    assert (data["rows"], data["processed"], data["resumed"], data["errors"]) == (30, 30, 0, 1)
    assert "progress: 30/30 rows (100.0%)" in result.stderr and "rows/s" in result.stderr
    rows = _rows(out)
    assert [r["id"] for r in rows] == [f"k{i}" for i in range(30)]
    assert rows[7]["error"] == "empty text" and rows[7]["text"] is None
    good = [r for r in rows if r["error"] is None]
    assert len(good) == 29 and all(r["completion_tokens"] >= 1 for r in good)
    meta = json.loads(_table(out).schema.metadata[b"pretrained"])
    assert meta["task"] == "generate" and meta["model"] == str(tiny_gpt2_dir)
    assert meta["options"]["max_new_tokens"] == 4
    manifest = json.loads((tmp_path / "out.parquet.batch" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["rows"] == 30
    assert not (tmp_path / "out.parquet.batch" / "chunks").exists()
    from pretrained import runlog

    logged = runlog.recent(1)[0]
    assert logged["command"] == "batch generate" and logged["task"] == "batch generate"
    assert logged["extra"]["rows"] == 30 and logged["status"] == "ok"
    # the same command again: nothing to do
    again = cli(*_args(prompts, out, tiny_gpt2_dir, "--id-column", "key", "--json"))
    assert again.exit_code == 0 and again.json()["status"] == "already-complete"


def test_batch_jsonl_output_matches_parquet(cli, prompts, tmp_path, tiny_gpt2_dir):
    a, b = tmp_path / "a.parquet", tmp_path / "b.jsonl"
    assert cli(*_args(prompts, a, tiny_gpt2_dir, "-q")).exit_code == 0
    result = cli(*_args(prompts, b, tiny_gpt2_dir, "-q", "--batch-size", "5"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(b)
    assert _rows(a) == _rows(b)  # batch size changes nothing in greedy results


def test_changed_options_refuse_to_resume_and_restart_works(cli, prompts, tmp_path, tiny_gpt2_dir):
    out = tmp_path / "out.parquet"
    assert cli(*_args(prompts, out, tiny_gpt2_dir, "-q")).exit_code == 0
    changed = [a if a != "4" else "6" for a in _args(prompts, out, tiny_gpt2_dir, "-q")]
    result = cli(*changed)
    assert_one_line_error(result, 2, "different settings")
    assert "max_new_tokens: 4 → 6" in result.stderr and "--restart" in result.stderr
    result = cli(*changed, "--restart", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["processed"] == 30


def test_output_not_written_by_a_job_is_not_overwritten(cli, prompts, tmp_path, tiny_gpt2_dir):
    out = tmp_path / "mine.jsonl"
    out.write_text("precious\n")
    assert_one_line_error(cli(*_args(prompts, out, tiny_gpt2_dir)), 1, "already exists")
    assert out.read_text() == "precious\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--output", "x.csv"], 2, ".parquet or .jsonl"),
        (["--chunk-size", "0"], 2, "--chunk-size"),
        (["--executor", "spark"], 2, "--executor"),
        (["--engine", "ray"], 2, "engine"),  # --engine is the inference engine here too
        (["--address", "ray://h:10001"], 2, "only applies to --executor ray"),
        (["--column", "nope"], 2, "no column 'nope'"),
        (["--temperature", "-1"], 2, "--temperature"),
    ],
)
def test_bad_options(cli, prompts, tmp_path, tiny_gpt2_dir, args, code, message):
    base = _args(prompts, tmp_path / "o.parquet", tiny_gpt2_dir)
    assert_one_line_error(cli(*base, *args), code, message)


def test_missing_input(cli, tmp_path, tiny_gpt2_dir):
    result = cli(*_args(tmp_path / "none.jsonl", tmp_path / "o.parquet", tiny_gpt2_dir))
    assert_one_line_error(result, 1, "not found")


def test_a_locked_job_is_refused(cli, prompts, tmp_path, tiny_gpt2_dir):
    from pretrained.jobs.manifest import BatchStore

    out = tmp_path / "out.parquet"
    with BatchStore(out).locked():
        result = cli(*_args(prompts, out, tiny_gpt2_dir))
    assert_one_line_error(result, 1, "another process")


# ---------------------------------------------------------------- crash and resume
def _spawn(args: list[str], fault: str | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("PRETRAINED_BATCH_FAULT", None)
    if fault:
        env["PRETRAINED_BATCH_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "pretrained.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _chunks(out: Path) -> int:
    folder = out.with_name(out.name + ".batch") / "chunks"
    return len([p for p in folder.glob("chunk-*")]) if folder.exists() else 0


def _check_exactly_once(out: Path, reference: list[dict]) -> None:
    rows = _rows(out)
    ids = [r["id"] for r in rows]
    assert len(rows) == len(reference)
    assert len(set(ids)) == len(ids)  # no duplicates
    assert ids == [r["id"] for r in reference]  # no gaps, input order
    assert rows == reference  # and the very same results


@pytest.fixture
def long_prompts(tmp_path) -> Path:
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps({"text": f"story {i} begins"}) + "\n" for i in range(240)))
    return path


@pytest.mark.parametrize(
    "fault",
    [
        "before-commit:1",
        "before-rename:chunk-00000003.parquet",
        "after-commit:5",
        "before-finalize",
        "before-rename:out.parquet",
        "after-finalize",
    ],
)
def test_kill_at_exact_points_then_resume(cli, prompts, tmp_path, tiny_gpt2_dir, fault):
    reference_out = tmp_path / "reference.parquet"
    assert cli(*_args(prompts, reference_out, tiny_gpt2_dir, "-q")).exit_code == 0
    reference = _rows(reference_out)

    out = tmp_path / "out.parquet"
    args = _args(prompts, out, tiny_gpt2_dir)
    killed = _spawn(args, fault=fault)
    killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL, "the fault point was never reached"
    if fault.startswith("before-rename"):  # the half-written file is there, then swept
        state = out.with_name(out.name + ".batch")
        assert list(state.rglob(".tmp-*")) or list(tmp_path.glob(".tmp-*"))

    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["rows"] == 30
    if fault != "after-finalize":
        assert data["processed"] + data["resumed"] == 30
    _check_exactly_once(out, reference)
    assert not list(tmp_path.rglob(".tmp-*"))


def test_kill_9_from_outside_at_several_moments(cli, long_prompts, tmp_path, tiny_gpt2_dir):
    reference_out = tmp_path / "reference.jsonl"
    base = ["--chunk-size", "8", "--batch-size", "4"]
    args_for = lambda out: [  # noqa: E731
        "batch",
        "generate",
        str(long_prompts),
        "-o",
        str(out),
        "--model",
        str(tiny_gpt2_dir),
        "--temperature",
        "0",
        "--max-new-tokens",
        "8",
        *base,
    ]
    assert cli(*args_for(reference_out), "-q").exit_code == 0
    reference = _rows(reference_out)

    out = tmp_path / "out.jsonl"
    seen = []
    for threshold in (2, 11, 23):  # of 30 chunks
        proc = _spawn(args_for(out))
        deadline = time.time() + 240
        while _chunks(out) < threshold and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
        seen.append(_chunks(out))
        # every committed chunk is whole: 8 valid JSON lines
        for chunk in (out.with_name(out.name + ".batch") / "chunks").glob("chunk-*"):
            lines = chunk.read_text().splitlines()
            assert len(lines) == 8 and all(json.loads(line)["id"] is not None for line in lines)
    assert seen == sorted(seen) and seen[0] >= 2

    result = cli(*args_for(out), "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["resumed"] == seen[-1] * 8 and data["processed"] == 240 - seen[-1] * 8
    assert "resuming:" in result.stderr
    _check_exactly_once(out, reference)


def test_error_count_with_nested_columns(tmp_path):
    """list/map columns have leaves of their own in Parquet: the error count must not shift."""
    import pyarrow as pa

    from pretrained.jobs.batch import _count_errors
    from pretrained.jobs.manifest import BatchStore

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("scores", pa.map_(pa.string(), pa.float64())),
            ("vector", pa.list_(pa.float32())),
            ("error", pa.string()),
        ]
    )
    rows = [
        {"id": i, "scores": {"a": 0.5}, "vector": [1.0], "error": "bad" if i % 4 == 0 else None}
        for i in range(10)
    ]
    store = BatchStore(tmp_path / "out.parquet")
    with store.locked():
        store.commit(0, rows[:6], schema)
        store.commit(1, rows[6:], schema)
        assert store.finalize(2, schema, {"task": "test"}) == 10
    assert _count_errors(store) == 3
