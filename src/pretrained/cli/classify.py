"""`pretrained classify TEXT | --file F`: sentiment or zero-shot labels, for one text or a file."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import EmptyInputError, InputNotFoundError, InvalidOptionError, UsageError
from . import _options as o
from ._output import info, note, print_json, progress

BLOCK = 512  # rows read, classified and written at a time (bounded memory on big files)


def _rows(path: Path, column: str | None, field: str | None) -> tuple[Iterator[dict], str, int]:
    """→ (rows with the text under key, the text key, row count) for .txt/.csv/.tsv/.jsonl."""
    if not path.exists():
        raise InputNotFoundError(f"file not found: {path}", hint="check the path")
    suffix = path.suffix.lower()
    with path.open("rb") as fh:
        total = sum(1 for line in fh if line.strip())
    if suffix in (".csv", ".tsv"):
        delimiter = "\t" if suffix == ".tsv" else ","
        with path.open(newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh, delimiter=delimiter), [])
        key = column or ("text" if "text" in header else None)
        if key is None or key not in header:
            raise InvalidOptionError(
                f"{path.name} has no column '{column or 'text'}' (columns: {', '.join(header)})",
                hint="name the text column: --column review",
            )

        def read_csv() -> Iterator[dict]:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                yield from csv.DictReader(fh, delimiter=delimiter)

        return read_csv(), key, max(0, total - 1)
    if suffix in (".jsonl", ".ndjson"):
        key = field or "text"

        def read_jsonl() -> Iterator[dict]:
            from ..sources.rows import jsonl_rows, text_field

            with path.open(encoding="utf-8") as fh:
                for number, row in jsonl_rows(fh, path.name):
                    text_field(row, key, path.name, number, "name the field: --field review")
                    yield row

        return read_jsonl(), key, total

    from ..sources import read_text_file

    lines = [line for line in read_text_file(path).splitlines() if line.strip()]
    return iter({"text": line} for line in lines), "text", len(lines)


def _blocks(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    block: list[dict] = []
    for row in rows:
        block.append(row)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


class _Writer:
    def __init__(self, output: Path | None, fmt: str) -> None:
        self.fmt = fmt
        self.handle = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
        self.csv: Any = None

    def write(self, row: dict, labels: list[str]) -> None:
        if self.fmt == "jsonl":
            self.handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        flat = {k: v for k, v in row.items() if k != "scores"}
        flat.update({f"score_{label}": row["scores"][label] for label in labels})
        if self.csv is None:
            self.csv = csv.DictWriter(self.handle, fieldnames=list(flat))
            self.csv.writeheader()
        self.csv.writerow(flat)

    def close(self) -> None:
        if self.handle is not sys.stdout:
            self.handle.close()
        else:
            sys.stdout.flush()


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

    fmt = out_format or (
        "csv" if output is not None and output.suffix.lower() in (".csv", ".tsv") else "jsonl"
    )
    if fmt not in ("jsonl", "csv"):
        raise InvalidOptionError(
            f"unknown format '{fmt}'", hint="use --format jsonl or --format csv"
        )
    rows, key, total = _rows(file, column, field)
    writer = _Writer(output, fmt)
    described = False
    count = 0
    truncated = 0
    warned = 0
    try:
        with progress(total, "classifying", quiet=quiet) as advance:
            for block in _blocks(rows, BLOCK):
                texts = [str(row.get(key) or "") for row in block]
                result = run(texts, labels, model, options, on_progress=advance, load_options=load)
                if not described:
                    info(result.describe(), quiet=quiet)
                    described = True
                truncated += result.truncated
                warned += sum(1 for item in result.items if item.warnings)
                for row, item in zip(block, result.items, strict=True):
                    out = dict(row)
                    out.update(label=item.label, score=round(item.score, 4))
                    out["scores"] = {k: round(v, 4) for k, v in item.scores.items()}
                    writer.write(out, result.labels)
                count += len(block)
    finally:
        writer.close()
    if count == 0:
        raise EmptyInputError(f"{file} has no rows to classify", hint="add some text rows")
    where = f" → {output}" if output else ""
    info(f"{count} row(s) classified by {result.method} ({result.model}){where}", quiet=quiet)
    if warned:
        note(
            f"warning: {warned} text(s) look like a language {result.model} does not read; "
            "their labels may be wrong",
            quiet=quiet,
        )
    if truncated:
        info(
            f"note: {truncated} text(s) were longer than the classifier reads; only their start was used",
            quiet=quiet,
        )


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)
