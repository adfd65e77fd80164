"""`pretrained classify TEXT | --file F`: sentiment or zero-shot labels, for one text or a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import EmptyInputError, InvalidOptionError, UsageError
from . import _options as o
from ._output import info, note, print_json

BLOCK = 512  # rows per committed chunk of the batch job (the unit of resume)


def classify(
    text: Annotated[
        str | None,
        typer.Argument(help="The text to classify; '-' reads stdin.", show_default=False),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            "-l",
            help="Zero-shot labels, comma-separated (name=description also works). Default: positive,negative.",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="Classify every row: .txt (lines), .csv/.tsv (--column), .jsonl (--field).",
        ),
    ] = None,
    column: Annotated[
        str | None, typer.Option("--column", help="CSV column with the text.")
    ] = None,
    field: Annotated[str | None, typer.Option("--field", help="JSONL field with the text.")] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write rows here (.jsonl or .csv); default stdout."),
    ] = None,
    out_format: Annotated[
        str | None,
        typer.Option("--format", help="jsonl or csv (default: from --output, else jsonl)."),
    ] = None,
    model: o.Model = None,
    method: Annotated[
        str,
        typer.Option("--method", help="auto, embedding, nli or sequence-classification."),
    ] = "auto",
    template: Annotated[
        str | None,
        typer.Option("--template", help='Hypothesis template with {}, e.g. "This review is {}."'),
    ] = None,
    multi_label: Annotated[
        bool, typer.Option("--multi-label", help="NLI: score each label independently.")
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Texts per forward pass.")] = 32,
    revision: o.Revision = None,
    device: o.Device = None,
    engine: o.EmbeddingEngine = "auto",
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Label text: sentiment by default, or your own labels zero-shot. Says which model/method."""
    from ..models.backends.fast_embeddings import check_engine
    from ..models.load_options import LoadOptions
    from ..models.loading import check_device
    from ..tasks.classify import ClassifyOptions, parse_labels
    from ..tasks.classify import classify as run

    options = ClassifyOptions(
        batch_size=batch_size, method=method, template=template, multi_label=multi_label
    ).validate()
    parse_labels(labels)  # bad labels fail before any model loads
    load = LoadOptions(
        revision=revision,
        device=check_device(device) if device else None,
        engine=None if check_engine(engine) == "auto" else check_engine(engine),
        trust_remote_code=trust_remote_code,
        trust_pickle=trust_pickle,
    )
    if file is not None and text is not None:
        raise UsageError(
            "give a TEXT or --file, not both", hint="pretrained classify --file reviews.csv"
        )
    if file is None:
        if text == "-" or (text is None and not sys.stdin.isatty()):
            from ..sources import read_stdin

            text = read_stdin().strip()
        if text is None:
            raise UsageError("no text given", hint='pretrained classify "I love it" (or --file F)')
        if not text.strip():
            raise EmptyInputError("the text is empty", hint='pretrained classify "I love it"')
        result = run(text, labels, model, options, load_options=load)
        info(result.describe(), quiet=quiet)
        for warning in result.warnings:
            note(f"warning: {warning}", quiet=quiet)
        if json_out:
            print_json(result.to_dict())
            return
        item = result.items[0]
        ranked = sorted(item.scores.items(), key=lambda kv: -kv[1])
        sys.stdout.write(f"{item.label}\t{item.score:.3f}\n")
        if not quiet:
            info("scores: " + "  ".join(f"{k} {v:.3f}" for k, v in ranked))
        return

    _classify_file(
        file,
        output,
        out_format,
        {"labels": labels, "method": method, "template": template, "multi_label": multi_label},
        key=column or field,
        model=model,
        load=load,
        batch_size=batch_size,
        json_out=json_out,
        quiet=quiet,
    )


def _classify_file(file, output, out_format, task_options, *, key, model, load, **how) -> None:
    """Every row of a file through the batch job (resumable), written back with its labels."""
    from ..jobs.annotate import (
        WRITE_FORMATS,
        input_format,
        merged_rows,
        remove_results,
        run_beside,
        write_rows,
    )
    from ..jobs.batch import BatchOptions
    from .batch import ProgressView

    quiet = how["quiet"]
    fmt = out_format or (
        "csv" if output is not None and output.suffix.lower() in (".csv", ".tsv") else "jsonl"
    )
    if fmt not in WRITE_FORMATS:
        raise InvalidOptionError(
            f"unknown format '{fmt}'", hint="use --format jsonl or --format csv"
        )
    column = None if input_format(file) == "lines" else key or "text"
    options = BatchOptions(column=column, batch_size=how["batch_size"], chunk_size=BLOCK)
    view = ProgressView(quiet=quiet or not sys.stderr.isatty())
    try:
        result = run_beside(
            "classify",
            file,
            output,
            task_options,
            options=options,
            on_status=lambda message: info(message, quiet=quiet),
            model=model,
            on_progress=view,
            load_options=load,
        )
    finally:
        view.close()
    if result.rows == 0:
        raise EmptyInputError(f"{file} has no rows to classify", hint="add some text rows")
    notes = result.extra
    handle = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        rows = merged_rows(result, file, column)
        write_rows(rows, handle, fmt, {"scores": notes.get("labels", [])})
    finally:
        if output:
            handle.close()
        else:
            sys.stdout.flush()
    remove_results(result)
    _report_file(result, output, json_out=how["json_out"], quiet=quiet)


def _report_file(result, output, *, json_out: bool, quiet: bool) -> None:
    notes = result.extra
    if notes.get("describe"):
        info(notes["describe"], quiet=quiet)
    how = f" by {notes['method']}" if notes.get("method") else ""
    where = f" → {output}" if output else ""
    info(f"{result.rows} row(s) classified{how} ({result.model}){where}", quiet=quiet)
    if result.errors:
        note(f"warning: {result.errors} row(s) could not be classified (see 'error')", quiet=quiet)
    if notes.get("warned"):
        note(
            f"warning: {notes['warned']} text(s) look like a language {result.model} does not "
            "read; their labels may be wrong",
            quiet=quiet,
        )
    if notes.get("truncated"):
        info(
            f"note: {notes['truncated']} text(s) were longer than the classifier reads; "
            "only their start was used",
            quiet=quiet,
        )
    if json_out and output is not None:  # with no --output the rows are stdout
        print_json({**result.to_dict(), "output": str(output)})


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)
