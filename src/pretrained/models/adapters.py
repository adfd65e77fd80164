"""Models with something on top of a base: PEFT adapter folders and `pretrained finetune`
run folders (their merged model, full model, or base + adapter, the base as recorded in
config.yaml). The causal-LM loader is passed in, so this module sits below causal.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._util import first_line
from ..errors import (
    ModelLoadError,
)
from .devices import quiet_peft
from .folders import LoadedLM
from .registry import ModelSource, ResolvedModel


def read_run_config(folder: Path) -> dict[str, Any] | None:
    """The config.yaml of a `pretrained finetune` run folder, or None for any other folder."""
    path = folder / "config.yaml"
    if not path.is_file():
        return None
    import yaml

    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ModelLoadError(f"'{path}' is not valid YAML: {first_line(exc)}") from exc
    return config if isinstance(config, dict) and "base_model" in config else None


def run_base(config: dict[str, Any]) -> ResolvedModel:
    """The base model a run was trained from, exactly as recorded (embedded alias, local path,
    or Hub id pinned to the commit that was used)."""
    from .registry import resolve

    base = config["base_model"]
    if base.get("source") == ModelSource.EMBEDDED:
        return resolve(base["name"])
    if base.get("source") == ModelSource.LOCAL:
        return resolve(base["path"])
    return resolve(base["hub_id"], revision=base.get("resolved_revision") or base.get("revision"))


def load_run(resolved: ResolvedModel, load: Callable[..., LoadedLM], **options: Any) -> LoadedLM:
    """A fine-tuning run folder: its merged model if there is one, else its fully fine-tuned
    model, else base + adapter (`load` loads a causal LM: causal.load_causal_lm). A run trained on plain-text templates continues text, so its
    prompts are not wrapped in the chat template."""
    from .registry import resolve

    assert resolved.path is not None
    config = read_run_config(resolved.path)
    if config is None:
        raise ModelLoadError(f"'{resolved.path}' has no readable config.yaml of a fine-tuning run")
    start = time.time()
    for sub in ("merged", "model"):
        if (resolved.path / sub / "config.json").exists():
            loaded = load(resolve(str(resolved.path / sub)), **options)
            break
    else:
        adapter = resolve(str(resolved.path / "adapter"))
        loaded = load_adapter(adapter, load, base=run_base(config), **options)
    if (config.get("data") or {}).get("format") != "chat":
        loaded.tokenizer.chat_template = None
    loaded.resolved = resolved
    loaded.load_seconds = time.time() - start
    return loaded


def load_adapter(
    resolved: ResolvedModel,
    load: Callable[..., LoadedLM],
    base: ResolvedModel | None = None,
    **options: Any,
) -> LoadedLM:
    """A PEFT adapter folder: load its base model, then the adapter on top. The base comes
    from the run folder around it when there is one, else from adapter_config.json."""
    from .registry import resolve

    assert resolved.path is not None
    if base is None:
        run = read_run_config(resolved.path.parent)
        if run is not None:
            base = run_base(run)
    if base is None:
        config = json.loads((resolved.path / "adapter_config.json").read_text())
        base_name = config.get("base_model_name_or_path")
        if not base_name:
            raise ModelLoadError(f"adapter '{resolved.path}' does not name its base model")
        base = resolve(base_name, revision=config.get("revision"))
    with quiet_peft():
        try:
            from peft import PeftModel
        except ImportError as exc:
            from ..errors import missing_dependency

            raise missing_dependency("peft", "train") from exc
    start = time.time()
    loaded = load(base, **options)
    with quiet_peft():
        loaded.model = PeftModel.from_pretrained(loaded.model, resolved.path)
    loaded.model.eval()
    loaded.resolved = resolved
    loaded.load_seconds = time.time() - start
    return loaded
