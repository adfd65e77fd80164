"""`pretrained space`: a self-contained Space folder, and a push through huggingface_hub
against the local fake Hub."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pretrained.ship.space import SPACE_TASKS
from tests.helpers import assert_one_line_error
from tests.serve.conftest import free_port, wait_until_up

HUB_IDS = {
    "summarize": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "chat": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "generate": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "classify": "sentence-transformers/all-MiniLM-L6-v2",
    "transcribe": "Systran/faster-whisper-tiny.en",
}


ALLOWED_IMPORTS = {
    "gradio",
    "importlib",
    "os",
    "pathlib",
    "threading",
    "torch",
    "transformers",
    "numpy",
    "sentence_transformers",
    "faster_whisper",
    "huggingface_hub",
}


def imports(source: str) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def front_matter(readme: str) -> dict:
    assert readme.startswith("---\n")
    return yaml.safe_load(readme.split("---\n")[1])


@pytest.mark.parametrize("task", SPACE_TASKS)
def test_export_writes_a_self_contained_space(cli, tmp_path, task):
    import gradio

    out = tmp_path / task
    result = cli("space", task, "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["files"] == [".gitignore", "README.md", "app.py", "requirements.txt"]
    meta = front_matter((out / "README.md").read_text())
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gradio.__version__
    assert meta["app_file"] == "app.py" and meta["models"] == [HUB_IDS[task]]
    assert meta["title"] and len(meta["short_description"]) <= 60
    app = (out / "app.py").read_text()
    compile(app, "app.py", "exec")
    assert imports(app) <= ALLOWED_IMPORTS  # self-contained: never imports this tool
    assert f'"{HUB_IDS[task]}"' in app and "demo.launch()" in app
    requirements = (out / "requirements.txt").read_text().split()
    assert "pretrained" not in " ".join(requirements)
    expected = {"classify": "sentence-transformers", "transcribe": "faster-whisper"}.get(
        task, "transformers"
    )
    assert any(r.startswith(expected) for r in requirements)


def test_export_with_a_hub_model_and_revision_skips_the_embedded_copy(cli, tmp_path):
    result = cli(
        "space",
        "chat",
        "--out",
        tmp_path / "s",
        "--model",
        "openai-community/gpt2",
        "--revision",
        "main",
        "--title",
        "GPT-2 chat",
    )
    assert result.exit_code == 0, result.stderr
    app = (tmp_path / "s" / "app.py").read_text()
    assert 'MODEL_ID = os.environ.get("MODEL_ID", "openai-community/gpt2")' in app
    assert "EMBEDDED = None" in app and "or 'main'" in app
    assert front_matter((tmp_path / "s" / "README.md").read_text())["title"] == "GPT-2 chat"


def test_bad_space_requests(cli, tmp_path, tiny_gpt2_dir):
    assert_one_line_error(cli("space", "dance", "--out", tmp_path / "a"), 2, "no Space template")
    assert_one_line_error(
        cli("space", "chat", "--model", str(tiny_gpt2_dir), "--out", tmp_path / "b"),
        2,
        "local model",
    )
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "keep.txt").write_text("mine")
    assert_one_line_error(cli("space", "chat", "--out", tmp_path / "c"), 2, "not empty")
    assert cli("space", "chat", "--out", tmp_path / "c", "--force").exit_code == 0
    assert (tmp_path / "c" / "keep.txt").read_text() == "mine"


def test_push_creates_the_space_and_commits_the_files(cli, tmp_path, fake_hub, monkeypatch):
    fake_hub.tokens["hf_writewritewritewrite1"] = "write"
    monkeypatch.setenv("HF_TOKEN", "hf_writewritewritewrite1")
    result = cli(
        "space", "summarize", "--out", tmp_path / "s", "--push", "tester/summarizer", "--json"
    )
    assert result.exit_code == 0, result.stderr
    body = result.json()
    assert body["url"] == f"{fake_hub.url}/spaces/tester/summarizer"
    assert fake_hub.created["space/tester/summarizer"]["sdk"] == "gradio"
    commit = fake_hub.commits[-1]
    assert commit["repo"] == "space/tester/summarizer" and body["commit"]
    assert sorted(commit["files"]) == [".gitignore", "README.md", "app.py", "requirements.txt"]
    assert commit["files"]["app.py"] == (tmp_path / "s" / "app.py").read_bytes()
    assert "hf_writewritewritewrite1" not in result.stdout + result.stderr

    again = cli(
        "space", "summarize", "--out", tmp_path / "s", "--force", "--push", "tester/summarizer"
    )
    assert again.exit_code == 0, again.stderr  # an existing Space is updated
    assert len(fake_hub.commits) == 2
    assert ("GET", "/api/whoami-v2") in fake_hub.requests  # the token is checked before any write


@pytest.mark.parametrize(
    ("token", "role", "message"),
    [
        (None, None, "none is set"),
        ("hf_readreadreadreadread1", "read", "read-only"),
        ("hf_badbadbadbadbadbad12", None, "rejected"),
    ],
)
def test_push_needs_a_write_token(cli, tmp_path, fake_hub, monkeypatch, token, role, message):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)  # no stored login either
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
        if role:
            fake_hub.tokens[token] = role
    result = cli("space", "chat", "--out", tmp_path / "s", "--push", "tester/chat")
    assert_one_line_error(result, 1, message)
    assert not fake_hub.created and not fake_hub.commits
    assert "write token" in result.stderr


def test_push_name_must_be_user_slash_name(cli, tmp_path):
    assert_one_line_error(
        cli("space", "chat", "--out", tmp_path / "s", "--push", "no-slash"), 2, "user/name"
    )


def run_app(folder: Path):
    """Start `python app.py` in the exported folder; → (process, url)."""
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(proc, url, 180)
    return proc, url


@pytest.mark.integration
@pytest.mark.parametrize(
    ("task", "args", "check"),
    [
        (
            "summarize",
            (
                "The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was built from "
                "1887 to 1889 as the entrance to the 1889 World's Fair. It is 330 metres tall and was "
                "the tallest man-made structure in the world for 41 years.",
                "short",
            ),
            lambda out: len(out.split()) >= 3,
        ),
        (
            "classify",
            ("I loved this film, the acting was wonderful.", "positive, negative"),
            lambda out: out["label"] == "positive",
        ),
    ],
)
def test_exported_space_runs_with_python_app_py(tmp_path, task, args, check):
    from gradio_client import Client

    from pretrained.ship.space import export_space

    export_space(task, out=tmp_path / task)
    proc, url = run_app(tmp_path / task)
    try:
        out = Client(url, verbose=False).predict(*args, api_name=f"/{task}")
        assert check(out), out
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
