"""Stopping criteria for transformers' generate(): the cancel scope, shared by the causal
(transformers.py) and encoder-decoder (seq2seq.py) engines."""

from __future__ import annotations

import threading


def stop_when(cancel: threading.Event):
    """Stopping criteria for model.generate(): every sequence ends once `cancel` is set."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):  # noqa: ARG002
            return torch.full(
                (input_ids.shape[0],), cancel.is_set(), dtype=torch.bool, device=input_ids.device
            )

    return StoppingCriteriaList([Cancelled()])
