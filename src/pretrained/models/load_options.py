"""`LoadOptions`: how a model is loaded, declared once. Its field names are the load keyword
arguments of `models.load()`, of the Python API (`pretrained.generate(..., device="cpu")`),
of batch jobs and of the server's pool; nothing else keeps a list of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..options import names, option, reject_unknown


@dataclass(frozen=True)
class LoadOptions:
    revision: str | None = option(None, "Hub branch, tag or commit sha to pin.")
    device: str | None = option(None, "auto (cuda → mps → cpu), cpu, cuda, cuda:N, mps.")
    dtype: str | None = option(
        None, "auto (bf16/fp16 on GPU, fp32 on CPU), float32, float16, bfloat16."
    )
    quantize: str | None = option(
        None, "8bit or 4bit (nf4 + double quant) via bitsandbytes; needs CUDA."
    )
    engine: str | None = option(None, "The inference engine (auto when not given).")
    trust_remote_code: bool = option(
        False, "Run custom model code from the repository (off by default)."
    )
    trust_pickle: bool = option(
        False, "Allow pickle (.bin/.pt) weights, which can run code (off by default)."
    )

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return names(cls)

    @classmethod
    def from_kwargs(cls, values: Mapping[str, Any], what: str = "load") -> LoadOptions:
        """From keyword arguments; an unknown key is an error naming the known ones."""
        reject_unknown(values, cls.keys(), what)
        return cls(**{k: v for k, v in values.items() if v is not None})

    @classmethod
    def split(cls, values: Mapping[str, Any]) -> tuple[LoadOptions, dict[str, Any]]:
        """→ (the load options among `values`, the rest)."""
        keys = set(cls.keys())
        load = cls.from_kwargs({k: v for k, v in values.items() if k in keys})
        return load, {k: v for k, v in values.items() if k not in keys}

    @classmethod
    def pick(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Only the load keys of `values` (a server config carries other keys too)."""
        keys = set(cls.keys())
        return {k: v for k, v in values.items() if k in keys}

    def kwargs(self, *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """The options that were given (not None), as keyword arguments for models.load()."""
        return {k: v for k, v in asdict(self).items() if v is not None and k not in exclude}
