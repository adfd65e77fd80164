"""Fine-tuning causal LMs on your own data: data → template → preflight → finetune → evaluate
→ merge → card. `finetune()` is what `pretrained finetune` calls."""

from __future__ import annotations

from .finetune import FinetuneOptions, FinetuneResult, Reporter, finetune

__all__ = ["FinetuneOptions", "FinetuneResult", "Reporter", "finetune"]
