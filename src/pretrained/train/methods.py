"""Training methods: which weights learn.

  lora   low-rank adapters on the attention/MLP projections (peft), base weights frozen
  qlora  the same on a 4-bit nf4 base (bitsandbytes, CUDA only)
  full   every weight learns

LoRA targets per architecture: GPT-2 implements its projections as `Conv1D` (weights stored
transposed), so its preset is `c_attn`, `c_proj`, `c_fc` with `fan_in_fan_out=True`; Llama-style
models (SmolLM2, Mistral, Qwen …) get every linear projection of attention and MLP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidOptionError, missing_dependency

METHODS = ("lora", "qlora", "full")

_LLAMA_STYLE = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# model_type → (target modules, fan_in_fan_out)
PRESETS: dict[str, tuple[tuple[str, ...], bool]] = {
    "gpt2": (("c_attn", "c_proj", "c_fc"), True),
    "llama": (_LLAMA_STYLE, False),
    "mistral": (_LLAMA_STYLE, False),
    "mixtral": (("q_proj", "k_proj", "v_proj", "o_proj"), False),
    "qwen2": (_LLAMA_STYLE, False),
    "qwen3": (_LLAMA_STYLE, False),
    "gemma": (_LLAMA_STYLE, False),
    "gemma2": (_LLAMA_STYLE, False),
    "olmo2": (_LLAMA_STYLE, False),
    "phi3": (("qkv_proj", "o_proj", "gate_up_proj", "down_proj"), False),
    "gpt_neox": (("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"), False),
}


@dataclass
class Applied:
    """What a method did to the model, for the preflight and the card."""

    method: str
    targets: list[str] = field(default_factory=list)  # module names LoRA actually wrapped
    wrapped: int = 0  # how many modules were wrapped
    fan_in_fan_out: bool = False
    trainable: int = 0
    total: int = 0

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0


def preset(model: Any, requested: tuple[str, ...] = ()) -> tuple[list[str] | str, bool]:
    """(target modules, fan_in_fan_out) for this model: the user's list, the architecture's
    preset, or peft's 'all-linear' for architectures without one."""
    model_type = getattr(getattr(model, "config", None), "model_type", "")
    targets, fan_in_fan_out = PRESETS.get(model_type, ("all-linear", False))
    if requested:
        return list(requested), _uses_conv1d(model, requested)
    return (list(targets) if isinstance(targets, tuple) else targets), fan_in_fan_out


def _uses_conv1d(model: Any, names: tuple[str, ...]) -> bool:
    from transformers.pytorch_utils import Conv1D

    return any(
        isinstance(module, Conv1D) and name.rsplit(".", 1)[-1] in names
        for name, module in model.named_modules()
    )


def _linear_names(model: Any) -> list[str]:
    import torch
    from transformers.pytorch_utils import Conv1D

    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, (torch.nn.Linear, Conv1D)) and "lm_head" not in name
    }
    return sorted(names)


def _count(model: Any) -> tuple[int, int]:
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        if hasattr(p, "quant_storage") or type(p).__name__ == "Params4bit":
            n *= 2  # a 4-bit parameter packs two values per byte
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


def apply(
    model: Any,
    method: str,
    *,
    lora_r: int = 16,
    lora_alpha: int = 32,
    lora_dropout: float = 0.05,
    target_modules: tuple[str, ...] = (),
    gradient_checkpointing: bool = False,
) -> tuple[Any, Applied]:
    """Make `model` trainable by `method`; returns the (possibly wrapped) model and a summary."""
    if method not in METHODS:
        raise InvalidOptionError(
            f"unknown --method '{method}'", hint=f"use one of: {', '.join(METHODS)}"
        )
    if method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        if gradient_checkpointing:
            model.gradient_checkpointing_enable()
        trainable, total = _count(model)
        return model, Applied("full", trainable=trainable, total=total)

    try:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    except ImportError as exc:
        raise missing_dependency("peft", "train") from exc
    if method == "qlora":
        # casts norms to fp32, freezes the base, enables input grads (+ checkpointing if asked)
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing
        )
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()  # frozen embeddings: checkpointed blocks need a grad path
    targets, fan_in_fan_out = preset(model, target_modules)
    config = LoraConfig(
        r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=targets,
        fan_in_fan_out=fan_in_fan_out,
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(model, config)
    except ValueError as exc:
        if "not found" not in str(exc) and "target" not in str(exc).lower():
            raise
        raise InvalidOptionError(
            f"--target-modules {','.join(target_modules) or targets} matched no module of this "
            f"{getattr(model.config, 'model_type', 'model')}",
            hint=f"modules it has: {', '.join(_linear_names(model)[:12])}",
        ) from exc
    wrapped = [name for name, module in model.named_modules() if hasattr(module, "lora_A")]
    if not wrapped:  # peft accepted the config but wrapped nothing: never train a no-op
        raise InvalidOptionError(
            f"LoRA matched no module (targets: {targets})",
            hint=f"pass --target-modules with some of: {', '.join(_linear_names(model)[:12])}",
        )
    trainable, total = _count(model)
    applied = Applied(
        method,
        targets=sorted({name.rsplit(".", 1)[-1] for name in wrapped}),
        wrapped=len(wrapped),
        fan_in_fan_out=fan_in_fan_out,
        trainable=trainable,
        total=total,
    )
    return model, applied
