"""Export a task as a self-contained Hugging Face Space (app.py, requirements.txt, README.md with
the Spaces YAML front matter) and push it with huggingface_hub.

    export_space("summarize", out="/tmp/s")            # python /tmp/s/app.py runs it
    push_space("/tmp/s", "me/summarizer")              # needs a write token
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..errors import AuthError, InvalidOptionError, NetworkError, UsageError
from ..models.registry import ModelFormat, ModelSource
from . import space_apps

SPACE_TASKS = tuple(space_apps.TASKS)
EMOJI = {"summarize": "📝", "chat": "💬", "generate": "✍️", "classify": "🏷️", "transcribe": "🎙️"}
TITLES = {
    "summarize": "Summarizer",
    "chat": "Chatbot",
    "generate": "Text generator",
    "classify": "Zero-shot classifier",
    "transcribe": "Transcriber",
}


@dataclass
class SpaceExport:
    task: str
    path: str
    model: str  # Hub id the Space loads
    files: list[str]
    url: str | None = None  # set after a push
    commit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def requirements(packages: tuple[str, ...]) -> str:
    """Lower bounds at the installed major.minor, so the Space gets what was tested here."""
    lines = []
    for name in packages:
        have = _installed(name)
        if name == "torch" or not have:
            lines.append(name)
        else:
            major_minor = ".".join(have.split("+")[0].split(".")[:2])
            lines.append(f"{name}>={major_minor}")
    return "\n".join(lines) + "\n"


def readme(task: str, title: str, model_id: str, description: str) -> str:
    import yaml

    gradio_version = _installed("gradio") or "5.0.0"
    meta = {
        "title": title,
        "emoji": EMOJI.get(task, "🤗"),
        "colorFrom": "blue",
        "colorTo": "indigo",
        "sdk": "gradio",
        "sdk_version": gradio_version,
        "app_file": "app.py",
        "pinned": False,
        "models": [model_id],
        "short_description": f"{TITLES.get(task, task)} with {model_id.split('/')[-1]}"[:60],
    }
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip()
    return (
        f"---\n{front}\n---\n\n# {title}\n\n{description}\n\n"
        f"Exported by `pretrained space {task}`. Model: [{model_id}](https://huggingface.co/{model_id}).\n\n"
        "Run it locally:\n\n```bash\npip install -r requirements.txt\npython app.py\n```\n\n"
        "Set `MODEL_ID` (and `MODEL_REVISION`) to load another model.\n"
    )


def render_app(
    task: str, model_id: str, revision: str | None, embedded: tuple[str, str] | None, title: str
) -> str:
    body, text_helpers, _, _ = space_apps.TASKS[task]
    source = (
        space_apps.HEADER
        + (space_apps.TEXT_MODEL if text_helpers else "")
        + body
        + space_apps.FOOTER
    )
    values = {
        "TITLE": title,
        "TASK": task,
        "MODEL_ID": model_id,
        "REVISION": repr(revision),
        "EMBEDDED": repr(embedded),
    }
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], source)


def export_space(
    task: str,
    model: str | None = None,
    out: str | Path = "space",
    *,
    title: str | None = None,
    revision: str | None = None,
    force: bool = False,
) -> SpaceExport:
    from ..models.registry import entry, resolve

    if task not in space_apps.TASKS:
        raise InvalidOptionError(
            f"no Space template for the task '{task}'", hint=f"use one of: {', '.join(SPACE_TASKS)}"
        )
    _, _, registry_task, packages = space_apps.TASKS[task]
    resolved = resolve(model, task=registry_task, revision=revision)
    if resolved.source == ModelSource.LOCAL or not resolved.hub_id:
        raise UsageError(
            f"'{resolved.name}' is a local model; a Space loads its model from the Hub",
            hint="push the model first (hf upload NAME FOLDER), then pass its Hub id with --model",
        )
    item = entry(resolved.alias) if resolved.alias else None
    embedded = (item.package, item.subpath) if item and item.package and revision is None else None
    if embedded and item.format == ModelFormat.GGUF:
        packages = (*packages, "gguf")
    target = Path(out).expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not force:
        raise UsageError(
            f"'{target}' exists and is not empty",
            hint="pick a new --out folder, or pass --force to overwrite",
        )
    title = title or TITLES[task]
    description = f"{TITLES[task]} running {resolved.hub_id}, exported by pretrained."
    files = {
        "app.py": render_app(task, resolved.hub_id, revision, embedded, title),
        "requirements.txt": requirements(tuple(dict.fromkeys(packages))),
        "README.md": readme(task, title, resolved.hub_id, description),
        ".gitignore": "__pycache__/\n.gradio/\nflagged/\n",
    }
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
    return SpaceExport(task, str(target), resolved.hub_id, sorted(files))


def require_write_token(api) -> str:
    """The user name behind a token that can write; a clear AuthError otherwise."""
    from huggingface_hub import errors as hf

    if not api.token:
        raise AuthError(
            "pushing a Space needs a Hugging Face token with write access, and none is set",
            hint="create a write token at https://huggingface.co/settings/tokens, then hf auth login (or set HF_TOKEN)",
        )
    try:
        info = api.whoami()
    except hf.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise AuthError(
                "the Hugging Face Hub rejected the token (invalid or expired)",
                hint="create a new write token at https://huggingface.co/settings/tokens and hf auth login",
            ) from exc
        raise NetworkError(f"the Hub answered HTTP {status} when checking the token") from exc
    except OSError as exc:
        raise NetworkError(f"could not reach the Hugging Face Hub: {type(exc).__name__}") from exc
    role = ((info.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise AuthError(
            "the Hugging Face token is read-only; pushing a Space needs write access",
            hint="create a write token at https://huggingface.co/settings/tokens and hf auth login",
        )
    return info.get("name") or ""


def push_space(folder: str | Path, repo_id: str, *, private: bool = False) -> tuple[str, str]:
    """Create the Space if needed and commit the folder's files → (Space URL, commit id)."""
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub import errors as hf

    from ..models.hub import api as hub_api

    if not re.fullmatch(r"[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*", repo_id or ""):
        raise InvalidOptionError(
            f"--push takes user/name (got {repo_id!r})", hint="e.g. --push me/summarizer"
        )
    folder = Path(folder)
    api = hub_api()
    require_write_token(api)
    operations = [
        CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    ]
    try:
        url = api.create_repo(
            repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True
        )
        commit = api.create_commit(
            repo_id,
            operations,
            repo_type="space",
            commit_message="Update Space from pretrained space",
        )
    except hf.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise AuthError(
                f"the Hub refused to write to the Space '{repo_id}' (HTTP {status})",
                hint="check that the token can write to this user or organisation",
            ) from exc
        raise NetworkError(f"pushing the Space failed: HTTP {status}") from exc
    except OSError as exc:
        raise NetworkError(f"could not reach the Hugging Face Hub: {type(exc).__name__}") from exc
    return str(url), commit.oid
