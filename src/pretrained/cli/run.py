"""`pretrained run TASK INPUT`: any transformers pipeline task; `--list` shows them all."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UsageError
from . import _options as o
from ._output import info, note, out_console, print_json, spinner


def run(
    task: Annotated[
        str | None, typer.Argument(help="Pipeline task (ner, fill-mask, image-classification …).")
    ] = None,
    value: Annotated[
        str | None,
        typer.Argument(
            metavar="INPUT", help="Text ('-' = stdin), or an image/audio/video path or URL."
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read text input from a file.")
    ] = None,
    text: Annotated[
        str | None,
        typer.Option("--text", help="Question or prompt for image+text and table tasks."),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option("--labels", help="Candidate labels for zero-shot tasks, comma-separated."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="Pipeline/generation kwarg key=value (JSON values parsed), repeatable.",
            rich_help_panel=o.KNOB_PANEL,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Where images/audio in the output are saved."),
    ] = None,
    model: o.Model = None,
    revision: o.Revision = None,
    device: o.Device = None,
    dtype: o.Dtype = None,
    engine: o.Engine = "auto",
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
    allow_untrained_head: Annotated[
        bool,
        typer.Option(
            "--allow-untrained-head",
            help="Run a model whose checkpoint lacks this task's head (its output is random).",
            rich_help_panel=o.MODEL_PANEL,
        ),
    ] = False,
    list_tasks: Annotated[
        bool, typer.Option("--list", help="List every task, its default model and its input.")
    ] = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Run any transformers pipeline task on text, an image, audio or video."""
    from ..models.load_options import LoadOptions
    from ..tasks import run as task_module
    from ._text import text_argument

    if list_tasks:
        _print_list(task_module.list_tasks(), json_out)
        return
    if task is None:
        raise UsageError("no task given", hint="pretrained run --list shows every task")
    name, default_text = task_module.normalize(task)
    kind = task_module.INPUTS.get(name, "")
    if kind.startswith("text"):
        value = text_argument(value, "input text", f'pretrained run {task} "…"', file=file)
    elif value is None:
        raise UsageError(
            f"{name} needs an input ({task_module.DESCRIBE_INPUT.get(kind, kind)})",
            hint=f"e.g. pretrained run {task} photo.jpg",
        )
    options = task_module.RunOptions(
        params=task_module.parse_params(param or []),
        text=text,
        labels=tuple(x.strip() for x in (labels or "").split(",") if x.strip()),
    )
    if default_text and not text:
        options = task_module.RunOptions(options.params, default_text, options.labels)
    task_module.prepare_input(name, value, options)  # a wrong input fails before the load
    silent = quiet or json_out
    label = model or "default model"
    with spinner(f"loading {label} for {name}…", quiet=silent):
        load = LoadOptions(
            revision=revision,
            device=device,
            dtype=dtype,
            engine=engine,
            trust_remote_code=trust_remote_code,
            trust_pickle=trust_pickle,
        )
        backend = task_module.load_backend(
            name, model, load, allow_untrained_head=allow_untrained_head
        )
    default = "" if model else " [default for this task; --model to change]"
    info(
        f"task: {name} · model: {backend.model_id}{default} · "
        + (f"engine {backend.engine} · " if hasattr(backend, "engine") else "")
        + f"{backend.device} {backend.dtype}"
        + (f" · loaded in {backend.load_seconds:.1f}s" if backend.load_seconds else ""),
        quiet=silent,
    )
    untrained = getattr(backend, "untrained", None)
    if untrained:
        note(
            f"warning: {backend.model_id} has no trained {name} head: {len(untrained)} "
            "weights are random, so this output means nothing (--allow-untrained-head)"
        )
    result = task_module.run(name, value, options=options, out=out, backend=backend)
    if json_out:
        print_json(result.to_dict())
        return
    _print_output(result.output)
    for path in result.files:
        info(f"saved {path}", quiet=quiet)
    info(f"{result.timings['inference_s']}s", quiet=quiet)


def _print_list(rows, json_out: bool) -> None:
    if json_out:
        print_json([row.to_dict() for row in rows])
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("task", "input", "default model", "notes"):
        table.add_column(column)
    for row in rows:
        d = row.to_dict()
        model = d["default_model"] or ""
        if model and d["default_revision"]:
            model += f"@{d['default_revision']}"
        notes = []
        if d["aliases"]:
            notes.append("alias: " + ", ".join(d["aliases"]))
        if d["moved_to"]:
            notes.append(f"{d['note']} → use: {d['moved_to']}")
        elif d["note"]:
            notes.append(d["note"])
        if d["see_also"]:
            notes.append(f"also: {d['see_also']}")
        table.add_row(d["task"], "" if d["moved_to"] else d["input"], model, "; ".join(notes))
    out_console().print(table)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list) and len(value) > 8:
        return f"[{len(value)} values]"
    return str(value)


def _shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list) and value:
        shape.append(len(value))
        value = value[0]
    return shape


def _print_output(output: Any) -> None:
    if isinstance(output, list) and output and isinstance(output[0], list) and output[0]:
        if all(isinstance(x, dict) for x in output[0]):  # one list of rows per input
            for group in output:
                _print_output(group)
            return
        shape = _shape(output)  # embeddings: nested lists of floats
        flat = output
        while isinstance(flat, list) and flat and isinstance(flat[0], list):
            flat = flat[0]
        head = ", ".join(f"{x:.4f}" for x in flat[:6] if isinstance(x, (int, float)))
        typer.echo(f"shape {shape}: [{head}, …]  (--json for every value)")
        return
    if isinstance(output, list) and output and all(isinstance(x, dict) for x in output):
        from rich.table import Table

        keys = [k for k in output[0] if not isinstance(output[0][k], (dict, list)) or k == "box"]
        table = Table(box=None, pad_edge=False, header_style="bold")
        for key in keys:
            table.add_column(key)
        for row in output:
            table.add_row(*[_fmt(row.get(k)) for k in keys])
        out_console().print(table)
        return
    if isinstance(output, dict):
        for key, val in output.items():
            typer.echo(f"{key}: {_fmt(val)}")
        return
    typer.echo(_fmt(output) if not isinstance(output, str) else output)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
