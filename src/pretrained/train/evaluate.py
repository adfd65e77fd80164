"""Did it learn? Held-out loss/perplexity and generated samples with their stop rate.

The loss is summed batch by batch and weighted by trained tokens; logits never outlive their
batch (keeping every batch's logits for a metric is how evaluation runs out of memory).
The stop rate is the share of greedy samples that end with EOS before the token limit: a
fine-tune whose labels lost their EOS keeps talking and scores near 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..tasks.generate import GenerateOptions
from .template import IGNORE, Collator, Example

# `pretrained generate`'s default: greedy decoding without it loops on small models, and a loop
# that hits the token limit would count as "did not learn to stop".
SAMPLE_REPETITION_PENALTY = GenerateOptions().repetition_penalty


@dataclass
class Sample:
    prompt: str
    text: str
    stopped: bool  # ended with EOS before the token limit
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evaluation:
    """One side of the before/after table."""

    eval_loss: float | None = None
    perplexity: float | None = None
    eval_tokens: int = 0
    stop_rate: float | None = None
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["samples"] = [s.to_dict() for s in self.samples]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        samples = [Sample(**s) for s in data.get("samples", [])]
        return cls(**{**data, "samples": samples})


def eval_loss(
    model: Any, examples: list[Example], collator: Collator, batch_size: int = 8
) -> tuple[float | None, int]:
    """(mean loss per trained token, trained tokens) over `examples`; (None, 0) if there are none."""
    import torch

    if not examples:
        return None, 0
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    # Sorted by length so batches carry little padding; the loss does not depend on order.
    ordered = sorted(examples, key=lambda e: len(e.input_ids))
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(ordered), batch_size):
                chunk = ordered[start : start + batch_size]
                batch = collator([{"input_ids": e.input_ids, "labels": e.labels} for e in chunk])
                batch = {k: v.to(device) for k, v in batch.items()}
                out = model(**batch)
                # the model's loss is the mean over shifted labels ≠ -100: weight it back to a sum
                n = int((batch["labels"][:, 1:] != IGNORE).sum())
                total += float(out.loss) * n
                count += n
                del out
    finally:
        model.train(was_training)
    return (total / count if count else None), count


def perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    return math.exp(min(loss, 50.0))


def generate_samples(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    chat: bool,
    max_new_tokens: int = 128,
    batch_size: int = 16,
) -> list[Sample]:
    """Greedy samples through the same engine `pretrained generate` uses, with its default
    repetition penalty, so 'stopped' means what it means there (finish_reason 'stop' on EOS)."""
    if not prompts:
        return []
    from ..models.backends.base import SamplingParams
    from ..models.backends.transformers import TransformersTextBackend
    from ..models.loading import LoadedLM
    from ..models.registry import ResolvedModel

    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    loaded = LoadedLM(
        model=model,
        tokenizer=tokenizer,
        resolved=ResolvedModel("finetune", "local", "transformers"),
        revision=None,
        device=str(next(model.parameters()).device),
        dtype="",
        quantize=None,
        load_seconds=0.0,
    )
    backend = TransformersTextBackend(loaded)
    params = SamplingParams(
        max_new_tokens=max_new_tokens,
        temperature=0.0,
        repetition_penalty=SAMPLE_REPETITION_PENALTY,
    )
    samples: list[Sample] = []
    try:
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            # chat prompts are rendered with the template, which carries its own special tokens
            for prompt, out in zip(
                chunk, backend.generate(chunk, params, add_special_tokens=not chat), strict=True
            ):
                c = out.completions[0]
                samples.append(
                    Sample(prompt, c.text, c.finish_reason == "stop", c.completion_tokens)
                )
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return samples


def stop_rate(samples: list[Sample]) -> float | None:
    if not samples:
        return None
    return sum(s.stopped for s in samples) / len(samples)


def evaluate(
    model: Any,
    tokenizer: Any,
    examples: list[Example],
    collator: Collator,
    prompts: list[str],
    *,
    chat: bool,
    batch_size: int = 8,
    max_new_tokens: int = 128,
) -> Evaluation:
    import time

    start = time.perf_counter()
    loss, tokens = eval_loss(model, examples, collator, batch_size)
    samples = generate_samples(
        model, tokenizer, prompts, chat=chat, max_new_tokens=max_new_tokens, batch_size=16
    )
    return Evaluation(
        eval_loss=loss,
        perplexity=perplexity(loss),
        eval_tokens=tokens,
        stop_rate=stop_rate(samples),
        samples=samples,
        seconds=time.perf_counter() - start,
    )
