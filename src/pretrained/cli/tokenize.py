"""`pretrained tokenize`: see how a model's tokenizer cuts text into pieces and ids."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import UsageError
from . import _options as o
from ._output import info, out_console, print_json


def tokenize(
    text: Annotated[
        str | None, typer.Argument(help="Text to tokenize. '-' reads stdin.", show_default=False)
    ] = None,
    model: o.Model = None,
    revision: o.Revision = None,
    decode: Annotated[
        str | None, typer.Option("--decode", help="Decode token ids instead, e.g. --decode 1,2,3.")
    ] = None,
    compare: Annotated[
        list[str] | None,
        typer.Option("--compare", help="Another model to compare with (repeatable)."),
    ] = None,
    no_special: Annotated[
        bool, typer.Option("--no-special", help="Do not add special tokens (BOS/EOS).")
    ] = False,
    trust_remote_code: o.TrustRemoteCode = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Show token pieces, ids, offsets and special tokens; decode ids; compare tokenizers."""
    from ..sources import read_stdin
    from ..tasks import tokenize as task

    if decode is not None:
        if text is not None or compare:
            raise UsageError(
                "--decode takes no text and no --compare",
                hint="pretrained tokenize --decode 1,2,3 --model M",
            )
        result = task.decode(
            task.parse_ids(decode), model, revision=revision, trust_remote_code=trust_remote_code
        )
        if json_out:
            print_json(result.to_dict())
        else:
            info(f"model: {result.model}", quiet=quiet)
            sys.stdout.write(result.text + "\n")
            info("pieces: " + " | ".join(result.pieces), quiet=quiet)
        return
    if text == "-" or (text is None and not sys.stdin.isatty()):
        text = read_stdin().rstrip("\n")
    if text is None:
        raise UsageError(
            "no text given", hint='pretrained tokenize "coconut" --model smollm2-135m-instruct'
        )
    models = [model, *(compare or [])]
    results = [
        task.tokenize(
            text,
            m,
            revision=revision if i == 0 else None,
            add_special_tokens=not no_special,
            trust_remote_code=trust_remote_code,
        )
        for i, m in enumerate(models)
    ]
    if json_out:
        print_json(
            results[0].to_dict()
            if len(results) == 1
            else {"results": [r.to_dict() for r in results]}
        )
        return
    _show(results)


def _table(result):
    from rich.table import Table

    table = Table(
        title=f"{result.model} · {result.count} tokens · vocab {result.vocab_size:,}",
        title_justify="left",
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("id", justify="right")
    table.add_column("piece", style="cyan")
    table.add_column("text")
    table.add_column("chars", style="dim")
    for i, tok in enumerate(result.tokens):
        span = f"{tok.start}–{tok.end}" if tok.start is not None else "special"
        piece = f"[bold magenta]{tok.piece}[/]" if tok.special else _escape(tok.piece)
        table.add_row(str(i), str(tok.id), piece, repr(tok.text)[1:-1], span)
    return table


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _special_line(result) -> str:
    parts = [
        f"{name}={info['token']!r} ({info['id']})" for name, info in result.special_tokens.items()
    ]
    return "special tokens: " + (", ".join(parts) if parts else "none")


def _show(results) -> None:
    from rich.columns import Columns

    console = out_console()
    tables = [_table(r) for r in results]
    console.print(Columns(tables) if len(tables) > 1 else tables[0])
    for r in results:
        console.print(f"{r.model}: {r.count} tokens · ids {r.ids}", markup=False)
        console.print("  " + _special_line(r), markup=False)


def register(app: typer.Typer) -> None:
    app.command("tokenize")(tokenize)
