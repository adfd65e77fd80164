"""`push()`: upload a fine-tuning run (adapter, merged or full model + model card) to the Hub.

The token is checked first (present, accepted by the Hub, allowed to write) so a missing or
read-only token fails before anything is created or uploaded. Uploads go through
huggingface_hub: create_repo, then one create_commit with every file.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import runlog, settings
from ..errors import AuthError, InputNotFoundError, InvalidOptionError, NetworkError

_REPO = re.compile(r"^(?:[A-Za-z0-9][\w.\-]{0,95}/)?[A-Za-z0-9][\w.\-]{0,95}$")
# Run-folder files that travel with the weights (config.yaml stays home: it holds local paths).
_EXTRAS = ("loss.png", "metrics.json")


@dataclass
class PushResult:
    repo_id: str
    url: str
    commit: str | None
    private: bool
    variant: str  # adapter | merged | full
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _hub_errors(repo_id: str) -> Iterator[None]:
    from huggingface_hub import errors as hf

    try:
        yield
    except hf.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise AuthError(
                f"the Hub refused the upload to '{repo_id}' (HTTP {status}): the token cannot "
                "write there",
                hint="use a write token for that namespace: hf auth login (or set HF_TOKEN)",
            ) from exc
        raise NetworkError(f"the Hub answered an error for '{repo_id}': HTTP {status}") from exc
    except OSError as exc:
        raise NetworkError(f"could not reach the Hugging Face Hub: {exc}") from exc


def check_token(namespace: str | None = None) -> dict[str, Any]:
    """whoami with the configured token; AuthError unless it may write (to `namespace`)."""
    from huggingface_hub import errors as hf

    from ..models import hub

    if not settings.hf_token():
        raise AuthError(
            "no Hugging Face token found: pushing needs a token with write access",
            hint="create a write token at https://huggingface.co/settings/tokens, then run "
            "'hf auth login' (or set HF_TOKEN)",
        )
    if settings.offline():
        raise NetworkError(
            "pushing needs the network, but HF_HUB_OFFLINE=1 is set",
            hint="unset HF_HUB_OFFLINE to upload",
        )
    try:
        with _hub_errors("whoami"):
            user = hub.api().whoami()
    except hf.HfHubHTTPError as exc:  # pragma: no cover - _hub_errors translates these
        raise AuthError("the Hub did not accept the token") from exc
    except AuthError as exc:
        raise AuthError(
            "the Hub did not accept your token (invalid or expired)",
            hint="log in again with a write token: hf auth login (or set HF_TOKEN)",
        ) from exc
    access = (user.get("auth") or {}).get("accessToken") or {}
    role = access.get("role")
    if role == "read":
        raise AuthError(
            "your Hugging Face token is read-only; pushing needs write access",
            hint="create a write token at https://huggingface.co/settings/tokens, then run "
            "'hf auth login' with it (or set HF_TOKEN)",
        )
    if role == "fineGrained":
        grants = access.get("fineGrained") or {}
        target = namespace or user.get("name")
        allowed = "repo.write" in (grants.get("global") or []) or any(
            "repo.write" in (scope.get("permissions") or [])
            and (scope.get("entity") or {}).get("name") == target
            for scope in grants.get("scoped") or []
        )
        if not allowed:
            raise AuthError(
                f"your fine-grained token may not write repositories of '{target}'",
                hint="add the 'write' permission for that namespace to the token at "
                "https://huggingface.co/settings/tokens",
            )
    return user


def _folder(run_dir: Path, config: dict[str, Any], merged: bool) -> tuple[Path, str]:
    method = (config.get("method") or {}).get("method")
    if method == "full":
        return run_dir / "model", "full"
    if merged:
        target = run_dir / "merged"
        if not (target / "config.json").exists():
            from ..train.merge import merge_run

            merge_run(run_dir)
        return target, "merged"
    return run_dir / "adapter", "adapter"


def push(
    run_dir: str | Path,
    repo: str,
    *,
    private: bool = False,
    merged: bool = False,
    message: str | None = None,
) -> PushResult:
    """Upload `run_dir` to the Hub repo `repo` ('user/name', or 'name' under your account)."""
    from huggingface_hub import CommitOperationAdd

    from ..models import hub
    from ..models.loading import read_run_config
    from ..train import card

    run_dir = Path(run_dir)
    if not isinstance(repo, str) or not _REPO.match(repo) or "--" in repo or ".." in repo:
        raise InvalidOptionError(
            f"--repo {repo!r} is not a Hub repository id", hint="e.g. --repo your-name/quotes-lora"
        )
    namespace = repo.split("/")[0] if "/" in repo else None
    user = check_token(namespace)  # before reading, merging or uploading anything
    config = read_run_config(run_dir) if run_dir.is_dir() else None
    if config is None:
        raise InputNotFoundError(
            f"'{run_dir}' is not a fine-tuning run folder (no config.yaml)",
            hint="pass a folder made by 'pretrained finetune', e.g. runs/<name>",
        )
    repo_id = repo if "/" in repo else f"{user.get('name')}/{repo}"
    folder, variant = _folder(run_dir, config, merged)
    if not folder.is_dir():
        raise InputNotFoundError(
            f"'{folder}' is missing: the run has not finished",
            hint="finish it first (pretrained finetune … --resume)",
        )
    operations = [
        CommitOperationAdd(path_in_repo=str(p.relative_to(folder)), path_or_fileobj=str(p))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.name != "README.md"  # peft's stub card; the run's card replaces it
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    operations += [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(run_dir / name))
        for name in _EXTRAS
        if (run_dir / name).is_file()
    ]
    text = card.render(run_dir, repo_id=repo_id, variant=variant)
    operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=text.encode()))
    api = hub.api()
    with _hub_errors(repo_id):
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.create_commit(
            repo_id,
            operations=operations,
            commit_message=message or f"Upload {variant} from pretrained finetune ({run_dir.name})",
            repo_type="model",
        )
    runlog.annotate(task="push", model=repo_id, revision=info.oid)
    return PushResult(
        repo_id=repo_id,
        url=str(url),
        commit=info.oid,
        private=private,
        variant=variant,
        files=[op.path_in_repo for op in operations],
    )
