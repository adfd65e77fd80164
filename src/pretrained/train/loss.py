"""The causal-LM loss from hidden states, chunk by chunk: the (tokens × vocabulary) float32
logits of a whole batch are never materialized.

A model's own forward computes logits for every position of the batch and its loss upcasts
them, takes a log-softmax and keeps both for the backward pass: on SmolLM2 (vocabulary 49,152)
one batch of 8 × 512 tokens is 805 MB per copy, and the training step holds several copies.
Here the decoder runs without its head, only the positions that carry a label are kept, and
the head + cross-entropy run on chunks of ≈ 32 MiB of logits, each under activation
checkpointing, so its logits are freed at once and recomputed, one chunk at a time, in the
backward pass (one extra head matmul per chunk: a few % of a step).

Why not a library: Liger's fused linear cross-entropy and Apple's cut-cross-entropy are Triton
kernels (CUDA/XPU); TRL 1.16's `add_fused_lm_head` runs on CPU but tiles by fixed module
constants (4,096 tokens × 32,768 vocabulary entries: a 512 MB float32 buffer plus temporaries),
which alone exceeds a laptop budget. Chunking with `torch.utils.checkpoint` is a few lines of
plain torch, and tests/train/test_loss.py checks it against the model's own loss and gradients.

Architectures that scale or soft-cap their logits (Gemma 2, Cohere, Granite …), and heads that
are not a plain Linear (a LoRA-wrapped lm_head), use the model's own forward instead.
"""

from __future__ import annotations

from typing import Any

from .template import IGNORE

LOGITS_BUDGET = 32 * 2**20  # bytes of float32 logits per chunk
# config fields that transform the logits after the head: the plain head + softmax would be wrong
_LOGIT_TRANSFORMS = (
    "final_logit_softcapping",
    "logit_scale",
    "logits_scaling",
    "output_multiplier",
    "lm_head_multiplier",
)


def chunk_tokens(vocab: int, budget: int = LOGITS_BUDGET) -> int:
    return max(16, budget // (4 * max(1, vocab)))


def _chunk_nll(hidden: Any, weight: Any, bias: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    logits = F.linear(hidden, weight, bias).float()
    return F.cross_entropy(logits, targets, reduction="sum")


def chunked_nll(
    hidden: Any, weight: Any, labels: Any, bias: Any = None, chunk: int | None = None
) -> tuple[Any, int]:
    """(summed next-token NLL, labelled positions) for hidden (B, T, H) and unshifted labels
    (B, T): position t predicts labels[t + 1]; IGNORE labels carry no loss."""
    import torch
    from torch.utils.checkpoint import checkpoint

    keep = labels[:, 1:] != IGNORE
    states = hidden[:, :-1][keep]  # (N, H): only the positions that carry loss
    targets = labels[:, 1:][keep]
    n = int(targets.numel())
    if n == 0:
        return hidden.sum() * 0.0, 0  # connected to the graph, so backward() still works
    step = chunk or chunk_tokens(weight.shape[0])
    grad = torch.is_grad_enabled() and (states.requires_grad or weight.requires_grad)
    total = None
    for start in range(0, n, step):
        part = (states[start : start + step], weight, bias, targets[start : start + step])
        value = checkpoint(_chunk_nll, *part, use_reentrant=False) if grad else _chunk_nll(*part)
        total = value if total is None else total + value
    return total, n


def split_head(model: Any) -> tuple[Any, Any] | None:
    """(decoder without its head, the head) of a causal LM (through a peft wrapper), or None
    when the loss must come from the model's own forward."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return None
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    if any(getattr(text, name, None) not in (None, 1, 1.0) for name in _LOGIT_TRANSFORMS):
        return None
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    decoder = getattr(base, getattr(base, "base_model_prefix", ""), None)
    if type(head) is not torch.nn.Linear or decoder is None or decoder is base:
        return None
    return decoder, head


PADDING_SHARE = 0.5  # split a batch whose padded positions are more than this share of it


def group_rows(lengths: list[int]) -> list[list[int]]:
    """Row indices of a right-padded batch grouped by length (longest first): a new group
    starts when a row is under half the group's longest. One group when little is padding."""
    rows, width = len(lengths), max(lengths, default=0)
    if rows < 2 or sum(lengths) >= (1 - PADDING_SHARE) * rows * width:
        return [list(range(rows))]
    groups: list[list[int]] = [[]]
    for i in sorted(range(rows), key=lambda i: -lengths[i]):
        if groups[-1] and 2 * lengths[i] < lengths[groups[-1][0]]:
            groups.append([])
        groups[-1].append(i)
    return groups


def padded_positions(lengths: list[int]) -> int:
    """Positions a batch of these lengths computes, padding included, as causal_lm_nll runs it."""
    return sum(len(g) * max(lengths[i] for i in g) for g in group_rows(lengths) if g)


def length_groups(batch: dict[str, Any]) -> list[dict[str, Any]]:
    """A right-padded batch as sub-batches of rows of similar lengths, each cut to its own
    longest row. Grouping by length still leaves one long example padding a batch of short
    ones (8 quotes padded to one 512-token essay: 4 × the work); cut apart, every real
    position computes exactly what it did (causal attention never looks at the padding to its
    right), so the summed loss and its gradients are the same for a fraction of the FLOPs."""
    mask = batch.get("attention_mask")
    if mask is None or mask.dim() != 2:
        return [batch]
    lengths = [int(x) for x in mask.sum(dim=1)]
    groups = group_rows(lengths)
    if len(groups) == 1:
        return [batch]
    return [{k: v[idx][:, : max(1, lengths[idx[0]])] for k, v in batch.items()} for idx in groups]


def causal_lm_nll(
    model: Any, batch: dict[str, Any], parts: tuple | None = None, *, split: bool = True
) -> tuple[Any, int]:
    """(summed NLL, labelled positions) of a collated batch, without full-vocabulary logits
    when the model allows it (`parts` = split_head(model)), else from its own forward; a
    batch mostly made of padding runs as length groups (`length_groups`)."""
    groups = length_groups(batch) if split else [batch]
    if len(groups) > 1:
        total, count = None, 0
        for group in groups:
            nll, n = causal_lm_nll(model, group, parts, split=False)
            total = nll if total is None else total + nll
            count += n
        return total, count
    labels = batch["labels"]
    if parts is None:
        out = model(**batch)
        n = int((labels[:, 1:] != IGNORE).sum())
        if n == 0:  # the mean over no position is NaN: a zero still connected to the graph
            return out.logits.sum() * 0.0, 0
        return out.loss * n, n
    decoder, head = parts
    out = decoder(
        input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"), use_cache=False
    )
    hidden = out[0] if isinstance(out, tuple) else out.last_hidden_state
    return chunked_nll(hidden, head.weight, labels, head.bias)


def check_chunked(model: Any, batch: dict[str, Any]) -> tuple[Any, str]:
    """The split to train with, checked once against the model's own loss on `batch` (eval
    mode, no grad). → (parts or None, what was used and why)."""
    import torch

    parts = split_head(model)
    if parts is None:
        return None, "the model's own loss (its logits are transformed or its head is wrapped)"
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ours, n = causal_lm_nll(model, batch, parts)
            theirs, _ = causal_lm_nll(model, batch, None)
    finally:
        model.train(was_training)
    if n and abs(float(ours) - float(theirs)) > 1e-3 * max(1.0, abs(float(theirs))):
        return None, (
            f"the model's own loss (chunked {float(ours) / n:.5f} ≠ {float(theirs) / n:.5f} per "
            "token on a preflight batch)"
        )
    return parts, "chunked cross-entropy (no full-vocabulary logits)"


def row_nll(
    model: Any, batch: dict[str, Any], parts: tuple | None
) -> tuple[list[float], list[int]]:
    """Per-row summed NLL and labelled-token counts of a batch, no grad (for pair metrics),
    with the same chunking as `chunked_nll` (or the model's logits when `parts` is None)."""
    import torch
    import torch.nn.functional as F

    labels = batch["labels"]
    keep = labels[:, 1:] != IGNORE
    rows = keep.nonzero()[:, 0]
    targets = labels[:, 1:][keep]
    out_sums = torch.zeros(labels.shape[0], dtype=torch.float32)
    with torch.no_grad():
        if parts is None:
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits
            nll = F.cross_entropy(logits[:, :-1][keep].float(), targets, reduction="none")
        else:
            decoder, head = parts
            out = decoder(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                use_cache=False,
            )
            states = (out[0] if isinstance(out, tuple) else out.last_hidden_state)[:, :-1][keep]
            step = chunk_tokens(head.weight.shape[0])
            nll = torch.cat([
                F.cross_entropy(
                    F.linear(states[s : s + step], head.weight, head.bias).float(),
                    targets[s : s + step], reduction="none",
                )
                for s in range(0, len(targets), step)
            ]) if len(targets) else torch.zeros(0)  # fmt: skip
        out_sums.index_add_(0, rows.cpu(), nll.float().cpu())
    counts = keep.sum(dim=1).tolist()
    return out_sums.tolist(), [int(c) for c in counts]
