"""Did it learn? Held-out loss/perplexity and generated samples with their stop rate.

The loss is summed batch by batch from hidden states in chunks (train/loss.py), weighted by
trained tokens: no batch's full-vocabulary logits are ever held. The stop rate is the share of
greedy samples that end with EOS before the token limit: a fine-tune whose labels lost their
EOS keeps talking and scores near 0. Samples of the *base* model go through the fastest engine
this machine's calibration chose (models/calibrate.py, read from its cache, never measured
here); the trained model samples in place on transformers.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..models.registry import ModelFormat, ModelSource
from ..tasks.generate import GenerateOptions
from .template import Collator, Example

# `pretrained generate`'s default: greedy decoding without it loops on small models, and a loop
# that hits the token limit would count as "did not learn to stop".
SAMPLE_REPETITION_PENALTY = GenerateOptions().repetition_penalty
SAMPLE_BATCH = 16


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
    engine: str | None = None  # what generated the samples
    cached: bool = False  # read from the evaluation cache instead of measured in this run
    # preference runs (held-out pairs): see train/preference.py
    reward_accuracy: float | None = None
    reward_margin: float | None = None
    preference_accuracy: float | None = None
    pair_logps: list[list[float]] = field(default_factory=list)  # (chosen, rejected) per pair

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["samples"] = [s.to_dict() for s in self.samples]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        known = {f.name for f in fields(cls)}
        samples = [Sample(**s) for s in data.get("samples", [])]
        return cls(
            **{k: v for k, v in data.items() if k in known and k != "samples"}, samples=samples
        )


def _batches(examples: list[Example], batch_size: int):
    # Sorted by length so batches carry little padding; the loss does not depend on order.
    ordered = sorted(examples, key=lambda e: len(e.input_ids))
    for start in range(0, len(ordered), batch_size):
        yield ordered[start : start + batch_size]


def eval_loss(
    model: Any, examples: list[Example], collator: Collator, batch_size: int = 8
) -> tuple[float | None, int]:
    """(mean loss per trained token, trained tokens) over `examples`; (None, 0) if there are none."""
    import torch

    from .loss import causal_lm_nll, split_head

    if not examples:
        return None, 0
    device = next(model.parameters()).device
    parts = split_head(model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for chunk in _batches(examples, batch_size):
                batch = collator([{"input_ids": e.input_ids, "labels": e.labels} for e in chunk])
                batch = {k: v.to(device) for k, v in batch.items()}
                nll, n = causal_lm_nll(model, batch, parts)
                total += float(nll)
                count += n
    finally:
        model.train(was_training)
    return (total / count if count else None), count


def perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    return math.exp(min(loss, 50.0))


def in_place_backend(model: Any, tokenizer: Any):
    """The model being trained, as a transformers text engine (no copy, no reload)."""
    from ..models.backends.transformers import TransformersTextBackend
    from ..models.loading import LoadedLM
    from ..models.registry import ResolvedModel

    loaded = LoadedLM(
        model=model,
        tokenizer=tokenizer,
        resolved=ResolvedModel("finetune", ModelSource.LOCAL, ModelFormat.TRANSFORMERS),
        revision=None,
        device=str(next(model.parameters()).device),
        dtype="",
        quantize=None,
        load_seconds=0.0,
    )
    return TransformersTextBackend(loaded)


def calibrated_engine(resolved: Any, device: str) -> tuple[str, dict[str, Any]] | None:
    """(engine, options) that this machine's cached calibration verdict chose for `resolved`,
    when it is faster than transformers; None without a verdict (nothing is measured here:
    `pretrained models calibrate MODEL` does that once)."""
    if device != "cpu" or resolved.format not in (ModelFormat.GGUF, ModelFormat.TRANSFORMERS):
        return None
    from ..errors import PretrainedError
    from ..models import calibrate

    try:
        verdict = calibrate.verdict(resolved, run=False)
    except (PretrainedError, OSError):
        return None
    chosen = verdict.chosen() if verdict else None
    if chosen is None or chosen.engine == calibrate.REFERENCE:
        return None
    return chosen.engine, chosen.load_options


def generate_samples(
    backend: Any, prompts: list[str], *, chat: bool, max_new_tokens: int = 64
) -> list[Sample]:
    """Greedy samples with `pretrained generate`'s default repetition penalty, so 'stopped'
    means what it means there (finish_reason 'stop' on EOS)."""
    from ..models.backends.base import SamplingParams

    params = SamplingParams(
        max_new_tokens=max_new_tokens, temperature=0.0, repetition_penalty=SAMPLE_REPETITION_PENALTY
    )
    samples: list[Sample] = []
    for start in range(0, len(prompts), SAMPLE_BATCH):
        chunk = prompts[start : start + SAMPLE_BATCH]
        # chat prompts are rendered with the template, which carries its own special tokens
        for prompt, out in zip(
            chunk, backend.generate(chunk, params, add_special_tokens=not chat), strict=True
        ):
            c = out.completions[0]
            samples.append(Sample(prompt, c.text, c.finish_reason == "stop", c.completion_tokens))
    return samples


def samples_in_place(
    model: Any, tokenizer: Any, prompts: list[str], *, chat: bool, max_new_tokens: int
) -> list[Sample]:
    if not prompts:
        return []
    was_training = model.training
    side = tokenizer.padding_side
    model.eval()
    try:
        backend = in_place_backend(model, tokenizer)
        return generate_samples(backend, prompts, chat=chat, max_new_tokens=max_new_tokens)
    finally:
        tokenizer.padding_side = side
        model.train(was_training)


def samples_on_engine(
    resolved: Any, engine: tuple[str, dict[str, Any]], prompts: list[str], *, chat: bool,
    max_new_tokens: int,
) -> list[Sample]:  # fmt: skip
    """Samples of the base model on a fast engine, loaded for this and closed right after."""
    from ..models.backends import create_text_backend

    backend = create_text_backend(resolved, engine[0], **engine[1])
    try:
        return generate_samples(backend, prompts, chat=chat, max_new_tokens=max_new_tokens)
    finally:
        close = getattr(backend, "close", None)
        if close is not None:
            close()


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
    max_new_tokens: int = 64,
    engine: tuple[str, dict[str, Any]] | None = None,
    resolved: Any = None,
) -> Evaluation:
    """Held-out loss of `model` + samples: on `engine` (the base model, by `resolved`) if
    given, else from `model` in place."""
    start = time.perf_counter()
    loss, tokens = eval_loss(model, examples, collator, batch_size)
    if engine is not None and prompts:
        samples = samples_on_engine(
            resolved, engine, prompts, chat=chat, max_new_tokens=max_new_tokens
        )
        label = " ".join([engine[0], *map(str, engine[1].values())])
    else:
        samples = samples_in_place(
            model, tokenizer, prompts, chat=chat, max_new_tokens=max_new_tokens
        )
        label = "transformers"
    return Evaluation(
        eval_loss=loss,
        perplexity=perplexity(loss),
        eval_tokens=tokens,
        stop_rate=stop_rate(samples),
        samples=samples,
        seconds=time.perf_counter() - start,
        engine=label if prompts else None,
    )
