"""`pretrained init DIR`: a small MLOps starter project, ready for a laptop, a devcontainer,
GitHub Actions and a Hugging Face Space.

    DIR/
      app.py                       example Gradio app (a pure function + its UI)
      tests/test_app.py            a passing test
      Makefile                     install · lint · format · test · run
      requirements.txt             what the app needs (the Space installs this)
      requirements-dev.txt         + pytest, ruff
      pyproject.toml               ruff and pytest settings
      README.md                    with the Spaces YAML front matter, so the repo *is* a Space
      .devcontainer/               devcontainer.json + Dockerfile (venv, make install)
      .github/workflows/ci.yml     install, lint, test on every push and pull request
      .github/workflows/sync-to-hub.yml   push main to the Space with the HF_TOKEN secret
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..errors import InvalidOptionError, UsageError


@dataclass
class ScaffoldResult:
    path: str
    name: str
    space: str
    files: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _at_least(package: str, fallback: str) -> str:
    try:
        have = version(package)
    except PackageNotFoundError:
        return f"{package}>={fallback}"
    return f"{package}>={'.'.join(have.split('.')[:2])}"


MAKEFILE = """\
# make install · make lint · make format · make test · make run
# `install` creates .venv once and reinstalls only when a requirements file changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := .make/installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: install lint format test run clean

install: $(STAMP)

$(PY):
\t$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
\t$(PY) -m pip install -q -r requirements-dev.txt
\t@mkdir -p .make && rm -f .make/installed-* && touch $(STAMP)

lint: $(STAMP)
\t$(PY) -m ruff check .
\t$(PY) -m ruff format --check .

format: $(STAMP)
\t$(PY) -m ruff format .
\t$(PY) -m ruff check --fix .

test: $(STAMP)
\t$(PY) -m pytest -q

run: $(STAMP)
\t$(PY) app.py

clean:
\trm -rf $(VENV) .make .pytest_cache .ruff_cache
"""

APP = '''"""{{NAME}}: an example Gradio app. The logic is a plain function (tested in tests/), the UI
is a thin layer over it. Replace `analyze` with your model call."""

from __future__ import annotations

import re
from collections import Counter

import gradio as gr

STOPWORDS = {"the", "a", "an", "and", "or", "of", "to", "in", "is", "it", "on", "for", "with", "as"}


def analyze(text: str) -> dict:
    """Word, sentence and keyword statistics of a text."""
    words = re.findall(r"[A-Za-z0-9']+", text or "")
    sentences = [s for s in re.split(r"[.!?]+", text or "") if s.strip()]
    keywords = Counter(w.lower() for w in words if w.lower() not in STOPWORDS and len(w) > 2)
    return {
        "words": len(words),
        "sentences": len(sentences),
        "keywords": [word for word, _ in keywords.most_common(5)],
    }


demo = gr.Interface(
    fn=analyze,
    inputs=gr.Textbox(label="Text", lines=6),
    outputs=gr.JSON(label="Statistics"),
    title="{{NAME}}",
    flagging_mode="never",
    api_name="analyze",
)

if __name__ == "__main__":
    demo.launch()
'''

TEST = """from app import analyze


def test_counts_words_sentences_and_keywords():
    result = analyze("Models learn from data. Data beats models! Learn more.")
    assert result["words"] == 9
    assert result["sentences"] == 3
    assert result["keywords"][:2] == ["models", "learn"]


def test_empty_text():
    assert analyze("") == {"words": 0, "sentences": 0, "keywords": []}
"""

PYPROJECT = """\
[project]
name = "{{NAME}}"
version = "0.1.0"
requires-python = ">=3.10"

[tool.ruff]
line-length = 100
target-version = "py310"

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
"""

README = """\
---
title: {{NAME}}
emoji: 🚀
colorFrom: blue
colorTo: green
sdk: gradio
sdk_version: {{GRADIO}}
app_file: app.py
pinned: false
---

# {{NAME}}

A starter project made by `pretrained init`: an example Gradio app, tests, a Makefile, a
devcontainer, CI, and a workflow that syncs `main` to the Hugging Face Space `{{SPACE}}`.

```bash
make install   # .venv + requirements-dev.txt (once)
make test      # pytest
make lint      # ruff check + ruff format --check
make format    # ruff format + ruff check --fix
make run       # python app.py → http://127.0.0.1:7860
```

## Deploying to the Space

1. Create the Space `{{SPACE}}` (SDK: Gradio) on huggingface.co, or let the first sync create it.
2. Add a repository secret `HF_TOKEN` (a Hugging Face **write** token) in GitHub → Settings →
   Secrets and variables → Actions. Change `HF_SPACE` in `.github/workflows/sync-to-hub.yml` if
   the Space has another name.
3. Push to `main`: CI runs lint and tests; the sync workflow pushes the repo to the Space, which
   builds `requirements.txt` and runs `app.py`.
"""

DEVCONTAINER_JSON = """\
{
  "name": "{{NAME}}",
  "build": {"dockerfile": "Dockerfile", "context": ".."},
  "postCreateCommand": "make install",
  "forwardPorts": [7860],
  "customizations": {
    "vscode": {
      "settings": {"python.defaultInterpreterPath": "/workspace/.venv/bin/python"},
      "extensions": ["ms-python.python", "charliermarsh.ruff"]
    }
  },
  "workspaceFolder": "/workspace",
  "workspaceMount": "source=${localWorkspaceFolder},target=/workspace,type=bind"
}
"""

DOCKERFILE = """\
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends make git git-lfs \\
    && rm -rf /var/lib/apt/lists/*
WORKDIR /workspace
# The image gets its own venv with the dependencies; the bind-mounted checkout reuses it.
COPY requirements.txt requirements-dev.txt Makefile ./
RUN make install VENV=/opt/venv && ln -s /opt/venv /workspace/.venv
ENV PATH=/opt/venv/bin:$PATH
EXPOSE 7860
"""

CI = """\
name: CI
on:
  push:
  pull_request:
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
          cache: pip
          cache-dependency-path: requirements*.txt
      - run: make install
      - run: make lint
      - run: make test
"""

SYNC = """\
name: Sync to Hugging Face Space
on:
  push:
    branches: [main]
  workflow_dispatch:
env:
  HF_SPACE: {{SPACE}}
jobs:
  sync:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
          lfs: true
      - name: Push to the Space
        env:
          HF_TOKEN: ${{ secrets.HF_TOKEN }}
        run: |
          if [ -z "$HF_TOKEN" ]; then
            echo "::error::add a repository secret HF_TOKEN (a Hugging Face write token)"; exit 1
          fi
          git push --force "https://user:${HF_TOKEN}@huggingface.co/spaces/${HF_SPACE}" HEAD:main
"""

GITIGNORE = """\
.venv/
.make/
__pycache__/
.pytest_cache/
.ruff_cache/
.gradio/
flagged/
"""


def files(name: str, space: str) -> dict[str, str]:
    gradio_req = _at_least("gradio", "5.0")
    try:
        gradio_version = version("gradio")
    except PackageNotFoundError:
        gradio_version = "5.0.0"
    values = {"NAME": name, "SPACE": space, "GRADIO": gradio_version}
    raw = {
        "Makefile": MAKEFILE,
        "app.py": APP,
        "tests/test_app.py": TEST,
        "tests/__init__.py": "",
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        "requirements.txt": gradio_req + "\n",
        "requirements-dev.txt": "-r requirements.txt\n"
        + _at_least("pytest", "8.0")
        + "\n"
        + _at_least("ruff", "0.8")
        + "\n",
        ".gitignore": GITIGNORE,
        ".devcontainer/devcontainer.json": DEVCONTAINER_JSON,
        ".devcontainer/Dockerfile": DOCKERFILE,
        ".github/workflows/ci.yml": CI,
        ".github/workflows/sync-to-hub.yml": SYNC,
    }
    # only our own {{UPPER}} placeholders; GitHub's ${{ secrets.X }} has spaces and stays
    return {
        path: re.sub(r"\{\{([A-Z]+)\}\}", lambda m: values[m.group(1)], text)
        for path, text in raw.items()
    }


def init_project(
    folder: str | Path, *, space: str | None = None, force: bool = False
) -> ScaffoldResult:
    target = Path(folder).expanduser()
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", target.resolve().name).strip("-.") or "my-app"
    if space is not None and not re.fullmatch(r"[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*", space):
        raise InvalidOptionError(
            f"--space takes user/name (got {space!r})", hint="e.g. --space me/my-app"
        )
    space = space or f"HF_USERNAME/{name}"
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not force:
        raise UsageError(
            f"'{target}' exists and is not empty",
            hint="pick a new folder, or pass --force to add the files",
        )
    written = files(name, space)
    for path, text in written.items():
        out = target / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return ScaffoldResult(str(target), name, space, sorted(written))
