"""`pretrained export MODEL --format onnx|ct2|gguf`: a portable copy of a model, checked
against it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _options as o
from ._output import info, note, print_json, spinner


def export(
    model: Annotated[
        str, typer.Argument(help="Alias, Hub id, local folder, or a LoRA adapter/run folder.")
    ],
    format: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="onnx (onnxruntime), ct2 (CTranslate2) or gguf (llama.cpp)."
        ),
    ] = "onnx",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output folder (default: <model>-<format>)."),
    ] = None,
    quantize: Annotated[
        str | None,
        typer.Option("--quantize", help="onnx/ct2: int8. gguf: f16 (default), q8_0 or q4_k_m."),
    ] = None,
    ollama: Annotated[
        bool, typer.Option("--ollama", help="gguf: also write an Ollama Modelfile next to it.")
    ] = False,
    task: Annotated[
        str,
        typer.Option("--task", help="auto, embed, classify or generate (auto: from the model)."),
    ] = "auto",
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="Greedy tokens compared for generators.")
    ] = 16,
    prompt: Annotated[
        list[str] | None,
        typer.Option("--prompt", help="Greedy parity prompt for generators (repeatable)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty output.")] = False,
    revision: o.Revision = None,
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Export a model to ONNX, CTranslate2 or GGUF and check the export against the original
    (max abs difference on sample inputs; greedy text for generators) → export.json."""
    from ..ship.export import ExportOptions, export_model

    options = ExportOptions(
        format=format.lower(),
        quantize=quantize.lower() if quantize else None,
        kind=task,
        max_new_tokens=max_new_tokens,
        ollama=ollama,
        prompts=tuple(prompt or ()),
    ).validate()
    quiet_status = quiet or json_out
    with spinner(f"exporting {model}…", quiet=quiet_status):
        result = export_model(
            model,
            output,
            options,
            revision=revision,
            trust_remote_code=trust_remote_code,
            trust_pickle=trust_pickle,
            force=force,
            on_status=lambda message: info(message, quiet=quiet_status),
        )
    if json_out:
        print_json(result.to_dict())
        return
    p = result.parity
    figures = [f"max abs diff {p['max_abs_diff']:.2e}"] if "max_abs_diff" in p else []
    if "min_cosine" in p:
        figures.append(f"min cosine {p['min_cosine']:.6f}")
    if "greedy_equal" in p:
        figures.append(f"greedy text equal {p['greedy_equal']}")
    for key in ("near_tie_agreement", "agreement"):
        if key in p:
            figures.append(f"{key.replace('_', ' ')} {p[key]:.3f}")
    if "eos" in p:
        figures.append(f"stops at EOS {p['eos']['stops']}")
    verdict = "parity passed with warnings" if p.get("warnings") else "parity passed"
    info(
        f"{result.kind} model {result.model} → {result.format}"
        f"{' ' + result.quantize if result.quantize else ''} ({result.size_bytes / 1e6:.1f} MB, "
        f"{result.seconds:.1f}s) · {verdict}: {', '.join(figures)}",
        quiet=quiet,
    )
    for warning in result.notes:
        note(f"warning: {warning}")
    typer.echo(result.output)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
