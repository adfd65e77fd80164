"""Options shared by many commands, declared once (Annotated types for Typer)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

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

MaxNewTokens = Annotated[
    int,
    typer.Option(
        "--max-new-tokens", "-n", help="Most tokens to generate.", rich_help_panel=KNOB_PANEL
    ),
]
Temperature = Annotated[
    float,
    typer.Option(
        "--temperature",
        "-t",
        help="Randomness; 0 = greedy (deterministic).",
        rich_help_panel=KNOB_PANEL,
    ),
]
TopK = Annotated[
    int,
    typer.Option(
        "--top-k",
        help="Sample from the k most likely tokens (0 = off).",
        rich_help_panel=KNOB_PANEL,
    ),
]
TopP = Annotated[
    float,
    typer.Option(
        "--top-p",
        help="Nucleus sampling: smallest set with this total probability.",
        rich_help_panel=KNOB_PANEL,
    ),
]
RepetitionPenalty = Annotated[
    float,
    typer.Option(
        "--repetition-penalty",
        help="> 1 discourages repeating tokens (1 = off).",
        rich_help_panel=KNOB_PANEL,
    ),
]
NumReturn = Annotated[
    int,
    typer.Option(
        "--num-return-sequences",
        help="Completions per prompt (needs temperature > 0).",
        rich_help_panel=KNOB_PANEL,
    ),
]
Seed = Annotated[
    int | None,
    typer.Option(
        "--seed", help="Random seed for reproducible sampling.", rich_help_panel=KNOB_PANEL
    ),
]
Stop = Annotated[
    list[str] | None,
    typer.Option(
        "--stop", help="Stop when this text appears (repeatable).", rich_help_panel=KNOB_PANEL
    ),
]
System = Annotated[
    str | None,
    typer.Option("--system", help="System prompt for chat models.", rich_help_panel=KNOB_PANEL),
]

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


def load_options(
    model: str | None,
    revision: str | None,
    device: str | None,
    dtype: str | None,
    quantize: str | None,
    engine: str,
    trust_remote_code: bool,
    trust_pickle: bool,
) -> dict[str, Any]:
    return {
        "model": model,
        "revision": revision,
        "device": device,
        "dtype": dtype,
        "quantize": quantize,
        "engine": engine,
        "trust_remote_code": trust_remote_code,
        "trust_pickle": trust_pickle,
    }


def generate_options(**values: Any) -> GenerateOptions:
    """Build (and validate) GenerateOptions from CLI values; the error names the CLI flag."""
    values["stop"] = tuple(values.get("stop") or ())
    return GenerateOptions.from_kwargs(**values)


DEFAULTS = _D
