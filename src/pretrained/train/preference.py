"""Preference tuning: `--method dpo` and `--method orpo` on prompt/chosen/rejected rows, with
TRL's trainers (DPOTrainer; ORPOTrainer from trl.experimental) on a LoRA adapter.

The rows are checked before any model is loaded (every field present, strings, chosen and
rejected non-empty and different). The pairs are tokenized the way TRL tokenizes them (the
prompt, then prompt + completion + EOS, the completion starting where the two diverge; ORPO
also puts BOS first when the tokenizer has one; sequences cut at --max-length from the end),
so the preflight's EOS, truncation and token-boundary checks describe what TRL trains on.

Evaluation on the held-out pairs, before and after training:
  eval loss            NLL per token of the chosen completions (given their prompts)
  preference accuracy  share of pairs whose chosen completion has the higher mean log-prob
                       per token than the rejected one (meaningful before training too)
  reward accuracy /    DPO: its implicit reward β·(log π(y|x) − log π_ref(y|x)), summed over
  reward margin        the completion, with the base model as π_ref (as TRL reports it; 0 and
                       0 % before training by definition); ORPO: β · mean log-prob per token
                       (TRL's ORPO rewards), so it is meaningful before training as well.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError, TemplateFieldError
from .template import IGNORE, Encoded, Example

FIELDS = ("prompt", "chosen", "rejected")


def check_rows(records: Any, method: str) -> None:
    """Every row has string prompt/chosen/rejected, chosen and rejected non-empty and different."""
    missing = [f for f in FIELDS if f not in records.fields]
    if missing:
        raise TemplateFieldError(
            f"--method {method} needs the fields prompt, chosen and rejected; the data lacks "
            f"{', '.join(missing)} (fields: {', '.join(records.fields) or 'none'})",
            hint='one JSON object per line: {"prompt": "…", "chosen": "…", "rejected": "…"}',
        )
    for index, row in enumerate(records.rows):
        for name in FIELDS:
            value = row.get(name)
            if not isinstance(value, str):
                raise InputError(
                    f"row {index}: '{name}' must be text (got {type(value).__name__})",
                    hint="conversational pairs are not read yet: render them to text first",
                )
            if name != "prompt" and not value.strip():
                raise InputError(
                    f"row {index}: '{name}' is empty: a pair needs two completions to compare",
                    hint="drop the row or fill in the completion",
                )
        if row["chosen"].strip() == row["rejected"].strip():
            raise InputError(
                f"row {index}: 'chosen' and 'rejected' are the same text, so there is no preference",
                hint="drop the row or fix one of the two completions",
            )


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PairEncoder:
    """prompt/chosen/rejected rows → Encoded with two examples per pair (chosen, rejected),
    prompt tokens masked, EOS appended and labelled, cut at `max_length` (keep the start)."""

    format = "preference"

    def __init__(self, tokenizer: Any, max_length: int, drop_long: bool, bos: bool = False) -> None:
        if tokenizer.eos_token_id is None:
            raise InputError(
                "the model's tokenizer has no EOS token, so it cannot learn where examples end",
                hint="pick a model whose tokenizer defines eos_token",
            )
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.drop_long = drop_long
        self.eos_id = int(tokenizer.eos_token_id)
        self.bos_id = tokenizer.bos_token_id if bos else None
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token  # labels are masked by length, not pad id
        self.pad_id = int(tokenizer.pad_token_id)

    def _sequence(self, prompt: str, completion: str) -> tuple[list[int], int]:
        eos = self.tokenizer.eos_token
        text = completion if completion.endswith(eos) else completion + eos
        prompt_ids = list(self.tokenizer(prompt)["input_ids"])
        full = list(self.tokenizer(prompt + text)["input_ids"])
        start = _common_prefix(prompt_ids, full)
        if self.bos_id is not None and (not full or full[0] != self.bos_id):
            full, start = [self.bos_id, *full], start + 1
        return full, start

    def encode(self, rows: list[dict[str, Any]]) -> Encoded:
        out = Encoded()
        for row in rows:
            pair = []
            for name in ("chosen", "rejected"):
                ids, start = self._sequence(row["prompt"], row[name])
                labels = [IGNORE] * start + ids[start:]
                out.lengths.append(len(ids))
                truncated = len(ids) > self.max_length
                pair.append(
                    Example(ids[: self.max_length], labels[: self.max_length], len(ids), truncated)
                )
            if any(e.truncated for e in pair) and self.drop_long:
                out.dropped_long += 1
                continue
            if any(e.trained_tokens == 0 for e in pair):
                out.empty += 1  # the prompt alone fills --max-length (TRL drops these too)
                continue
            out.truncated += sum(e.truncated for e in pair)
            out.examples.extend(pair)
        return out

    def sample_prompt(self, row: dict[str, Any], index: int = 0) -> str | None:  # noqa: ARG002
        return row.get("prompt") or None


def pair_logps(model: Any, examples: list[Example], collator: Any, batch_size: int) -> list[list]:
    """[sum log p(chosen), sum log p(rejected), chosen tokens, rejected tokens] per pair."""
    from .loss import row_nll, split_head

    parts = split_head(model)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums: list[float] = []
    counts: list[int] = []
    try:
        for start in range(0, len(examples), 2 * batch_size):
            chunk = examples[start : start + 2 * batch_size]
            batch = collator([{"input_ids": e.input_ids, "labels": e.labels} for e in chunk])
            batch = {k: v.to(device) for k, v in batch.items()}
            nll, n = row_nll(model, batch, parts)
            sums += [-x for x in nll]
            counts += n
    finally:
        model.train(was_training)
    return [[sums[i], sums[i + 1], counts[i], counts[i + 1]] for i in range(0, len(sums) - 1, 2)]


def add_pair_metrics(evaluation: Any, run: Any, before: Any) -> None:
    """Fill the held-out pair metrics of `evaluation` (see the module docstring)."""
    import math

    o = run.options
    pairs = pair_logps(run.net, run.val_enc.examples, run.collator, o.batch_size)
    evaluation.pair_logps = pairs
    if not pairs:
        return
    tokens = sum(p[2] for p in pairs)
    evaluation.eval_loss = -sum(p[0] for p in pairs) / max(1, tokens)
    evaluation.eval_tokens = tokens
    evaluation.perplexity = math.exp(min(evaluation.eval_loss, 50.0))
    mean = [(p[0] / max(1, p[2]), p[1] / max(1, p[3])) for p in pairs]
    evaluation.preference_accuracy = sum(c > r for c, r in mean) / len(pairs)
    beta = o.preference_beta
    if o.method == "orpo":
        margins = [beta * (c - r) for c, r in mean]
    else:
        ref = before.pair_logps if before is not None and before.pair_logps else pairs
        margins = [beta * ((p[0] - q[0]) - (p[1] - q[1])) for p, q in zip(pairs, ref, strict=True)]
    evaluation.reward_accuracy = sum(m > 0 for m in margins) / len(margins)
    evaluation.reward_margin = sum(margins) / len(margins)


def make_trainer(run: Any, callbacks: tuple[Any, ...]):
    """TRL's DPOTrainer / ORPOTrainer on the LoRA-wrapped model (the reference model of DPO is
    the same weights with the adapter switched off: no second copy in memory)."""
    from datasets import Dataset
    from transformers import PrinterCallback, ProgressCallback

    from ..errors import missing_dependency
    from .data import _quiet_datasets
    from .trainer import callbacks as make_callbacks
    from .trainer import training_arguments

    o = run.options
    try:
        if o.method == "dpo":
            from trl import DPOConfig as Config
            from trl import DPOTrainer as Trainer
        else:
            from trl.experimental.orpo import ORPOConfig as Config
            from trl.experimental.orpo import ORPOTrainer as Trainer
    except ImportError as exc:
        raise missing_dependency("trl", "train") from exc
    extra: dict[str, Any] = {"config_class": Config, "beta": o.preference_beta}
    extra.update(max_length=o.max_length, gradient_checkpointing=False)
    if o.method == "dpo":
        extra.update(precompute_ref_log_probs=False)
    args = training_arguments(o, run.device, run.run_dir, **extra)

    def held_out() -> float | None:
        pairs = pair_logps(run.net, run.val_enc.examples, run.collator, o.batch_size)
        tokens = sum(p[2] for p in pairs)
        return -sum(p[0] for p in pairs) / tokens if tokens else None

    interrupt, progress = make_callbacks(run.run_dir, run.reporter, held_out, o.eval_steps)
    rows = [{k: r[k] for k in FIELDS} for r in run.records.train]
    with _quiet_datasets():  # TRL maps the dataset three times, each with a progress bar
        trainer = Trainer(
            model=run.net,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=run.loaded.tokenizer,
            callbacks=[interrupt, progress, *callbacks],
        )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer, interrupt
