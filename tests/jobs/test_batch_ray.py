"""`--executor ray`: a local Ray instance with 2 workers gives the same output as the local
engine, and a job started locally (then killed) is finished by Ray with no duplicate or gap."""

from __future__ import annotations

import json
import signal

import pytest

from tests.jobs.test_batch import _rows, _spawn

pytest.importorskip("ray")


def _args(prompts, out, model_dir, *extra):
    return [
        "batch",
        "generate",
        str(prompts),
        "-o",
        str(out),
        "--model",
        str(model_dir),
        "--temperature",
        "0.8",  # sampling: seeds are fixed per chunk and batch, so engines must agree
        "--seed",
        "3",
        "--max-new-tokens",
        "5",
        "--chunk-size",
        "6",
        "--batch-size",
        "4",
        *extra,
    ]


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"text": f"tale {i}"}) + "\n" for i in range(40)))
    return path


def test_ray_two_workers_match_local_then_resume_across_engines(
    cli, prompts, tmp_path, tiny_gpt2_dir
):
    local = tmp_path / "local.parquet"
    assert cli(*_args(prompts, local, tiny_gpt2_dir, "-q")).exit_code == 0
    reference = _rows(local)

    # a local run killed after 3 chunks …
    out = tmp_path / "mixed.parquet"
    proc = _spawn(_args(prompts, out, tiny_gpt2_dir), fault="after-commit:2")
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    # … is finished on Ray with two workers
    result = cli(
        *_args(prompts, out, tiny_gpt2_dir, "--executor", "ray", "--num-workers", "2", "--json")
    )
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["executor"] == "ray" and data["resumed"] == 18 and data["processed"] == 22
    assert "starting a local Ray instance (2 workers)" in result.stderr
    assert _rows(out) == reference  # identical rows, ids and texts

    # and a whole run on Ray matches too
    whole = tmp_path / "ray.jsonl"
    result = cli(*_args(prompts, whole, tiny_gpt2_dir, "--executor", "ray", "-q"))
    assert result.exit_code == 0, result.stderr
    assert _rows(whole) == reference
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # ray.init's handler is gone


def test_ray_cannot_join_a_missing_cluster(cli, prompts, tmp_path, tiny_gpt2_dir):
    from tests.helpers import assert_one_line_error

    result = cli(
        *_args(prompts, tmp_path / "o.parquet", tiny_gpt2_dir, "--executor", "ray"),
        "--address",
        "127.0.0.1:1",
    )
    assert_one_line_error(result, 1, "cannot join the Ray cluster")
