"""The run folder: its name, config.yaml (with the config hash that guards --resume),
metrics.json (a status that is always true, even for a run killed half-way), checkpoints and
the saved weights.

    config.yaml      every argument, resolved model/data revisions, library versions, config hash
    metrics.jsonl    one line per step (loss, learning rate, grad norm) and per evaluation
    metrics.json     status, phase and step reached, before/after evaluation, training summary
    checkpoints/     Trainer checkpoints (the last two)
    adapter/         the LoRA adapter + tokenizer (lora, qlora, dpo, orpo)   | model/ (full)
    merged/          with --merge: base + adapter merged, safetensors
    loss.png         train/eval loss curves
    README.md        the model card
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ResumeMismatchError, RunExistsError
from ..models.registry import ModelSource
from .options import FinetuneOptions

LIBRARIES = (
    "pretrained",
    "torch",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "datasets",
    "huggingface_hub",
    "bitsandbytes",
)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in LIBRARIES:
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.").lower()[:60] or "run"


def default_name(data: str, model: str, method: str) -> str:
    stem = Path(data).stem if Path(data).suffix else data.rsplit("/", 1)[-1]
    return f"{_slug(stem)}-{_slug(model.rsplit('/', 1)[-1])}-{method}"


def config_hash(config: dict[str, Any]) -> str:
    hashed = {k: config[k] for k in ("base_model", "data", "method", "training")}
    return hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for section in ("base_model", "data", "method", "training"):
        a, b = old.get(section) or {}, new.get(section) or {}
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"{section}.{key}: {a.get(key)!r} → {b.get(key)!r}")
    return out


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    import yaml

    from .._util import atomic_write

    atomic_write(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


def write_json(path: Path, data: dict[str, Any]) -> None:
    from .._util import atomic_write

    atomic_write(path, json.dumps(data, indent=2, default=str) + "\n")


class Summary:
    """metrics.json, rewritten atomically at every change of phase, so that whatever stops the
    process (a finished run, Ctrl-C, SIGTERM, an exception) leaves a status that says what
    happened and how far the run got. Only kill -9 leaves the last phase written."""

    def __init__(self, run_dir: Path, resumed: bool) -> None:
        self.path = run_dir / "metrics.json"
        self.data: dict[str, Any] = {}
        if resumed and self.path.exists():
            with contextlib.suppress(ValueError):
                self.data = json.loads(self.path.read_text())

    def update(self, **fields: Any) -> None:
        self.data.update(fields)
        write_json(self.path, self.data)


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest *complete* checkpoint: the Trainer writes trainer_state.json last, so a folder
    without it was cut short (kill -9 in the middle of a save) and is skipped."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return None
    found = []
    for item in folder.iterdir():
        m = re.fullmatch(r"checkpoint-(\d+)", item.name)
        if m and (item / "trainer_state.json").exists():
            found.append((int(m.group(1)), item))
    return max(found)[1] if found else None


def _trim_metrics(path: Path, step: int) -> None:
    """On resume, drop per-step lines logged after the checkpoint (they will be redone)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
    path.write_text("".join(line + "\n" for line in keep))


def base_name(resolved) -> str:
    """How to name the base model again later: the alias for embedded models, else the id."""
    if resolved.source == ModelSource.EMBEDDED:
        return resolved.alias
    if resolved.source == ModelSource.LOCAL:
        return str(resolved.path / resolved.file if resolved.file else resolved.path)
    return resolved.hub_id


def build_config(
    options: FinetuneOptions, resolved, loaded, records, fmt, template, applied, report, steps
) -> dict[str, Any]:
    """config.yaml: what was asked, what it resolved to, and the hash that guards --resume."""
    o = options
    libraries = versions()
    lora = o.adapter_method != "full"
    base = {
        "name": base_name(resolved),
        "source": resolved.source,
        "hub_id": resolved.hub_id,
        "revision": resolved.revision,
        "resolved_revision": loaded.revision,
        "path": str(resolved.path / resolved.file if resolved.file else resolved.path)
        if resolved.source == ModelSource.LOCAL
        else None,
    }
    src = records.source
    data = {
        "name": src.name, "kind": src.kind, "split": src.split, "revision": src.revision,
        "resolved_revision": src.resolved_revision, "path": src.path, "limit": o.limit,
        "val_size": o.val_size, "format": fmt, "template": template,
        "prompt_template": o.prompt_template, "completion_field": o.completion_field,
        "messages_field": o.messages_field if fmt == "chat" else None,
        "max_length": o.max_length, "drop_long": o.drop_long,
    }  # fmt: skip
    method = {
        "method": o.method,
        "lora_r": o.lora_r if lora else None,
        "lora_alpha": o.lora_alpha if lora else None,
        "lora_dropout": o.lora_dropout if lora else None,
        "target_modules": list(o.target_modules),
    }
    if o.preference:
        method["beta"] = o.preference_beta
    training = {
        "epochs": o.epochs, "max_steps": o.max_steps, "lr": o.learning_rate,
        "batch_size": o.batch_size, "grad_accum": o.grad_accum, "warmup": o.warmup,
        "seed": o.seed, "scheduler": "linear", "optimizer": "adamw",
    }  # fmt: skip
    config = {
        "pretrained": libraries.get("pretrained", "unknown"),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config_hash": "",
        "base_model": base,
        "data": data,
        "method": method,
        "training": training,
        "resolved": {
            "lora_targets": applied.targets,
            "lora_modules_wrapped": applied.wrapped,
            "fan_in_fan_out": applied.fan_in_fan_out,
            "trainable_parameters": applied.trainable,
            "total_parameters": applied.total,
            "planned_steps": steps,
            # a memory/time trade, not part of what is trained: free to change on --resume
            "gradient_checkpointing": report.gradient_checkpointing,
            "train_examples": report.data["train"],
            "val_examples": report.data["val"],
            "device": loaded.device,
            "dtype": loaded.dtype,
        },
        "arguments": dict(options.to_dict()),
        "libraries": libraries,
    }
    config["config_hash"] = config_hash(config)
    return config


def prepare(run_dir: Path, options: FinetuneOptions, config: dict[str, Any]) -> Path | None:
    """Create the run folder, or check that --resume matches it. → checkpoint to resume from.
    Only run folders are ever deleted (--overwrite); any other folder is left alone."""
    from ..models.loading import read_run_config

    old = read_run_config(run_dir) if run_dir.is_dir() else None
    if old is None and run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise RunExistsError(
            f"{run_dir} exists and is not a run folder", hint="pick another --name or --output-dir"
        )
    if old is None and options.resume:
        raise RunExistsError(
            f"there is no run to resume at {run_dir}",
            hint="drop --resume to start it, or pass the --name of the run to continue",
        )
    if old is not None and options.resume:
        checkpoint = _resumable(run_dir, old, config)
        if checkpoint is not None:
            return checkpoint
        shutil.rmtree(run_dir)  # nothing was saved yet: start over in the same folder
    elif old is not None:
        if not options.overwrite:
            raise RunExistsError(f"the run folder {run_dir} already exists")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_yaml(run_dir / "config.yaml", config)
    return None


def _resumable(run_dir: Path, old: dict[str, Any], config: dict[str, Any]) -> Path | None:
    if old.get("config_hash") != config["config_hash"]:
        diffs = _differences(old, config)
        raise ResumeMismatchError(
            f"cannot resume {run_dir}: its config differs ("
            + "; ".join(diffs[:4])
            + (f"; {len(diffs) - 4} more" if len(diffs) > 4 else "")
            + ")",
            hint="resume with the original options, or start a new run with --name",
        )
    summary = run_dir / "metrics.json"
    if summary.exists() and json.loads(summary.read_text()).get("status") == "completed":
        raise RunExistsError(
            f"{run_dir} already finished; there is nothing to resume",
            hint=f"use it (pretrained generate --model {run_dir}), or --overwrite",
        )
    checkpoint = last_checkpoint(run_dir)
    if checkpoint is not None:
        _trim_metrics(run_dir / "metrics.jsonl", int(checkpoint.name.split("-")[1]))
        config["created"] = old.get("created", config["created"])
        write_yaml(run_dir / "config.yaml", config)
    return checkpoint


def save_weights(net, tokenizer, run_dir: Path, method: str, resolved, loaded) -> dict[str, str]:
    """adapter/ (LoRA, QLoRA, DPO, ORPO) or model/ (full), each with the tokenizer."""
    if method == "full":
        target = run_dir / "model"
        net.save_pretrained(target, safe_serialization=True)
        tokenizer.save_pretrained(target)
        return {"model": str(target)}
    target = run_dir / "adapter"
    config = net.peft_config["default"]
    # peft records the folder the base was read from (a cache path for converted models);
    # record how to find the base again instead: the Hub id (or the local path) and its revision.
    config.base_model_name_or_path = resolved.hub_id or base_name(resolved)
    config.revision = loaded.revision if resolved.source == ModelSource.HUB else None
    # no resized embeddings to save (pad = EOS, no tokens added); "auto" would look the base's
    # config up on the Hub to find out, and warn when offline
    net.save_pretrained(target, safe_serialization=True, save_embedding_layers=False)
    tokenizer.save_pretrained(target)
    return {"adapter": str(target)}
