"""`pretrained rerank QUERY --file passages.txt`: passages ordered by how well they answer."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from . import _options as o
from ._output import info, print_json


def rerank(
    query: Annotated[str, typer.Argument(help="The query to rank against.", show_default=False)],
    file: Annotated[
        str,
        typer.Option(
            "--file",
            "-f",
            help="Passages: one per line, or blocks separated by a blank line (- for stdin).",
        ),
    ],
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="auto (blocks when the file has blank lines, else lines), line or block.",
        ),
    ] = "auto",
    top_n: Annotated[
        int | None, typer.Option("--top-n", "-n", help="Show only the best N.", show_default=False)
    ] = None,
    model: o.Model = None,
    revision: o.Revision = None,
    device: o.Device = None,
    trust_pickle: o.TrustPickle = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Order passages by relevance to a query (cross-encoder when cached, else bi-encoder)."""
    from ..models.load_options import LoadOptions
    from ..models.loading import check_device
    from ..sources import load_text
    from ..tasks.rerank import RerankOptions, check_inputs, choose_model, split_passages
    from ..tasks.rerank import rerank as run

    options = RerankOptions(top_n=top_n).validate()
    if split not in ("auto", "line", "block"):  # before reading the file
        split_passages("", split)
    document = load_text(file)
    passages, used = split_passages(document.text, split)
    check_inputs(query, passages, options)
    load = LoadOptions(
        revision=revision or None,
        device=check_device(device) if device else None,
        trust_pickle=trust_pickle,
    )
    result = run(query, passages, options, model=choose_model(model), load_options=load)
    if json_out:
        print_json({**result.to_dict(), "split": used})
        return
    width = len(str(len(passages)))
    for rank, item in enumerate(result.results, 1):
        text = " ".join(item.text.split())
        text = text if len(text) <= 160 else text[:157] + "…"
        sys.stdout.write(f"{rank}. {item.score:.3f}  [{item.index:>{width}}] {text}\n")
    note = ""
    if result.kind == "bi-encoder" and not model:
        note = " · a cross-encoder ranks better: --model ms-marco-minilm-l6 (downloads once)"
    info(
        f"ranked {len(passages)} passage(s), split by {used}, with {result.model} "
        f"({result.kind}, engine {result.engine}){note}",
        quiet=quiet,
    )
    if result.truncated:
        info(
            f"{len(result.truncated)} passage(s) longer than the model reads "
            f"({result.max_tokens} tokens) were ranked on their beginning",
            quiet=quiet,
        )


def register(app: typer.Typer) -> None:
    app.command("rerank")(rerank)
