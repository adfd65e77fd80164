"""`pretrained init`: the generated project's own `make lint` and `make test` pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import assert_one_line_error

EXPECTED = [
    ".devcontainer/Dockerfile",
    ".devcontainer/devcontainer.json",
    ".github/workflows/ci.yml",
    ".github/workflows/sync-to-hub.yml",
    ".gitignore",
    "Makefile",
    "README.md",
    "app.py",
    "pyproject.toml",
    "requirements-dev.txt",
    "requirements.txt",
    "tests/__init__.py",
    "tests/test_app.py",
]


def test_init_writes_the_project(cli, tmp_path):
    result = cli("init", tmp_path / "my-app", "--space", "me/my-app", "--json")
    assert result.exit_code == 0, result.stderr
    body = result.json()
    assert body["files"] == EXPECTED and body["name"] == "my-app" and body["space"] == "me/my-app"
    root = tmp_path / "my-app"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == EXPECTED

    make = (root / "Makefile").read_text()
    for target in ("install:", "lint:", "format:", "test:"):
        assert f"\n{target}" in make
    devcontainer = json.loads((root / ".devcontainer/devcontainer.json").read_text())
    assert devcontainer["build"]["dockerfile"] == "Dockerfile"
    docker = (root / ".devcontainer/Dockerfile").read_text()
    assert "make install" in docker and "venv" in docker.lower()

    ci = yaml.safe_load((root / ".github/workflows/ci.yml").read_text())
    steps = [s.get("run") for s in ci["jobs"]["test"]["steps"]]
    assert [s for s in steps if s] == ["make install", "make lint", "make test"]
    sync = yaml.safe_load((root / ".github/workflows/sync-to-hub.yml").read_text())
    assert sync["env"]["HF_SPACE"] == "me/my-app"
    push = sync["jobs"]["sync"]["steps"][-1]
    assert (
        push["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
        and "huggingface.co/spaces" in push["run"]
    )

    readme = (root / "README.md").read_text()
    meta = yaml.safe_load(readme.split("---\n")[1])
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert "gradio" in (root / "requirements.txt").read_text()
    assert "-r requirements.txt" in (root / "requirements-dev.txt").read_text()


def test_bad_init_requests(cli, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    assert_one_line_error(cli("init", tmp_path / "full"), 2, "not empty")
    assert cli("init", tmp_path / "full", "--force").exit_code == 0
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep"
    assert_one_line_error(cli("init", tmp_path / "x", "--space", "nope"), 2, "user/name")


def test_generated_project_passes_its_own_make_lint_and_test(cli, tmp_path):
    """Run the project's Makefile for real. VENV points at the interpreter running these tests,
    which already has gradio, pytest and ruff, so `make install` finds everything satisfied
    (no download) and the stamp lands in the project's .make/."""
    root = tmp_path / "proj"
    assert cli("init", root).exit_code == 0
    venv = Path(sys.prefix)
    if not (venv / "bin" / "python").exists():
        pytest.skip("the tests are not running inside a virtual environment")
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    outputs = {}
    for target in ("test", "lint"):
        done = subprocess.run(
            ["make", "-C", str(root), target, f"VENV={venv}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        outputs[target] = done.stdout
    assert "2 passed" in outputs["test"]
    assert "All checks passed" in outputs["lint"]
    assert list((root / ".make").glob("installed-*"))
