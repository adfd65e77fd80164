"""Preflight: before an hour of training, show whether the data, template and method are right.

Record counts, token-length statistics, the truncation rate at --max-length, three rendered
examples with token boundaries (and which tokens carry loss), a check that EOS is in the labels
*after collation* (the tensors the model is trained on), trainable parameters, the LoRA target
modules actually matched, and rough memory and time estimates.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InputError
from .methods import Applied
from .template import IGNORE, Collator, Encoded, Example

SHOWN_EXAMPLES = 3
SHOWN_TOKENS = 40  # per example; the last few are always shown so EOS is visible


@dataclass
class Preflight:
    data: dict[str, Any]
    format: str
    template: dict[str, Any]
    tokens: dict[str, float]
    max_length: int
    truncated: int
    truncation_rate: float
    dropped_long: int
    empty: int
    examples: list[dict[str, Any]]
    eos: dict[str, Any]
    method: str
    parameters: dict[str, Any]
    targets: list[str]
    wrapped_modules: int
    device: str
    dtype: str
    steps: int
    epochs: float
    tokens_per_step: int
    memory: dict[str, int]
    time: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The human report (plain text; the CLI prints it as is)."""
        from .._util import human_bytes, human_count

        d, t, p = self.data, self.tokens, self.parameters
        out = [
            "preflight",
            f"  data       {d['source']} · {d['rows']} rows → {d['train']} train / {d['val']} held out"
            + (f" (of {d['total']}, --limit)" if d["total"] > d["rows"] else ""),
            f"  format     {self.format} · "
            + " · ".join(f"{k} {v!r}" for k, v in self.template.items() if v),
            f"  tokens     min {t['min']:.0f} · median {t['median']:.0f} · mean {t['mean']:.1f} · "
            f"p95 {t['p95']:.0f} · max {t['max']:.0f}",
            f"  truncation {self.truncated} of {d['rows']} rows longer than --max-length "
            f"{self.max_length} ({100 * self.truncation_rate:.1f} %)"
            + (f" · {self.dropped_long} dropped (--drop-long)" if self.dropped_long else "")
            + (f" · {self.empty} with nothing to learn, skipped" if self.empty else ""),
            f"  EOS        {self.eos['token']!r} (id {self.eos['id']}) in the labels of "
            f"{self.eos['with_eos']} / {self.eos['examples']} training examples · collated batch "
            + ("keeps it" if self.eos["collated_ok"] else "LOSES it"),
            f"  method     {self.method} · trainable {human_count(p['trainable'])} of "
            f"{human_count(p['total'])} parameters ({p['percent']:.2f} %)",
        ]
        if self.method != "full":
            out.append(
                f"  targets    {', '.join(self.targets)} ({self.wrapped_modules} modules wrapped)"
            )
        m, tm = self.memory, self.time
        out += [
            f"  device     {self.device} {self.dtype} · {self.steps} steps "
            f"({self.epochs:g} epochs) · ≈{self.tokens_per_step} tokens/step",
            f"  memory     ≈{human_bytes(m['total'])} (weights {human_bytes(m['weights'])}, "
            f"gradients+optimizer {human_bytes(m['optimizer'])}, activations "
            f"{human_bytes(m['activations'])})",
            f"  time       ≈{_duration(tm['train_s'])} training ({tm['step_s']:.2f} s/step, "
            f"from a timed forward pass) + ≈{_duration(tm['eval_s'])} evaluation",
            "  examples   [trained token] (no loss)",
        ]
        for ex in self.examples:
            out.append("    " + ex["shown"])
        out += [f"  warning    {w}" for w in self.warnings]
        return out


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def show_tokens(tokenizer: Any, example: Example, limit: int = SHOWN_TOKENS) -> tuple[str, list]:
    """'[Quote][ by](…)' — each token in brackets if it carries loss, parentheses if masked."""
    pieces = []
    for token, label in zip(example.input_ids, example.labels, strict=True):
        text = tokenizer.decode([token], skip_special_tokens=False)
        pieces.append({"piece": text, "id": token, "trained": label != IGNORE})

    def fmt(p: dict) -> str:
        text = p["piece"].replace("\n", "\\n")
        return f"[{text}]" if p["trained"] else f"({text})"

    if len(pieces) <= limit:
        shown = "".join(fmt(p) for p in pieces)
    else:
        head, tail = pieces[: limit - 4], pieces[-4:]
        shown = (
            "".join(fmt(p) for p in head)
            + f" … {len(pieces) - limit} more … "
            + "".join(fmt(p) for p in tail)
        )
    return shown, pieces


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def check_eos(encoded: Encoded, collator: Collator, eos_id: int) -> dict[str, Any]:
    """Count examples with EOS among their labels (last for text and completions; for chat
    templates it closes each assistant turn, which may be followed by a newline), and prove the
    collator keeps it: collate the first batch and look at every EOS position of each row."""
    examples = encoded.examples
    with_eos = sum(1 for e in examples if eos_id in e.labels)
    batch = examples[:8]
    collated_ok = True
    if batch:
        tensors = collator([{"input_ids": e.input_ids, "labels": e.labels} for e in batch])
        for row, e in enumerate(batch):
            positions = [j for j, label in enumerate(e.labels) if label == eos_id]
            if any(int(tensors["labels"][row, j]) != eos_id for j in positions):
                collated_ok = False
    untruncated = sum(1 for e in examples if not e.truncated)
    if untruncated and with_eos == 0:
        raise InputError(
            "no training example has EOS in its labels, so the model would never learn to stop",
            hint="this is a bug in the data pipeline; rerun with PRETRAINED_DEBUG=1 and report it",
        )
    if not collated_ok:
        raise InputError(
            "the collated batch masks EOS out of the labels, so the model would never learn to stop",
            hint="this is a bug in the collator; rerun with PRETRAINED_DEBUG=1 and report it",
        )
    return {"with_eos": with_eos, "examples": len(examples), "collated_ok": collated_ok}


def estimate_memory(
    model: Any, applied: Applied, batch_size: int, seq_len: int, gradient_checkpointing: bool
) -> dict[str, int]:
    """Rough peak memory: weights + fp32 gradients and Adam states of trainable weights +
    activations (per layer ≈ s·b·h·(34 + 5·a·s/h) half-precision bytes, Korthikanti et al. 2022)
    + the logits and their gradient."""
    config = model.config
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", 768)
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", 12)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", 12)
    vocab = getattr(config, "vocab_size", 32000)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    optimizer = applied.trainable * (4 + 8)  # fp32 gradient + Adam's two moments
    param = next(model.parameters())
    scale = param.element_size() / 2 if param.is_floating_point() else 1.0
    s, b = seq_len, batch_size
    per_layer = s * b * hidden * (34 + 5 * heads * s / hidden) * scale
    if gradient_checkpointing:
        activations = int(2 * s * b * hidden * layers * scale + per_layer)
    else:
        activations = int(per_layer * layers)
    logits = 3 * b * s * vocab * 4  # fp32 logits, their softmax and gradient
    activations += logits
    return {
        "weights": int(weights),
        "optimizer": int(optimizer),
        "activations": int(activations),
        "total": int(weights + optimizer + activations),
    }


def time_forward(model: Any, examples: list[Example], collator: Collator, batch_size: int) -> float:
    """Seconds for one forward pass on a batch of median-length examples (second of two runs,
    so one-off warm-up costs are not counted)."""
    import torch

    if not examples:
        return 0.0
    ordered = sorted(examples, key=lambda e: len(e.input_ids))
    mid = len(ordered) // 2
    chunk = ordered[max(0, mid - batch_size // 2) : max(0, mid - batch_size // 2) + batch_size]
    batch = collator([{"input_ids": e.input_ids, "labels": e.labels} for e in chunk])
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    was_training = model.training
    model.eval()
    took = 0.0
    try:
        with torch.no_grad():
            for _ in range(2):
                start = time.perf_counter()
                model(**batch)
                took = time.perf_counter() - start
    finally:
        model.train(was_training)
    return took


def build(
    *,
    source: dict[str, Any],
    fmt: str,
    template: dict[str, Any],
    tokenizer: Any,
    train: Encoded,
    val: Encoded,
    max_length: int,
    collator: Collator,
    model: Any,
    applied: Applied,
    device: str,
    dtype: str,
    steps: int,
    epochs: float,
    batch_size: int,
    grad_accum: int,
    gradient_checkpointing: bool,
    eval_batches: int,
    sample_count: int,
    sample_max_new_tokens: int,
) -> Preflight:
    eos_id = int(tokenizer.eos_token_id)
    lengths = train.lengths + val.lengths
    rows = len(lengths)
    eos = check_eos(train, collator, eos_id)
    eos.update(token=tokenizer.eos_token, id=eos_id)
    shown = []
    for example in train.examples[:SHOWN_EXAMPLES]:
        text, pieces = show_tokens(tokenizer, example)
        shown.append({"shown": text, "tokens": pieces})
    warnings = []
    truncated = train.truncated + val.truncated
    if truncated:
        warnings.append(
            f"{truncated} rows are cut at --max-length {max_length} and lose their EOS "
            "(raise --max-length, or --drop-long to skip them)"
        )
    if not val.examples:
        warnings.append("no held-out rows: eval loss before/after cannot be measured (--val-size)")
    if applied.method != "full" and applied.trainable == 0:
        warnings.append("no trainable parameters")
    trained_lengths = [len(e.input_ids) for e in train.examples] or [0]
    typical = int(statistics.median(trained_lengths))
    longest = max(trained_lengths)
    forward_s = time_forward(model, train.examples, collator, batch_size)
    # forward + backward ≈ 3 forwards (LoRA still needs the activations' gradients through the
    # frozen weights) + the optimizer; the timed batch is median-length, a step's batches are
    # mean-length on average. A rough figure: a busy machine or a warm-up can move it 2×.
    factor = (3.5 if applied.method == "full" else 3.0) + (1.0 if gradient_checkpointing else 0.0)
    scale = statistics.fmean(trained_lengths) / max(1, typical)
    step_s = forward_s * factor * scale * grad_accum
    # a decoding step costs about a forward pass over one token per row (×2 for cache overhead)
    decode_s = 2 * forward_s / max(1, typical)
    sample_s = -(-sample_count // 16) * sample_max_new_tokens * decode_s
    eval_s = 2 * (eval_batches * forward_s + sample_s)  # before and after
    memory = estimate_memory(model, applied, batch_size, longest, gradient_checkpointing)
    return Preflight(
        data={**source, "rows": rows, "train": len(train.examples), "val": len(val.examples)},
        format=fmt,
        template=template,
        tokens={
            "min": float(min(lengths)),
            "median": float(statistics.median(lengths)),
            "mean": float(statistics.fmean(lengths)),
            "p95": _percentile(lengths, 0.95),
            "max": float(max(lengths)),
        },
        max_length=max_length,
        truncated=truncated,
        truncation_rate=truncated / rows if rows else 0.0,
        dropped_long=train.dropped_long + val.dropped_long,
        empty=train.empty + val.empty,
        examples=shown,
        eos=eos,
        method=applied.method,
        parameters={
            "trainable": applied.trainable,
            "total": applied.total,
            "percent": round(applied.trainable_percent, 4),
        },
        targets=applied.targets,
        wrapped_modules=applied.wrapped,
        device=device,
        dtype=dtype,
        steps=steps,
        epochs=epochs,
        tokens_per_step=typical * batch_size * grad_accum,
        memory=memory,
        time={
            "forward_s": round(forward_s, 4),
            "step_s": round(step_s, 4),
            "train_s": round(step_s * steps, 1),
            "eval_s": round(eval_s, 1),
        },
        warnings=warnings,
    )
