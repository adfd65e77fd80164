"""`pretrained ask QUESTION [--context SOURCE ...] [--index NAME]`: answers with citations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import EmptyInputError, InputNotFoundError, InvalidOptionError, UsageError
from . import _options as o
from ._output import info, print_json

BACKENDS = ("local", "openai")


def ask(
    question: Annotated[
        str | None, typer.Argument(help="The question.", show_default=False)
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="Answer every question in this file (one a line; - for stdin) with one load.",
        ),
    ] = None,
    context: Annotated[
        list[str] | None,
        typer.Option(
            "--context",
            "-c",
            help="A source to answer from (file, URL, wiki:Title, -); repeatable.",
        ),
    ] = None,
    index: Annotated[
        str | None,
        typer.Option("--index", "-i", help="Search this index (pretrained embed --index)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="Passages to retrieve.")] = 4,
    min_score: Annotated[
        float, typer.Option("--min-score", help="Similarity below which a passage is not relevant.")
    ] = 0.3,
    min_support: Annotated[
        float,
        typer.Option(
            "--min-support",
            help="Share of an answer's new words its cited passage must hold; below it the "
            "passage is quoted instead (0 accepts any generated answer).",
        ),
    ] = 0.75,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="local (a model on this machine) or openai (any OpenAI-compatible API).",
        ),
    ] = "local",
    api_model: Annotated[
        str | None,
        typer.Option("--api-model", help="Model name for --backend openai (e.g. gpt-4o-mini)."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL)."),
    ] = None,
    model: o.Model = None,
    embedding_model: Annotated[
        str | None,
        typer.Option(
            "--embedding-model", help="Model used for retrieval.", rich_help_panel=o.MODEL_PANEL
        ),
    ] = None,
    reranker: Annotated[
        str | None,
        typer.Option(
            "--reranker",
            help="Rerank model for the candidate sentences (default: the embedding model as "
            "bi-encoder), e.g. ms-marco-minilm-l6.",
            rich_help_panel=o.MODEL_PANEL,
        ),
    ] = None,
    revision: o.Revision = None,
    device: o.Device = None,
    engine: o.Engine = "auto",
    max_new_tokens: o.MaxNewTokens = 200,
    temperature: o.Temperature = 0.0,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Answer a question from your documents with numbered citations (or directly without any).

    Each answer sentence is checked against the passage it cites; an answer the passages do not
    support is replaced by a quote of the passage sentence that best answers the question."""
    from ..models.load_options import LoadOptions
    from ..tasks.ask import Asker, AskOptions

    if backend not in BACKENDS:
        raise InvalidOptionError(
            f"unknown backend '{backend}'", hint="use --backend local or --backend openai"
        )
    questions = _questions(question, file)
    options = AskOptions(
        k=k,
        min_score=min_score,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        min_support=min_support,
    ).validate()
    status = quiet or json_out
    remote = None
    if backend == "openai":
        from ..models.backends.remote import OpenAIChatBackend

        if not api_model:
            raise InvalidOptionError(
                "--backend openai needs --api-model", hint="e.g. --api-model gpt-4o-mini"
            )
        remote = OpenAIChatBackend(api_model, base_url=base_url)
        info(f"model: {api_model} at {remote.base_url} (OpenAI-compatible API)", quiet=status)
    load = LoadOptions(revision=revision or None, device=device or None, engine=engine or None)
    asker = Asker(
        context or [],
        index=index,
        options=options,
        backend=remote,
        model=model,
        embedding_model=embedding_model,
        reranker=reranker,
        load_options=load,
    )
    many = file is not None
    for n, q in enumerate(questions):
        result = asker(q)
        if json_out:
            if many:
                sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
                sys.stdout.flush()
            else:
                print_json(result.to_dict())
            continue
        if many:
            sys.stdout.write(("\n" if n else "") + f"Q: {q}\n")
        _show(result, quiet=quiet, status=status)


def _questions(question: str | None, file: Path | None) -> list[str]:
    if (question is None) == (file is None):
        raise UsageError(
            "give one question or --file, not both" if question else "no question given",
            hint='pretrained ask "What is …?" --context FILE, or --file questions.txt',
        )
    if question is not None:
        return [question]
    if str(file) == "-":
        text = sys.stdin.read()
    else:
        if not file.is_file():
            raise InputNotFoundError(
                f"no such questions file: {file}", hint="one question a line, e.g. questions.txt"
            )
        text = file.read_text(encoding="utf-8", errors="replace")
    questions = [line.strip() for line in text.splitlines() if line.strip()]
    if not questions:
        raise EmptyInputError(f"no questions in {file}", hint="write one question a line")
    return questions


def _show(result, *, quiet: bool, status: bool) -> None:
    sys.stdout.write(result.answer.strip() + "\n")
    if result.citations:
        sys.stdout.write("\nSources:\n")
        for citation in result.citations:
            sys.stdout.write(f"  {citation.label()}\n")
    sys.stdout.flush()
    notes = []
    if result.quoted:
        notes.append(
            f"the answer is quoted from the source: the model's answer {result.quote_reason}"
        )
    else:
        if left_out := sum(c.dropped for c in result.claims):
            notes.append(
                f"{left_out} sentence(s) of the model's answer were left out: not supported "
                "by the passages, or alternatives after the first item of a list (--json lists "
                "them under claims)"
            )
        if result.citations_inferred:
            notes.append("the model cited nothing itself: citations matched by support")
    if result.dropped:
        notes.append(f"{result.dropped} relevant passage(s) did not fit the model's context")
    for note in notes:
        info(f"note: {note}", quiet=quiet)
    who = (
        f"answered by {result.model} ({result.engine})"
        if result.model != "-"
        else "no passage was relevant enough: the model was not asked"
    )
    info(
        f"{who} · retrieval {result.embedding_model or '-'} · {result.timings.get('total_s')}s",
        quiet=status,
    )


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
