"""Options shared by many commands, declared once (Annotated types for Typer)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import options
from ..tasks.generate import GenerateOptions

_D = GenerateOptions()
MODEL_PANEL = "Model"
KNOB_PANEL = "Generation knobs"
OUTPUT_PANEL = "Output"

Model = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Alias, Hub id (org/name) or local path. Default: the task's embedded model.",
        rich_help_panel=MODEL_PANEL,
    ),
]
Revision = Annotated[
    str | None,
    typer.Option(
        "--revision", help="Hub branch, tag or commit sha to pin.", rich_help_panel=MODEL_PANEL
    ),
]
Device = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="auto (cuda → mps → cpu), cpu, cuda, cuda:N, mps.",
        rich_help_panel=MODEL_PANEL,
    ),
]
Dtype = Annotated[
    str | None,
    typer.Option(
        "--dtype",
        help="auto (bf16/fp16 on GPU, fp32 on CPU), float32, float16, bfloat16.",
        rich_help_panel=MODEL_PANEL,
    ),
]
Quantize = Annotated[
    str | None,
    typer.Option(
        "--quantize",
        help="8bit or 4bit (nf4 + double quant) via bitsandbytes; needs CUDA.",
        rich_help_panel=MODEL_PANEL,
    ),
]
Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        help="auto (on a CPU: the fastest engine that passed this machine's quality canary, "
        "measured on first use — see 'pretrained models calibrate'; transformers on GPU), "
        "transformers, llama.cpp, ctranslate2, onnx (exports).",
        rich_help_panel=MODEL_PANEL,
    ),
]
EmbeddingEngine = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Embedding engine: auto (on a CPU: ctranslate2, converted once, no torch; "
        "sentence-transformers on GPU or where conversion is impossible), ctranslate2, onnx, "
        "sentence-transformers.",
        rich_help_panel=MODEL_PANEL,
    ),
]
TrustRemoteCode = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code",
        help="Run custom model code from the repository (off by default).",
        rich_help_panel=MODEL_PANEL,
    ),
]
TrustPickle = Annotated[
    bool,
    typer.Option(
        "--trust-pickle",
        help="Allow pickle (.bin/.pt) weights, which can run code (off by default).",
        rich_help_panel=MODEL_PANEL,
    ),
]

# The generation knobs are derived from GenerateOptions' field specs each time Typer reads a
# command's signature (module __getattr__ below), so a bound changed there shows in --help.
KNOBS = {
    "MaxNewTokens": "max_new_tokens",
    "Temperature": "temperature",
    "TopK": "top_k",
    "TopP": "top_p",
    "RepetitionPenalty": "repetition_penalty",
    "NumReturn": "num_return_sequences",
    "Seed": "seed",
    "Stop": "stop",
    "System": "system",
    "Raw": "raw",
    "BatchSize": "batch_size",
}
_PYTHON_TYPES: dict[str, Any] = {"int": int, "float": float, "bool": bool, "str": str}


def knob(cls: Any, name: str, panel: str = KNOB_PANEL, **extra: Any) -> Any:
    """The Typer option of field `name` of an options dataclass: its flag, short flag, help
    and range, all from the field's spec (pretrained.options)."""
    spec = options.specs(cls)[name][1]
    kind = options.kind(cls, name)
    if kind == "strs":
        annotation: Any = list[str] | None
    else:
        annotation = _PYTHON_TYPES.get(kind, str)
        if options.default(cls, name) is None:
            annotation = annotation | None
    decls = [options.flag(name, spec)] + ([spec.short] if spec.short else [])
    info = typer.Option(*decls, help=options.help_text(cls, name), rich_help_panel=panel, **extra)
    return Annotated[annotation, info]


def __getattr__(name: str) -> Any:
    if name in KNOBS:
        return knob(GenerateOptions, KNOBS[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


Json = Annotated[
    bool,
    typer.Option("--json", help="Machine-readable JSON on stdout.", rich_help_panel=OUTPUT_PANEL),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress bars or status lines.", rich_help_panel=OUTPUT_PANEL
    ),
]


def load_params(params: dict[str, Any]) -> dict[str, Any]:
    """The model and LoadOptions values among a command's parameters (its locals())."""
    from ..models.load_options import LoadOptions

    return {k: params[k] for k in ("model", *LoadOptions.keys()) if k in params}


def generate_options(**values: Any) -> GenerateOptions:
    """Build (and validate) GenerateOptions from CLI values; the error names the CLI flag.
    Keys that are not generation knobs (a command's other parameters) are left out."""
    known = set(options.names(GenerateOptions))
    values = {k: v for k, v in values.items() if k in known}
    values["stop"] = tuple(values.get("stop") or ())
    return GenerateOptions.from_kwargs(**values)


DEFAULTS = _D
