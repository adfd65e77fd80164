"""Sequence classification: any `AutoModelForSequenceClassification` checkpoint (sentiment
models such as distilbert-…-sst-2, and NLI models such as facebook/bart-large-mnli, which the
classify task turns into a zero-shot classifier by asking "does this text entail <label>?").

One forward pass per batch; texts longer than the model reads are cut at `max_tokens` and the
number of such texts is reported back (never silently).
"""

from __future__ import annotations

import time
from typing import Any

from ..._util import first_line
from ...errors import ModelLoadError, UnsupportedModelError
from ..registry import ModelFormat, ModelSource, ResolvedModel


class SequenceClassifierBackend:
    engine = "transformers"

    def __init__(self, model: Any, tokenizer: Any, resolved: ResolvedModel, revision, device, s):
        self.model = model
        self.tokenizer = tokenizer
        self.resolved = resolved
        self.model_id = resolved.alias or resolved.id
        self.revision = revision
        self.device = device
        self.load_seconds = s
        config = model.config
        self.labels: list[str] = [
            str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)
        ]
        lowered = [label.lower() for label in self.labels]
        self.entailment_id = next(
            (i for i, n in enumerate(lowered) if n.startswith("entail")), None
        )
        self.contradiction_id = next(
            (i for i, n in enumerate(lowered) if n.startswith("contradict")), None
        )
        limit = getattr(tokenizer, "model_max_length", None) or 512
        positions = getattr(config, "max_position_embeddings", None) or limit
        self.max_tokens = int(min(limit, positions))

    @property
    def is_nli(self) -> bool:
        """An NLI head (entailment / neutral / contradiction): usable for zero-shot labels."""
        return self.entailment_id is not None

    def _forward(self, first: list[str], second: list[str] | None, batch_size: int):
        import numpy as np
        import torch

        probs, truncated = [], 0
        for start in range(0, len(first), batch_size):
            a = first[start : start + batch_size]
            b = second[start : start + batch_size] if second is not None else None
            lengths = self.tokenizer(a, b, truncation=False, verbose=False)["input_ids"]
            truncated += sum(1 for ids in lengths if len(ids) > self.max_tokens)
            enc = self.tokenizer(
                a,
                b,
                truncation="only_first" if b is not None else True,
                max_length=self.max_tokens,
                padding=True,
                return_tensors="pt",
            ).to(self.model.device)
            with torch.inference_mode():
                logits = self.model(**enc).logits.float()
            probs.append(torch.softmax(logits, dim=-1).cpu().numpy())
        out = np.concatenate(probs) if probs else np.zeros((0, len(self.labels)), np.float32)
        return out, truncated

    def predict(self, texts: list[str], *, batch_size: int = 32):
        """→ (probabilities (n, num_labels), how many texts were longer than max_tokens)."""
        return self._forward(list(texts), None, batch_size)

    def predict_pairs(self, premises: list[str], hypotheses: list[str], *, batch_size: int = 32):
        """NLI: probabilities for each (premise, hypothesis) pair."""
        return self._forward(list(premises), list(hypotheses), batch_size)


def load_sequence_classifier(
    resolved: ResolvedModel,
    *,
    device: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
) -> SequenceClassifierBackend:
    from ..loading import choose_device, prepare, quiet_transformers

    if resolved.format != ModelFormat.TRANSFORMERS:
        raise UnsupportedModelError(
            f"{resolved.label} is a {resolved.format} model, not a sequence-classification model",
            hint="pass a classifier such as distilbert/distilbert-base-uncased-finetuned-sst-2-english",
        )
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    start = time.time()
    prepared = prepare(resolved, trust_pickle=trust_pickle)
    if resolved.source == ModelSource.LOCAL:
        from ..loading import check_local_weights

        check_local_weights(prepared.path, trust_pickle)
    chosen = choose_device(device)
    try:
        with quiet_transformers():
            config = AutoConfig.from_pretrained(prepared.path, trust_remote_code=trust_remote_code)
            archs = config.architectures or []
            if archs and not any(a.endswith("ForSequenceClassification") for a in archs):
                raise UnsupportedModelError(
                    f"{resolved.label} is a {archs[0]}, not a sequence-classification model",
                    hint="pass a classifier (…ForSequenceClassification) or an NLI model, "
                    "or drop --model to use zero-shot embeddings",
                )
            tokenizer = AutoTokenizer.from_pretrained(
                prepared.path, trust_remote_code=trust_remote_code
            )
            model = AutoModelForSequenceClassification.from_pretrained(
                prepared.path,
                trust_remote_code=trust_remote_code,
                use_safetensors=None if trust_pickle else True,
            )
    except (OSError, ValueError) as exc:
        first = first_line(exc)
        raise ModelLoadError(f"could not load {resolved.label} as a classifier: {first}") from exc
    model.to(chosen)
    model.eval()
    return SequenceClassifierBackend(
        model, tokenizer, resolved, prepared.revision, chosen, time.time() - start
    )
