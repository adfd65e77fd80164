"""Where and how a model runs in memory: the device (cuda → mps → cpu), the dtype,
bitsandbytes quantization, and quiet loading (transformers' and peft's own chatter off).

Heavy libraries (torch, transformers) are imported inside functions so `pretrained --help`
and error paths stay fast."""

from __future__ import annotations

import contextlib
import functools
import sys
from typing import Any

from ..errors import (
    DeviceUnavailableError,
    InvalidOptionError,
    QuantizationUnavailableError,
)

DEVICES = ("auto", "cpu", "cuda", "mps")

DTYPES = ("auto", "float32", "float16", "bfloat16")

QUANTIZE = ("8bit", "4bit")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def check_device(requested: str | None) -> str:
    """The device name, lower-cased and validated (no torch import: engines that never touch
    torch validate --device too)."""
    requested = (requested or "auto").lower()
    if requested.split(":")[0] not in DEVICES:
        raise InvalidOptionError(
            f"unknown device '{requested}'", hint="use one of: auto, cpu, cuda, cuda:N, mps"
        )
    return requested


def choose_device(requested: str | None = None) -> str:
    """auto → cuda → mps → cpu. An explicit device that is absent is an error, not a fallback."""
    requested = check_device(requested)
    base = requested.split(":")[0]
    if base == "auto":
        if cuda_available():
            return "cuda"
        if mps_available():
            return "mps"
        return "cpu"
    if base == "cuda" and not cuda_available():
        raise DeviceUnavailableError(
            "--device cuda was asked for but this machine has no CUDA GPU (or torch is a CPU build)",
            hint="drop --device to pick the best available device, or use --device cpu",
        )
    if base == "mps" and not mps_available():
        raise DeviceUnavailableError("--device mps was asked for but MPS is not available here")
    return requested


def choose_dtype(device: str, requested: str | None = None):
    """auto: bf16 on GPUs that support it, else fp16 on GPU; fp32 on CPU."""
    import torch

    requested = (requested or "auto").lower()
    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "float16": torch.float16,
        "fp16": torch.float16,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
    }
    if requested != "auto":
        if requested not in names:
            raise InvalidOptionError(
                f"unknown dtype '{requested}'", hint="use auto, float32, float16 or bfloat16"
            )
        return names[requested]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def quantization_config(quantize: str | None, device: str):
    """A BitsAndBytesConfig for 8bit/4bit (4bit = nf4 + double quant), or None."""
    if not quantize:
        return None
    if quantize not in QUANTIZE:
        raise InvalidOptionError(
            f"unknown quantization '{quantize}'", hint="use --quantize 8bit or --quantize 4bit"
        )
    if not device.startswith("cuda"):
        raise QuantizationUnavailableError(
            f"--quantize {quantize} needs a CUDA GPU; this run is on {device}",
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise QuantizationUnavailableError(
            f"--quantize {quantize} needs the bitsandbytes package",
            hint="pip install 'pretrained[quantize]'",
        ) from exc
    import torch
    from transformers import BitsAndBytesConfig

    if quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
    )


def dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


@contextlib.contextmanager
def quiet_transformers(show_progress: bool = False):
    """Silence transformers' warnings and tqdm bars while loading local files (we show our own
    status line); keep a bar for long conversions when stderr is a terminal."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    show = show_progress and sys.stderr.isatty()
    gguf_utils = sys.modules.get("transformers.modeling_gguf_pytorch_utils")
    gguf_tqdm = getattr(gguf_utils, "tqdm", None)
    if not show:
        hf_logging.disable_progress_bar()
        if gguf_tqdm is not None:  # the GGUF converter uses tqdm directly, not transformers' switch
            gguf_utils.tqdm = functools.partial(gguf_tqdm, disable=True)
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if enabled:
            hf_logging.enable_progress_bar()
        if gguf_tqdm is not None:
            gguf_utils.tqdm = gguf_tqdm


@contextlib.contextmanager
def quiet_peft():
    """peft imports bitsandbytes, which logs about optional CPU kernels, and peft/transformers
    emit deprecation notices that are not the user's to act on: off while we show our own status."""
    import logging
    import warnings

    names = ("bitsandbytes", "peft", "accelerate", "torch.distributed")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def diffusers_quantization(quantize: str | None, device: str, components: list[str]):
    """A diffusers PipelineQuantizationConfig (bitsandbytes 8/4-bit) for the denoiser and the
    text encoders, or None. Same rules as text models: CUDA + bitsandbytes only."""
    bnb = quantization_config(quantize, device)  # validates the value, the device and the package
    if bnb is None:
        return None
    from diffusers.quantizers import PipelineQuantizationConfig

    targets = [
        c for c in components if c in ("unet", "transformer") or c.startswith("text_encoder")
    ]
    kwargs = (
        {"load_in_8bit": True}
        if quantize == "8bit"
        else {
            "load_in_4bit": True,
            "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_compute_dtype": bnb.bnb_4bit_compute_dtype,
        }
    )
    return PipelineQuantizationConfig(
        quant_backend=f"bitsandbytes_{quantize}",
        quant_kwargs=kwargs,
        components_to_quantize=targets,
    )
