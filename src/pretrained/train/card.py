"""The run's model card (README.md, with Hub metadata) and its loss curves (loss.png).

Both are rebuilt from what the run folder holds (config.yaml, metrics.json, metrics.jsonl), so
`push` can render the card again for the repository it uploads to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..models.loading import read_run_config
from ..models.registry import ModelSource
from .evaluate import SAMPLE_REPETITION_PENALTY

_METHOD_NAMES = {
    "lora": "LoRA",
    "qlora": "QLoRA",
    "full": "full",
    "dpo": "DPO (LoRA)",
    "orpo": "ORPO (LoRA)",
}
_PAIR_METRICS = (
    ("reward accuracy", "reward_accuracy", ".0%"),
    ("reward margin", "reward_margin", ".3f"),
    ("preference accuracy (chosen more likely)", "preference_accuracy", ".0%"),
)


def _summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _steps(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def plot_losses(run_dir: str | Path) -> Path | None:
    """loss.png: training loss per step, held-out loss before, during (--eval-steps) and after."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the train extra brings matplotlib; without it the run just has no plot
        return None
    run_dir = Path(run_dir)
    rows = _steps(run_dir)
    summary = _summary(run_dir)
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
    before = (summary.get("before") or {}).get("eval_loss")
    after = (summary.get("after") or {}).get("eval_loss")
    if before is not None:
        evals.insert(0, (0, before))
    if after is not None:
        evals.append((summary.get("steps", train[-1][0] if train else 0), after))
    if not train and not evals:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color="#4c72b0", linewidth=1)
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", label="held-out loss", color="#dd8452")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats / token)")
    ax.set_title(run_dir.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    target = run_dir / "loss.png"
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _provenance(base: dict[str, Any], data: dict[str, Any]) -> tuple[str, str, str]:
    """(how the base is named, where the data came from, what an example looks like)."""
    base_note = ""
    if base.get("source") == ModelSource.EMBEDDED:
        base_note = (
            f" (the embedded `{base.get('name')}` package: its GGUF weights dequantized to fp32, "
            f"{base.get('resolved_revision', '')[:19]}…)"
        )
    elif base.get("resolved_revision"):
        base_note = f" at revision `{base['resolved_revision']}`"
    data_rev = data.get("resolved_revision") or ""
    data_line = (
        f"[`{data['name']}`](https://huggingface.co/datasets/{data['name']}) at revision `{data_rev}`"
        if data.get("kind") == "hub"
        else f"a local file (`{Path(str(data.get('name'))).name}`, {data_rev[:19]}…)"
    )
    if data.get("format") == "completion":
        shape = (
            f"prompt `{data.get('prompt_template')}` → completion field `{data.get('completion_field')}`"
            " + EOS (loss on the completion only)"
        )
    elif data.get("format") == "preference":
        shape = (
            "prompt / chosen / rejected pairs, EOS appended to each completion (TRL's tokenization)"
        )
    elif data.get("format") == "chat":
        shape = f"`{data.get('messages_field')}` rendered with the model's chat template (loss on assistant turns)"
    else:
        shape = f"`{data.get('template')}` + EOS"
    return base_note, data_line, shape


def _usage(repo_id: str | None, variant: str, prompt: str, where: str) -> list[str]:
    lines: list[str] = []
    lines += [
        "## Usage",
        "",
        "```bash",
        f'pretrained generate "{prompt.strip()}" --model {where}',
        "```",
        "",
    ]
    if repo_id:
        lines += ["```python"]
        if variant == "adapter":
            lines += [
                "from peft import AutoPeftModelForCausalLM",
                "from transformers import AutoTokenizer",
                "",
                f'model = AutoPeftModelForCausalLM.from_pretrained("{repo_id}")',
                f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")',
            ]
        else:
            lines += [
                "from transformers import AutoModelForCausalLM, AutoTokenizer",
                "",
                f'model = AutoModelForCausalLM.from_pretrained("{repo_id}")',
                f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")',
            ]
        lines += [
            f"inputs = tokenizer({prompt.strip()!r}, return_tensors='pt')",
            "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=64)[0]))",
            "```",
            "",
        ]
    return lines


def _card_data(base_id, base: dict, data: dict, method: dict, variant: str):
    from huggingface_hub import ModelCardData

    tags = ["pretrained", "text-generation", method.get("method", "lora")]
    if variant == "adapter":
        tags.append("peft")
    card_data = ModelCardData(
        base_model=base_id if base.get("hub_id") else None,
        library_name="peft" if variant == "adapter" else "transformers",
        pipeline_tag="text-generation",
        tags=tags,
        datasets=[data["name"]] if data.get("kind") == "hub" else None,
    )
    return card_data


def render(run_dir: str | Path, *, repo_id: str | None = None, variant: str | None = None) -> str:
    """The card text. `variant`: adapter | merged | full (default: what the run produced)."""

    run_dir = Path(run_dir)
    config = read_run_config(run_dir) or {}
    summary = _summary(run_dir)
    base, data = config.get("base_model", {}), config.get("data", {})
    method, training = config.get("method", {}), config.get("training", {})
    resolved = config.get("resolved", {})
    if variant is None:
        variant = "full" if method.get("method") == "full" else "adapter"
    before, after = summary.get("before") or {}, summary.get("after") or {}

    base_id = base.get("hub_id") or base.get("name")
    card_data = _card_data(base_id, base, data, method, variant)
    where = repo_id or str(run_dir)
    base_note, data_line, shape = _provenance(base, data)
    samples = after.get("samples") or []
    prompt = samples[0]["prompt"] if samples else "Hello"
    lines = [
        "---",
        card_data.to_yaml(),
        "---",
        "",
        f"# {run_dir.name}",
        "",
        f"A {_METHOD_NAMES.get(method.get('method'), 'fine-tuned')} fine-tune of **{base_id}**"
        f"{base_note} on {data_line}, "
        f"made with `pretrained finetune`.",
        "",
        "## Results",
        "",
        f"Held-out split: {resolved.get('val_examples', '?')} examples "
        f"(--val-size {data.get('val_size')}, seed {training.get('seed')}); samples are greedy "
        f"(repetition penalty {SAMPLE_REPETITION_PENALTY}, as `pretrained generate`), at most "
        f"{(config.get('arguments') or {}).get('sample_max_new_tokens', '?')} new tokens.",
        "",
        "| metric | before | after |",
        "|---|---|---|",
        f"| eval loss | {_fmt(before.get('eval_loss'), '.4f')} | {_fmt(after.get('eval_loss'), '.4f')} |",
        f"| perplexity | {_fmt(before.get('perplexity'), '.2f')} | {_fmt(after.get('perplexity'), '.2f')} |",
        f"| stop rate (samples ending with EOS) | {_fmt(before.get('stop_rate'), '.0%')} | "
        f"{_fmt(after.get('stop_rate'), '.0%')} |",
        *_pair_rows(before, after),
        "",
    ]
    if (run_dir / "loss.png").exists():
        lines += ["![loss curves](loss.png)", ""]
    lines += [
        "## Data",
        "",
        f"- source: {data_line}, split `{data.get('split')}`"
        + (f", first {data['limit']} rows" if data.get("limit") else ""),
        f"- format: {data.get('format')}: {shape}",
        f"- examples: {resolved.get('train_examples', '?')} train / {resolved.get('val_examples', '?')} "
        f"held out · max length {data.get('max_length')} tokens",
        "",
        "## Training",
        "",
        "| hyper-parameter | value |",
        "|---|---|",
    ]
    for key, value in {**method, **training}.items():
        if value not in (None, [], ""):
            lines.append(f"| {key} | {value} |")
    if resolved.get("lora_targets"):
        lines.append(f"| LoRA modules | {', '.join(resolved['lora_targets'])} |")
    lines += [
        f"| trainable parameters | {resolved.get('trainable_parameters', '?'):,} of "
        f"{resolved.get('total_parameters', 0):,} |"
        if isinstance(resolved.get("trainable_parameters"), int)
        else "| trainable parameters | ? |",
        f"| steps | {summary.get('steps', '?')} ({summary.get('epochs', '?')} epochs) |",
        f"| device | {resolved.get('device', '?')} {resolved.get('dtype', '')} |",
        "",
    ]
    if samples:
        lines += ["## Samples after training", ""]
        for s in samples[:5]:
            end = "stopped" if s.get("stopped") else "hit the token limit"
            text = " ".join(str(s.get("text", "")).split())
            lines.append(f"- `{s['prompt'].strip()}` → {text[:200]} *({end})*")
        lines.append("")
    lines += _usage(repo_id, variant, prompt, where)
    libs = config.get("libraries") or {}
    lines += [
        "## Provenance",
        "",
        f"config hash `{config.get('config_hash', '?')}` · "
        + " · ".join(f"{k} {v}" for k, v in libs.items()),
        "",
    ]
    return "\n".join(lines)


def _pair_rows(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    if after.get("reward_accuracy") is None and before.get("reward_accuracy") is None:
        return []
    return [
        f"| {name} (held-out pairs) | {_fmt(before.get(key), fmt)} | {_fmt(after.get(key), fmt)} |"
        for name, key, fmt in _PAIR_METRICS
    ]


def write(run_dir: str | Path, **kwargs: Any) -> Path:
    run_dir = Path(run_dir)
    target = run_dir / "README.md"
    target.write_text(render(run_dir, **kwargs))
    return target
