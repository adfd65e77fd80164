"""`pretrained eval summarize DATA.jsonl`: ROUGE of our summaries next to LEAD-3;
`pretrained eval ask DATA.jsonl --context DOC`: accuracy, refusals and retrieval hits."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import _options as o
from ._output import info, print_json, progress

app = typer.Typer(
    help="Evaluate a capability on your data, next to a baseline.", no_args_is_help=True
)


@app.command("summarize")
def summarize(
    data: Annotated[
        Path, typer.Argument(help="JSONL with an article and a reference summary per line.")
    ],
    mode: Annotated[
        str, typer.Option("--mode", help="extractive, abstractive or auto.")
    ] = "extractive",
    sentences: Annotated[
        int | None, typer.Option("--sentences", help="Summary length (default 3, like LEAD-3).")
    ] = None,
    words: Annotated[
        int | None, typer.Option("--words", help="Summary length in words instead.")
    ] = None,
    article_field: Annotated[
        str, typer.Option("--article-field", help="Field with the text.")
    ] = "article",
    reference_field: Annotated[
        str, typer.Option("--reference-field", help="Field with the reference summary.")
    ] = "highlights",
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N rows.")] = None,
    model: o.Model = None,
    device: o.Device = None,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Print ROUGE-1/2/L for the chosen mode beside LEAD-3 of the cleaned article the summarizer
    reads (the fair baseline) and LEAD-3 of the raw article."""
    from ..tasks.summarize import SummarizeOptions
    from ..tasks.summary_eval import METRICS, NAMES, evaluate_summaries, read_pairs

    if sentences is None and words is None:
        sentences = 3
    options = SummarizeOptions(mode=mode, sentences=sentences, words=words, model=model).validate()
    backend = None
    if options.mode == "abstractive" or (options.mode == "auto" and model):
        from ._model import load_backend

        backend = load_backend(
            {"model": model, "device": device}, quiet=quiet or json_out, task="summarize"
        )
    total = len(read_pairs(data, article_field, reference_field))
    total = min(total, limit) if limit else total
    with progress(total, "summarizing", quiet=quiet) as advance:
        result = evaluate_summaries(
            data,
            options,
            article_field=article_field,
            reference_field=reference_field,
            limit=limit,
            backend=backend,
            on_progress=advance,
        )
    if json_out:
        print_json(result.to_dict())
        return
    rows = {
        f"{result.mode} ({result.model})": result.ours,
        "LEAD-3 of the cleaned article": result.baseline,
        "LEAD-3 of the raw article": result.baseline_raw,
    }
    width = max(len(name) for name in rows)
    sys.stdout.write(f"{'':<{width}}  " + "  ".join(f"{NAMES[m]:>7}" for m in METRICS) + "\n")
    for name, scores in rows.items():
        sys.stdout.write(
            f"{name:<{width}}  " + "  ".join(f"{scores[m]:7.2f}" for m in METRICS) + "\n"
        )
    info(
        f"{result.n} article(s) from {data} · F1 × 100 (rouge-score, stemmed; ROUGE-L = rougeLsum) · "
        f"{result.timings['total_s']}s",
        quiet=quiet,
    )


@app.command("ask")
def ask(
    data: Annotated[
        Path,
        typer.Argument(
            help='JSONL: {"question": "…", "answer": ["keyword", …] or "unanswerable"} a line.'
        ),
    ],
    context: Annotated[
        list[str] | None,
        typer.Option("--context", "-c", help="A source to answer from; repeatable."),
    ] = None,
    index: Annotated[
        str | None, typer.Option("--index", "-i", help="Search this index instead (or too).")
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", help="Passages to retrieve.")] = 4,
    min_score: Annotated[
        float, typer.Option("--min-score", help="Similarity below which a passage is not relevant.")
    ] = 0.3,
    min_support: Annotated[
        float, typer.Option("--min-support", help="Support below which the source is quoted.")
    ] = 0.75,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N rows.")] = None,
    model: o.Model = None,
    device: o.Device = None,
    engine: o.Engine = "auto",
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Print ask's accuracy, refusal rate and the retrieval's hit rate on your questions."""
    from ..errors import UsageError
    from ..models.load_options import LoadOptions
    from ..tasks.ask import Asker, AskOptions
    from ..tasks.ask_eval import evaluate_ask, read_questions

    if not context and not index:
        raise UsageError(
            "eval ask needs the documents the questions are about",
            hint=f"pretrained eval ask {data} --context DOC (or --index NAME)",
        )
    total = len(read_questions(data))
    total = min(total, limit) if limit else total
    options = AskOptions(k=k, min_score=min_score, min_support=min_support).validate()
    load = LoadOptions(device=device or None, engine=engine or None)
    asker = Asker(context, index=index, options=options, model=model, load_options=load)
    with progress(total, "asking", quiet=quiet) as advance:
        result = evaluate_ask(data, asker, limit=limit, on_progress=advance)
    if json_out:
        print_json(result.to_dict())
        return
    a, u = result.answerable, result.unanswerable

    def pct(x: int, n: int) -> str:
        return f"{100 * x / n:5.1f} %" if n else "    -  "

    sys.stdout.write(f"accuracy        {pct(result.correct, a)}  ({result.correct} of {a})\n")
    sys.stdout.write(
        f"refusal rate    {pct(result.refused_rightly, u)}  "
        f"({result.refused_rightly} of {u} unanswerable refused; "
        f"{result.refused_wrongly} answerable refused)\n"
    )
    sys.stdout.write(
        f"retrieval hits  {pct(result.retrieval_hits, a)}  "
        f"({result.retrieval_hits} of {a}: an accepted keyword in the top {k} passages)\n"
    )
    info(
        f"{result.quoted} answer(s) quoted from the source · {result.model} · retrieval "
        f"{result.embedding_model or '-'} · {result.timings['total_s']}s",
        quiet=quiet,
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="eval")
