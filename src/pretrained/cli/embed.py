"""`pretrained embed SOURCE... [--index NAME]` and `pretrained similar QUERY --index NAME`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import InvalidOptionError, UsageError
from . import _options as o
from ._output import info, print_json, progress


def embed(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Files, URLs, wiki:Title or - (stdin).", show_default=False),
    ] = None,
    text: Annotated[
        list[str] | None, typer.Option("--text", help="Embed this text (repeatable).")
    ] = None,
    index: Annotated[
        str | None,
        typer.Option(
            "--index",
            "-i",
            help="Store chunk embeddings in this local index (under PRETRAINED_HOME).",
        ),
    ] = None,
    chunk_tokens: Annotated[
        int | None,
        typer.Option(
            "--chunk-tokens", help="Tokens per chunk (default 200, at most the model's limit)."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Texts per forward pass.")] = 32,
    model: o.Model = None,
    revision: o.Revision = None,
    device: o.Device = None,
    engine_name: o.EmbeddingEngine = "auto",
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Embed sources (chunked to fit the model) into an index, or print the vectors."""
    from ..models.backends.fast_embeddings import check_engine
    from ..models.load_options import LoadOptions
    from ..models.loading import check_device
    from ..sources import from_text, load_text
    from ..tasks.embed import EmbedOptions, get_embedder
    from ..tasks.index import index_path

    sources = sources or []
    if not sources and not text:
        raise UsageError(
            "nothing to embed", hint='pretrained embed notes.md --index notes (or --text "…")'
        )
    # every input and option is checked before the model loads
    if index is not None:
        index_path(index)
    EmbedOptions(batch_size=batch_size).validate()
    if chunk_tokens is not None and chunk_tokens < 8:
        raise InvalidOptionError(
            f"--chunk-tokens must be at least 8 (got {chunk_tokens})",
            hint="e.g. --chunk-tokens 200",
        )
    load = LoadOptions(
        revision=revision or None,
        device=check_device(device) if device else None,
        engine=check_engine(engine_name) or None,
    )
    documents = [load_text(s) for s in sources] + [
        from_text(t, source=f"--text {i + 1}") for i, t in enumerate(text or [])
    ]
    engine = get_embedder(None, model, load)
    info(
        f"embedding model: {engine.model_id} ({engine.dims} dims, reads {engine.max_tokens} "
        f"tokens, engine {engine.engine})",
        quiet=quiet or json_out,
    )
    if index:
        from ..tasks.index import add_to_index

        with progress(len(documents), "embedding", quiet=quiet) as advance:
            report = add_to_index(
                documents,
                index,
                embedder=engine,
                batch_size=batch_size,
                max_tokens=chunk_tokens,
                on_progress=advance,
            )
        if json_out:
            print_json(report.to_dict())
            return
        sys.stdout.write(
            f"index '{index}': {len(report.added)} added, {len(report.updated)} updated, "
            f"{len(report.skipped)} unchanged (skipped) · {report.chunks} chunk(s) embedded · "
            f"{report.total_documents} document(s), {report.total_chunks} chunk(s) in total\n"
        )
        info(f"stored in {index_path(index)}", quiet=quiet)
        return

    from ..tasks.embed import embed_chunks

    items = []
    for document in documents:
        chunks, vectors = embed_chunks(document.text, engine, chunk_tokens, batch_size)
        for chunk, vector in zip(chunks, vectors, strict=True):
            items.append((document, chunk, vector))
    if json_out:
        print_json(
            {
                "model": engine.model_id,
                "dims": engine.dims,
                "items": [
                    {
                        "source": d.location,
                        "start": c.start,
                        "end": c.end,
                        "tokens": c.tokens,
                        "vector": [round(float(x), 6) for x in v],
                    }
                    for d, c, v in items
                ],
            }
        )
        return
    for document, chunk, vector in items:
        head = " ".join(f"{x:+.3f}" for x in vector[:4])
        sys.stdout.write(
            f"{document.location}\tchars {chunk.start}-{chunk.end}\t{chunk.tokens} tokens\t[{head} …]\n"
        )
    info(
        f"{len(items)} vector(s) of {engine.dims} dims (--json for the numbers, --index to store them)",
        quiet=quiet,
    )


def similar(
    query: Annotated[str, typer.Argument(help="What to look for.", show_default=False)],
    index: Annotated[
        str, typer.Option("--index", "-i", help="The index built with pretrained embed.")
    ],
    k: Annotated[int, typer.Option("-k", "--top", help="How many chunks to return.")] = 5,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Search an index: the chunks most similar in meaning to the query, with their sources."""
    from ..tasks.index import search_index

    result = search_index(query, index, k)
    if json_out:
        print_json(result.to_dict())
        return
    for rank, hit in enumerate(result.hits, 1):
        snippet = " ".join(hit.text.split())
        snippet = snippet if len(snippet) <= 160 else snippet[:157] + "…"
        sys.stdout.write(
            f"{rank}. {hit.score:.3f}  {hit.location or hit.source}:{hit.line}  {snippet}\n"
        )
    if not result.hits:
        info("the index is empty", quiet=quiet)
    info(f"index '{index}' · model {result.model} · {result.timings['total_s']}s", quiet=quiet)


def register(app: typer.Typer) -> None:
    app.command("embed")(embed)
    app.command("similar")(similar)
