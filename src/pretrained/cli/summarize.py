"""`pretrained summarize SOURCE`: a summary of the whole document, extractive or abstractive."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import InvalidOptionError
from . import _options as o
from ._output import info, print_json
from ._text import describe_document, load_document, staged_progress

LENGTH = "Length"
HOW = "Method"


def summarize(
    source: Annotated[
        str | None,
        typer.Argument(
            help="File (.txt .md .html .pdf .docx), URL, wiki:Title, wiki:lang:Title, or - for stdin.",
            show_default=False,
        ),
    ] = None,
    text: Annotated[
        str | None, typer.Option("--text", help="Summarize this text instead of a source.")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="auto (extractive on CPU, abstractive on GPU or with --model), extractive, abstractive.",
            rich_help_panel=HOW,
        ),
    ] = "auto",
    sentences: Annotated[
        int | None,
        typer.Option("--sentences", help="Summary length in sentences.", rich_help_panel=LENGTH),
    ] = None,
    words: Annotated[
        int | None, typer.Option("--words", help="Summary length in words.", rich_help_panel=LENGTH)
    ] = None,
    ratio: Annotated[
        float | None,
        typer.Option(
            "--ratio",
            help="Summary length as a fraction of the text (0.1 = 10 %).",
            rich_help_panel=LENGTH,
        ),
    ] = None,
    focus: Annotated[
        str | None,
        typer.Option(
            "--focus", help="A question or topic the summary should favour.", rich_help_panel=HOW
        ),
    ] = None,
    model: o.Model = None,
    embedding_model: Annotated[
        str | None,
        typer.Option(
            "--embedding-model",
            help="Sentence-embedding model for extractive mode.",
            rich_help_panel=o.MODEL_PANEL,
        ),
    ] = None,
    chunk_tokens: Annotated[
        int | None,
        typer.Option(
            "--chunk-tokens",
            help="Abstractive: most input tokens per model call.",
            rich_help_panel=HOW,
        ),
    ] = None,
    max_depth: Annotated[
        int,
        typer.Option("--max-depth", help="Abstractive: most reduce levels.", rich_help_panel=HOW),
    ] = 3,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", help="Abstractive: chunks per model call.", rich_help_panel=HOW
        ),
    ] = 4,
    revision: o.Revision = None,
    device: o.Device = None,
    dtype: o.Dtype = None,
    engine: o.Engine = "auto",
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds to wait for a URL.")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="text or md (Markdown with title and source).",
            rich_help_panel=o.OUTPUT_PANEL,
        ),
    ] = "text",
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Report chunks, tokens, depth and timings.",
            rich_help_panel=o.OUTPUT_PANEL,
        ),
    ] = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Summarize a whole document, however long (never by silently cutting it)."""
    from ..models.load_options import LoadOptions
    from ..tasks.summarize import SummarizeOptions
    from ..tasks.summarize import summarize as run

    if fmt not in ("text", "md"):
        raise InvalidOptionError(f"unknown format '{fmt}'", hint="use --format text or --format md")
    options = SummarizeOptions(
        mode=mode,
        sentences=sentences,
        words=words,
        ratio=ratio,
        focus=focus,
        model=model,
        embedding_model=embedding_model,
        chunk_tokens=chunk_tokens,
        max_depth=max_depth,
        batch_size=batch_size,
    ).validate()
    if source is not None and text is None:
        from ..tasks.chapters import is_transcript_file

        if is_transcript_file(source):  # a `pretrained transcribe` JSON → summary.md with chapters
            _transcript_summary(
                source, json_out=json_out, quiet=quiet, mode=mode, model=model,
                sentences=sentences, words=words, focus=focus,
                load_options=LoadOptions(device=device or None),
            )  # fmt: skip
            return
    document = load_document(source, text, timeout=timeout)
    status = quiet or json_out
    describe_document(document, status)
    load = LoadOptions(
        revision=revision or None,
        device=device or None,
        dtype=dtype or None,
        engine=engine or None,
        trust_remote_code=trust_remote_code,
        trust_pickle=trust_pickle,
    )
    with staged_progress(quiet) as progress:
        result = run(document, options, on_progress=progress, load_options=load)
    if json_out:
        print_json(result.to_dict())
    elif fmt == "md":
        sys.stdout.write(result.to_markdown())
    else:
        sys.stdout.write(result.to_text())
    sys.stdout.flush()
    info(
        f"{result.label()} · model {result.model}"
        + (f" ({result.engine})" if result.engine else "")
        + f" · {result.input_words:,} → {result.output_words} words · {result.timings['total_s']}s",
        quiet=status,
    )
    for warning in result.warnings:
        info(f"warning: {warning}", quiet=quiet)
    if verbose and not json_out:
        _report(result)


def _report(result) -> None:
    if result.mode == "extractive":
        level = result.levels[0] if result.levels else {}
        info(
            f"verbose: {level.get('sentences')} sentences, {level.get('candidates')} candidates "
            f"embedded, {level.get('segments')} topic segment(s), {len(result.sentences)} picked; "
            f"timings {result.timings}"
        )
        return
    info(f"verbose: input {result.input_tokens} tokens (model tokenizer), depth {result.depth}")
    for level in result.levels:
        tokens = level.get("tokens", [])
        extra = f" → {level['to_tokens']} tokens" if "to_tokens" in level else ""
        info(
            f"verbose:   level {level.get('level')} {level['stage']}: {level['chunks']} chunk(s), "
            f"tokens {tokens[:12]}{' …' if len(tokens) > 12 else ''}{extra}"
        )
    info(f"verbose: timings {result.timings}")


def _transcript_summary(path: str, *, json_out: bool, quiet: bool, **options) -> None:
    """`pretrained summarize talk.json`: writes talk.summary.md beside it and prints it."""
    from ..tasks.chapters import write_transcript_summary

    summary, target = write_transcript_summary(path, **options)
    if json_out:
        print_json({**summary.to_dict(), "written": str(target)})
    else:
        sys.stdout.write(summary.to_markdown())
        sys.stdout.flush()
    info(
        f"wrote {target} · {len(summary.chapters)} chapters · {summary.mode} summary by "
        f"{summary.model}",
        quiet=quiet or json_out,
    )


def register(app: typer.Typer) -> None:
    app.command("summarize")(summarize)
