"""Turning a `ResolvedModel` into objects in memory — the names other modules import, from
the modules that hold them, split by concern:

    devices.py    device (cuda → mps → cpu), dtype, bitsandbytes quantization, quiet loading
    cache.py      the conversion cache (cached_build: lock + temp dir + atomic rename; list/clear)
    gguf.py       GGUF → tokenizer / safetensors, once, cached by file hash
    folders.py    safe local folders (pickle refused), tokenizers, diffusers folders, LoadedLM
    adapters.py   PEFT adapters and fine-tuning run folders
    causal.py     load_causal_lm
"""

from __future__ import annotations

from .._util import first_line
from .adapters import read_run_config, run_base
from .cache import (
    ON_CLEAR,
    Prepared,
    _build_lock,
    cache_entries,
    cached_build,
    clear_cache,
    file_sha256,
    publish_dir,
)
from .causal import load_causal_lm
from .devices import (
    DEVICES,
    DTYPES,
    QUANTIZE,
    check_device,
    choose_device,
    choose_dtype,
    cuda_available,
    diffusers_quantization,
    dtype_name,
    mps_available,
    quantization_config,
    quiet_peft,
    quiet_transformers,
)
from .folders import (
    LoadedLM,
    check_local_weights,
    load_failure,
    load_tokenizer,
    prepare,
    prepare_diffusers,
)
from .gguf import gguf_model_dir, gguf_path, gguf_tokenizer_dir

__all__ = [
    "DEVICES",
    "DTYPES",
    "LoadedLM",
    "ON_CLEAR",
    "Prepared",
    "QUANTIZE",
    "_build_lock",
    "cache_entries",
    "cached_build",
    "check_device",
    "check_local_weights",
    "choose_device",
    "choose_dtype",
    "clear_cache",
    "cuda_available",
    "diffusers_quantization",
    "dtype_name",
    "file_sha256",
    "first_line",
    "gguf_model_dir",
    "gguf_path",
    "gguf_tokenizer_dir",
    "load_causal_lm",
    "load_failure",
    "load_tokenizer",
    "mps_available",
    "prepare",
    "prepare_diffusers",
    "publish_dir",
    "quantization_config",
    "quiet_peft",
    "quiet_transformers",
    "read_run_config",
    "run_base",
]
