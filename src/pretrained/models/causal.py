"""Causal language models for the transformers engine: weights + tokenizer on the chosen
device, safely (safetensors unless trusted), with import time kept apart from load time."""

from __future__ import annotations

import time
from typing import Any

from .._util import first_line
from ..errors import (
    ModelLoadError,
    UnsupportedModelError,
)
from .adapters import load_adapter, load_run
from .devices import (
    choose_device,
    choose_dtype,
    dtype_name,
    quantization_config,
    quiet_transformers,
)
from .folders import LoadedLM, prepare
from .registry import ModelFormat, ResolvedModel


def load_causal_lm(
    resolved: ResolvedModel,
    *,
    device: str | None = None,
    dtype: str | None = None,
    quantize: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
) -> LoadedLM:
    """Load a causal LM + tokenizer on the chosen device, safely (safetensors unless trusted).

    `import_seconds` (torch + transformers imports, paid once per process) is kept apart
    from `load_seconds` (resolving, converting if needed, reading weights)."""
    began = time.time()
    import torch  # noqa: F401
    import transformers.modeling_utils  # noqa: F401 - library import cost, same for every model
    import transformers.tokenization_utils_tokenizers  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.time()
    import_seconds = start - began
    if resolved.format in (
        ModelFormat.SENTENCE_TRANSFORMERS,
        ModelFormat.CTRANSLATE2,
        ModelFormat.DIFFUSERS,
        ModelFormat.ESPEAK,
    ):
        raise UnsupportedModelError(
            f"{resolved.label} is a {resolved.format} model, not a text-generation model",
            hint="pick a causal language model, e.g. --model smollm2-135m-instruct",
        )
    layered = {ModelFormat.FINETUNE_RUN: load_run, ModelFormat.PEFT_ADAPTER: load_adapter}.get(
        resolved.format
    )
    if layered is not None:  # a base model plus something on top: loaded through this function
        return layered(
            resolved,
            load_causal_lm,
            device=device,
            dtype=dtype,
            quantize=quantize,
            trust_remote_code=trust_remote_code,
            trust_pickle=trust_pickle,
        )
    chosen = choose_device(device)
    torch_dtype = choose_dtype(chosen, dtype)
    bnb = quantization_config(quantize, chosen)
    prepared = prepare(resolved, trust_pickle=trust_pickle)
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code}
    if not trust_pickle:
        kwargs["use_safetensors"] = True
    if bnb is not None:
        kwargs["quantization_config"] = bnb
        kwargs["device_map"] = {"": chosen if ":" in chosen else f"{chosen}:0"}
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(
                prepared.path, trust_remote_code=trust_remote_code
            )
            model = AutoModelForCausalLM.from_pretrained(prepared.path, **kwargs)
    except ValueError as exc:
        message = first_line(exc)
        if "trust_remote_code" in str(exc):
            raise UnsupportedModelError(
                f"{resolved.label} needs custom code from its repository to load",
                hint="pass --trust-remote-code only if you trust the publisher",
            ) from exc
        if (
            "Unrecognized" in message
            or "not supported" in message
            or "does not recognize" in message
        ):
            raise UnsupportedModelError(
                f"{resolved.label} is not a causal language model transformers can load: {message}",
                hint="use a text-generation model (e.g. an *-Instruct or *-chat model)",
            ) from exc
        raise ModelLoadError(f"could not load {resolved.label}: {message}") from exc
    except OSError as exc:
        raise ModelLoadError(f"could not load {resolved.label}: {first_line(exc)}") from exc
    if bnb is None:
        model.to(chosen)
    model.eval()
    return LoadedLM(
        model=model,
        tokenizer=tokenizer,
        resolved=resolved,
        revision=prepared.revision,
        device=chosen,
        dtype=dtype_name(torch_dtype) if bnb is None else f"{quantize} (bitsandbytes)",
        quantize=quantize,
        load_seconds=time.time() - start,
        import_seconds=import_seconds,
        cache_hit=prepared.cache_hit,
        converted=prepared.converted,
    )
