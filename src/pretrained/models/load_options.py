"""`LoadOptions`: how a model is loaded, declared once. Its field names are the load keyword
arguments of `models.load()`, of the Python API (`pretrained.generate(..., device="cpu")`),
of batch jobs and of the server's pool; nothing else keeps a list of them.

Tasks take one `LoadOptions` (`tasks.embed.embed(texts, load_options=LoadOptions(device="cpu"))`)
and hand it to a models/ loader with `call()`, which gives each loader the options its own
signature names: an embedder has no dtype or quantize, a speech model no engine."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, TypeVar

from ..errors import InvalidOptionError
from ..options import names, option, reject_unknown

T = TypeVar("T")
# what changes a model's outputs, as a batch job's fingerprint keeps it: revision is the
# model's own identity, device and trust_pickle only say where and how it loads
_NOT_IDENTITY = ("revision", "device", "trust_pickle")


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

    def given(self) -> dict[str, Any]:
        """The options that differ from their defaults."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != f.default
        }

    def identity(self) -> dict[str, Any]:
        """The options that change what the model outputs (a batch job's fingerprint), None
        where not given."""
        given = self.given()
        return {k: given.get(k) for k in self.keys() if k not in _NOT_IDENTITY}

    def device_only(self) -> LoadOptions:
        """What a helper model (the embedder or reranker beside a task's main model) takes of
        the main model's options: the device; revision, dtype, engine … are the main model's."""
        return LoadOptions(device=self.device)

    def only(self, loader: Callable[..., Any]) -> LoadOptions:
        """These options less the ones `loader` has no parameter for (set back to their
        defaults): what a batch job, which passes one set to every task, gives a task."""
        taken = _taken(loader)
        return replace(self, **{f.name: f.default for f in fields(self) if f.name not in taken})

    def call(self, loader: Callable[..., T], *args: Any, **extra: Any) -> T:
        """`loader(*args, **extra)` with the options its signature names (a models/ loader).
        A given option it has no parameter for does not apply to its kind of model (an
        embedder has no dtype): an error naming the ones it takes."""
        taken = _taken(loader)
        unused = self.given().keys() - set(taken) - extra.keys()
        if unused:
            name = getattr(loader, "__name__", "this loader")
            raise InvalidOptionError(
                f"{', '.join(sorted(unused))} does not apply to {name}",
                hint=f"it takes {', '.join(taken) or 'no load options'}; drop the others",
            )
        values = {k: v for k, v in self.kwargs().items() if k in taken and k not in extra}
        return loader(*args, **values, **extra)


def _taken(loader: Callable[..., Any]) -> list[str]:
    """The LoadOptions fields `loader` has a parameter for, in its signature's order (all of
    them for one that takes **kwargs: a test's stand-in)."""
    known = names(LoadOptions)
    params = inspect.signature(loader).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return list(known)
    return [k for k in params if k in known]
