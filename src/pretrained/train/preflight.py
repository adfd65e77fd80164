"""Preflight: before an hour of training, show whether the data, template and method are right.

Record counts, token-length statistics, the truncation rate at --max-length, three rendered
examples with token boundaries (and which tokens carry loss), a check that EOS is in the labels
*after collation* (the tensors the model is trained on), trainable parameters, the LoRA target
modules actually matched, and rough memory and time estimates.
"""

from __future__ import annotations

import statistics
import sys
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
    gradient_checkpointing: bool = False
    checkpointing_reason: str = ""
    loss: str = ""
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
            f"  memory     peak ≈{human_bytes(m['total'])} resident (now {human_bytes(m['resident'])}"
            f" with weights {human_bytes(m['weights'])}; + gradients+optimizer "
            f"{human_bytes(m['optimizer'])}, activations {human_bytes(m['activations'])}, "
            f"logits {human_bytes(m['logits'])})",
            f"  loss       {self.loss} · gradient checkpointing "
            f"{'on' if self.gradient_checkpointing else 'off'} ({self.checkpointing_reason})",
            f"  time       ≈{_duration(tm['train_s'])} training ({tm['step_s']:.2f} s/step, "
            f"from a timed forward + backward pass) + ≈{_duration(tm['eval_s'])} evaluation",
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


def resident_bytes() -> tuple[int, int]:
    """(resident now, peak so far) of this process, in bytes (Linux /proc; 0 elsewhere)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak *= 1 if sys.platform == "darwin" else 1024
    now = 0
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    now = int(line.split()[1]) * 1024
    except OSError:
        now = peak
    return now, peak


def _shape(config: Any) -> dict[str, int]:
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", 768)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", 12)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    return {
        "hidden": hidden,
        "layers": getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", 12),
        "heads": heads,
        "kv": hidden * kv_heads // heads,
        "inner": getattr(config, "intermediate_size", None)
        or getattr(config, "n_inner", None)
        or 4 * hidden,
        "vocab": getattr(config, "vocab_size", 32000),
    }


def activation_bytes(
    config: Any, element: int, tokens: int, width: int, checkpointing: bool, lora_per_layer: int = 0
) -> int:
    """Activations kept for the backward pass of one batch of `tokens` (= rows × `width`)
    positions. Per layer and token, a pre-norm decoder keeps its norms' outputs, q/k/v, the
    attention output and o-proj input, the MLP's gate/up/activation/product (≈ 8h + 2kv + 5i
    values), plus one dropped-out input copy per LoRA-wrapped module; eager attention adds the
    (heads × width) probabilities (SDPA keeps only a log-sum-exp). With checkpointing only each
    layer's input is kept, and one layer is recomputed at a time."""
    d = _shape(config)
    per_token = 8 * d["hidden"] + 2 * d["kv"] + 5 * d["inner"] + lora_per_layer * d["hidden"]
    if getattr(config, "_attn_implementation", "sdpa") == "eager":
        per_token += 2 * d["heads"] * width
    layer = tokens * per_token * element
    if checkpointing:
        return int(d["layers"] * tokens * d["hidden"] * element + layer)
    return int(d["layers"] * layer)


def loss_bytes(config: Any, tokens: int, chunked: bool) -> int:
    """The loss's logits: one chunk (logits, log-softmax, gradient) or the whole batch's
    (the model's logits, their float32 log-softmax, gradient and a copy)."""
    from .loss import LOGITS_BUDGET, chunk_tokens

    vocab = _shape(config)["vocab"]
    if chunked:
        return 3 * min(tokens, chunk_tokens(vocab)) * vocab * 4 if tokens else 3 * LOGITS_BUDGET
    return 4 * tokens * vocab * 4


def choose_checkpointing(
    requested: bool | None, model: Any, batch_size: int, width: int, lora_per_layer: int
) -> tuple[bool, str]:
    """--gradient-checkpointing on/off as asked; by default on when the activations of the
    longest batch would outweigh the model's weights (then recomputing them costs ≈ 25-35 %
    more time per step and saves most of that memory; below that it does not pay)."""
    if requested is not None:
        return requested, "asked"
    param = next(model.parameters())
    element = max(4 if not param.is_floating_point() else param.element_size(), 2)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    tokens = batch_size * width
    plain = activation_bytes(model.config, element, tokens, width, False, lora_per_layer)
    if plain > weights:
        return True, (
            f"auto: the longest batch ({batch_size} × {width} tokens) would keep "
            f"{plain / 2**30:.1f} GiB of activations"
        )
    return False, f"auto: activations of the longest batch ≈ {plain / 2**20:.0f} MiB"


def longest_batch_positions(lengths: list[int], rows: int) -> int:
    """Positions of the heaviest batch: the longest rows together (batches are grouped by
    length), run as causal_lm_nll runs it (length groups, so one long row pads little)."""
    from .loss import padded_positions

    return padded_positions(sorted(lengths, reverse=True)[:rows])


def estimate_memory(
    model: Any, applied: Applied, batch_size: int, seq_len: int, gradient_checkpointing: bool,
    chunked: bool, positions: int | None = None,
) -> dict[str, int]:  # fmt: skip
    """Peak resident memory of the process while training: what it holds now (libraries and
    the weights, touched by the timed step), + fp32 gradients and Adam moments of the trainable
    weights, + the activations of the longest batch (`positions`, default batch × seq_len),
    + the loss's logits."""
    now, peak_so_far = resident_bytes()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    optimizer = applied.trainable * (4 + 8)  # fp32 gradient + Adam's two moments
    param = next(model.parameters())
    element = param.element_size() if param.is_floating_point() else 2
    lora_per_layer = applied.wrapped // max(1, _shape(model.config)["layers"])
    tokens = positions if positions is not None else batch_size * seq_len
    activations = activation_bytes(
        model.config, element, tokens, seq_len, gradient_checkpointing, lora_per_layer
    )
    logits = loss_bytes(model.config, tokens, chunked)
    total = max(peak_so_far, now + optimizer + activations + logits)
    return {
        "resident": int(now),
        "weights": int(weights),
        "optimizer": int(optimizer),
        "activations": int(activations),
        "logits": int(logits),
        "total": int(total),
    }


def time_step(
    model: Any, examples: list[Example], collator: Collator, batch_size: int, parts: Any
) -> float:
    """Seconds of one forward + backward pass (the training step without the optimizer) on a
    batch of median-length examples: the faster of two runs, so one-off warm-up costs and a
    neighbour's burst on a shared machine count less. Gradients are dropped afterwards."""
    from .loss import causal_lm_nll

    if not examples:
        return 0.0
    ordered = sorted(examples, key=lambda e: len(e.input_ids))
    mid = len(ordered) // 2
    chunk = ordered[max(0, mid - batch_size // 2) : max(0, mid - batch_size // 2) + batch_size]
    batch = collator([{"input_ids": e.input_ids, "labels": e.labels} for e in chunk])
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    took = []
    for _ in range(2):
        start = time.perf_counter()
        total, n = causal_lm_nll(model, batch, parts)
        if total.requires_grad:
            (total / max(1, n)).backward()
        took.append(time.perf_counter() - start)
    model.zero_grad(set_to_none=True)
    return min(took)


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
    gradient_checkpointing: tuple[bool, str],
    loss: tuple[Any, str],
    eval_batches: int,
    sample_count: int,
    sample_max_new_tokens: int,
    sequences_per_row: int = 1,
) -> Preflight:
    """The report. `loss` = (split_head parts or None, what computes the loss);
    `sequences_per_row`: 2 for preference pairs (chosen and rejected share a batch)."""
    eos_id = int(tokenizer.eos_token_id)
    lengths = train.lengths + val.lengths
    rows = len(lengths)
    eos = check_eos(train, collator, eos_id)
    eos.update(token=tokenizer.eos_token, id=eos_id)
    shown = []
    for example in train.examples[:SHOWN_EXAMPLES]:
        text, pieces = show_tokens(tokenizer, example)
        shown.append({"shown": text, "tokens": pieces})
    trained_lengths = [len(e.input_ids) for e in train.examples] or [0]
    typical = int(statistics.median(trained_lengths))
    rows_per_batch = batch_size * sequences_per_row
    timing = _timing(
        model, train, collator, rows_per_batch, loss[0], applied, trained_lengths, steps,
        grad_accum, eval_batches, sample_count, sample_max_new_tokens,
    )  # fmt: skip
    checkpointing = gradient_checkpointing[0]
    memory = estimate_memory(
        model, applied, rows_per_batch, max(trained_lengths), checkpointing, loss[0] is not None,
        positions=longest_batch_positions(trained_lengths, rows_per_batch),
    )  # fmt: skip
    return Preflight(
        data={
            **source,
            "rows": rows // sequences_per_row,
            "train": len(train.examples) // sequences_per_row,
            "val": len(val.examples) // sequences_per_row,
        },
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
        truncated=train.truncated + val.truncated,
        truncation_rate=(train.truncated + val.truncated) / rows if rows else 0.0,
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
        tokens_per_step=typical * rows_per_batch * grad_accum,
        memory=memory,
        time=timing,
        gradient_checkpointing=checkpointing,
        checkpointing_reason=gradient_checkpointing[1],
        loss=loss[1],
        warnings=_warnings(train, val, max_length, applied),
    )


def _warnings(train: Encoded, val: Encoded, max_length: int, applied: Applied) -> list[str]:
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
    return warnings


def _timing(
    model, train, collator, batch_rows, parts, applied, trained_lengths, steps, grad_accum,
    eval_batches, sample_count, sample_max_new_tokens,
) -> dict[str, float]:  # fmt: skip
    """Seconds per step from a timed forward + backward pass (+ the optimizer: ≈ 10 % for LoRA,
    ≈ 25 % for full fine-tuning), scaled from the timed median-length batch to the mean length."""
    typical = int(statistics.median(trained_lengths))
    step_s = time_step(model, train.examples, collator, batch_rows, parts)
    step_s *= 1.25 if applied.method == "full" else 1.1
    step_s *= statistics.fmean(trained_lengths) / max(1, typical) * grad_accum
    forward_s = step_s / 3.5  # a forward pass is about a third of forward + backward
    # a decoding step costs about a forward pass over one token per row (×2 for cache overhead)
    decode_s = 2 * forward_s / max(1, typical)
    sample_s = -(-sample_count // 16) * sample_max_new_tokens * decode_s
    eval_s = 2 * (eval_batches * forward_s + sample_s)  # before and after
    return {
        "forward_s": round(forward_s, 4),
        "step_s": round(step_s, 4),
        "train_s": round(step_s * steps, 1),
        "eval_s": round(eval_s, 1),
    }
