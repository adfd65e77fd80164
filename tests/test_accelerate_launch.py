"""`accelerate launch -m pretrained.cli …`: the CLI is an entry point Accelerate can launch
(single process on CPU here; the same command with --multi_gpu on a GPU machine)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ACCELERATE = [
    sys.executable,
    "-m",
    "accelerate.commands.launch",
    "--num_processes",
    "1",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
    "--cpu",
    "-m",
    "pretrained.cli",
]


def _launch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, ACCELERATE_CONFIG_FILE=str(cwd / "no-accelerate-config.yaml"))
    return subprocess.run(
        [*ACCELERATE, *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env
    )


def test_accelerate_launches_the_cli(tmp_path, tiny_gpt2_dir):
    assert shutil.which("accelerate") or importlib.util.find_spec("accelerate")
    result = _launch(
        "generate",
        "Hello",
        "--model",
        str(tiny_gpt2_dir),
        "-t",
        "0",
        "-n",
        "3",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["usage"]["completion_tokens"] >= 1


def _has_finetune() -> bool:
    try:
        return importlib.util.find_spec("pretrained.train.finetune") is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.skipif(
    not _has_finetune(),
    reason="the finetune command (issue 5) is not in this tree",
)
def test_accelerate_launches_finetune_single_process(tmp_path, tiny_gpt2_dir):
    data = tmp_path / "quotes.jsonl"
    rows = [
        {"text": f"Be yourself number {i}; everyone else is taken.", "author": "Oscar Wilde"}
        for i in range(24)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = _launch(
        "finetune",
        str(data),
        "--model",
        str(tiny_gpt2_dir),
        "--template",
        "Quote by {author}: {text}",
        "--max-steps",
        "3",
        "--batch-size",
        "4",
        "--val-size",
        "4",
        "--num-samples",
        "1",
        "--sample-max-new-tokens",
        "4",
        "--output-dir",
        str(tmp_path / "runs"),
        "--name",
        "accel",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    run = tmp_path / "runs" / "accel"
    assert (run / "config.yaml").exists() and (run / "adapter").is_dir()
