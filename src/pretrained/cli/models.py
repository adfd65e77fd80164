"""`pretrained models list|info`."""

from __future__ import annotations

from typing import Annotated

import typer

from . import _options as o
from ._output import calibration_table, human_bytes, human_count, out_console, print_json

app = typer.Typer(
    help="List the models this tool knows and inspect any model without loading it.",
    no_args_is_help=True,
)


@app.command("list")
def list_(json_out: o.Json = False) -> None:
    """Aliases, what each resolves to, size, and whether it works offline."""
    from rich.table import Table

    from ..tasks.models import list_models

    entries = list_models()
    if json_out:
        print_json([e.to_dict() for e in entries])
        return
    table = Table(title="models", title_justify="left")
    for column in ("name", "task", "resolves to", "size", "offline", "default for"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e.name,
            e.task or "-",
            e.resolves_to,
            human_bytes(e.size_bytes) if e.size_bytes else "-",
            "[green]yes[/]" if e.offline else "[red]no[/]",
            ", ".join(e.default_for) or "-",
        )
    console = out_console()
    console.print(table)
    console.print(
        "Any Hub id (org/name, --revision to pin) or local folder works too: "
        "pretrained models info openai-community/gpt2",
        markup=False,
    )


@app.command("info")
def info(
    model: Annotated[str, typer.Argument(help="Alias, Hub id or local path.")],
    revision: o.Revision = None,
    json_out: o.Json = False,
) -> None:
    """Files, formats, parameters, context length, vocabulary, special tokens and RAM estimates."""
    from rich.table import Table

    from ..tasks.inspect import inspect

    result = inspect(model, revision=revision)
    if json_out:
        print_json(result.to_dict())
        return
    console = out_console()
    params = human_count(result.parameters) + (
        " (estimated)" if result.parameters_estimated else ""
    )
    rows = [
        ("model", result.model),
        ("source", result.source),
        ("format", result.format),
        ("revision", result.revision or "-"),
        ("path", result.path or "-"),
        ("architecture", result.architecture or "-"),
        ("parameters", params),
        ("context length", str(result.context_length or "?")),
        ("vocab size", str(result.vocab_size or "?")),
        ("stored dtype", result.stored_dtype or "?"),
        (
            "special tokens",
            ", ".join(f"{k}={v['token']!r} ({v['id']})" for k, v in result.special_tokens.items())
            or "-",
        ),
        (
            "files",
            f"{len(result.files)} files, {human_bytes(result.total_size)}"
            + (" — [red]contains pickle weights[/]" if result.has_pickle else ""),
        ),
    ]
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    if result.ram_estimate_bytes:
        ram = Table(title="estimated RAM to run (weights × 1.2)", title_justify="left")
        for key in result.ram_estimate_bytes:
            ram.add_column(key, justify="right")
        ram.add_row(*[human_bytes(v) for v in result.ram_estimate_bytes.values()])
        console.print(ram)
    files = Table(title="files", title_justify="left")
    files.add_column("name")
    files.add_column("kind")
    files.add_column("size", justify="right")
    for f in result.files:
        files.add_row(f.name, f"[red]{f.kind}[/]" if f.pickle else f.kind, human_bytes(f.size))
    console.print(files)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)


cache_app = typer.Typer(
    help="The conversion cache: models converted once for a faster engine.", no_args_is_help=True
)
app.add_typer(cache_app, name="cache")


@cache_app.command("list")
def cache_list(json_out: o.Json = False) -> None:
    """Each converted model: what it was made from (model, revision, quantization) and its size."""
    from rich.table import Table

    from ..models.loading import cache_entries

    entries = cache_entries()
    if json_out:
        print_json(entries)
        return
    console = out_console()
    if not entries:
        console.print("the conversion cache is empty", markup=False)
        return
    table = Table(title="conversion cache", title_justify="left")
    for column in ("name", "kind", "from", "quantization", "size", "created"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e["name"],
            e.get("kind", "-"),
            e.get("model") or e.get("source", "-"),
            e.get("quantization", "-"),
            human_bytes(e["size_bytes"]),
            e.get("created", "-"),
        )
    console.print(table)
    console.print(f"total {human_bytes(sum(e['size_bytes'] for e in entries))}", markup=False)
    from ..models import calibrate

    rows = calibrate.table_rows()
    if rows:
        console.print(calibration_table(rows, "engines measured on this CPU"))


@app.command("calibrate")
def calibrate_(
    model: Annotated[str | None, typer.Argument(help="Alias, Hub id or local path.")] = None,
    revision: o.Revision = None,
    json_out: o.Json = False,
) -> None:
    """Measure the CPU engines for MODEL on this machine again: a quality canary (agreement
    with the float32 reference, no greedy loops) and a timing; `auto` then uses the fastest
    engine that passed. Runs by itself on a model's first use."""
    from ..models import calibrate
    from ..models.registry import ModelFormat, resolve

    resolved = resolve(model, revision=revision)
    if resolved.format not in (ModelFormat.GGUF, ModelFormat.TRANSFORMERS):
        from ..errors import InvalidOptionError

        raise InvalidOptionError(
            f"{resolved.label} is a {resolved.format} model; calibration compares CPU engines "
            "for causal language models",
            hint="pass a text-generation model (alias, Hub id, local folder or .gguf file)",
        )
    quiet = (lambda _text: None) if json_out else None
    verdict = calibrate.verdict(resolved, force=True, status=quiet)
    if verdict is None:
        from ..errors import UnsupportedModelError

        raise UnsupportedModelError(
            "no fast CPU engine is installed to compare with transformers",
            hint="pip install 'pretrained[fast]' (ctranslate2, xllamacpp)",
        )
    if json_out:
        print_json(verdict.to_dict())
        return
    out_console().print(calibration_table(verdict.table(), f"engines for {verdict.model}"))


@cache_app.command("clear")
def cache_clear(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Entries to delete (from 'models cache list'); none = all of them."),
    ] = None,
    json_out: o.Json = False,
) -> None:
    """Delete converted models; they are rebuilt on next use."""
    from ..models.loading import clear_cache

    removed = clear_cache(names or None)
    if json_out:
        print_json({"removed": removed, "freed_bytes": sum(e["size_bytes"] for e in removed)})
        return
    freed = human_bytes(sum(e["size_bytes"] for e in removed))
    out_console().print(f"removed {len(removed)} cache entries, freed {freed}", markup=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="models")
