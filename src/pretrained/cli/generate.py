"""`pretrained generate`: text generation from an argument, stdin or a prompt file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import EmptyInputError, UsageError
from . import _options as o
from . import _structured as c
from ._model import describe_knobs, load_backend
from ._output import info, print_json, progress, stdout_is_tty


def _prompts(prompt: str | None, file: Path | None) -> tuple[list[str], bool]:
    """→ (prompts, whether they came from a list)."""
    from ..sources import read_prompt_file, read_stdin

    if prompt is not None and file is not None:
        raise UsageError(
            "give a prompt or --file, not both", hint="pretrained generate --file prompts.txt"
        )
    if file is not None:
        return read_prompt_file(file), True
    if prompt == "-" or (prompt is None and not sys.stdin.isatty()):
        return [read_stdin().rstrip("\n")], False
    if prompt is None:
        raise UsageError(
            "no prompt given",
            hint='pretrained generate "Once upon a time" (or pipe text in, or --file)',
        )
    if not prompt.strip():
        raise EmptyInputError("the prompt is empty")
    return [prompt], False


def generate(
    prompt: Annotated[
        str | None, typer.Argument(help="The prompt. '-' reads stdin.", show_default=False)
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Prompts: one per line, or JSONL with a 'prompt' field."),
    ] = None,
    model: o.Model = None,
    revision: o.Revision = None,
    device: o.Device = None,
    dtype: o.Dtype = None,
    quantize: o.Quantize = None,
    engine: o.Engine = "auto",
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
    max_new_tokens: o.MaxNewTokens = o.DEFAULTS.max_new_tokens,
    temperature: o.Temperature = o.DEFAULTS.temperature,
    top_k: o.TopK = o.DEFAULTS.top_k,
    top_p: o.TopP = o.DEFAULTS.top_p,
    repetition_penalty: o.RepetitionPenalty = o.DEFAULTS.repetition_penalty,
    num_return_sequences: o.NumReturn = 1,
    seed: o.Seed = None,
    stop: o.Stop = None,
    system: o.System = None,
    raw: o.Raw = False,
    batch_size: o.BatchSize = o.DEFAULTS.batch_size,
    stream: Annotated[
        bool | None,
        typer.Option(
            "--stream/--no-stream",
            help="Print tokens as they come (default on a terminal).",
            rich_help_panel=o.OUTPUT_PANEL,
        ),
    ] = None,
    json_schema: c.JsonSchema = None,
    json_object: c.JsonObject = False,
    regex: c.Regex = None,
    choice: c.Choice = None,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Generate text with a language model (chat template applied automatically for chat models)."""
    from ..tasks import generate as task

    params = dict(locals())
    options = o.generate_options(**params)
    prompts, many = _prompts(prompt, file)
    backend = load_backend(o.load_params(params), quiet=quiet or json_out)
    options = task.resolve_seed(options)
    info(describe_knobs(options.describe()), quiet=quiet or json_out)

    streaming = stream if stream is not None else (stdout_is_tty() and not json_out)
    if streaming and not many and num_return_sequences == 1 and not json_out:
        result = _stream(task, prompts[0], options, backend)
    else:
        with progress(len(prompts), "generating", quiet=quiet) as advance:
            results = task.generate_many(
                prompts, options=options, backend=backend, on_progress=advance
            )
        for result in results:
            if json_out:
                print_json(result.to_dict(), compact=many)
            else:
                _print_text(result, many)
    if not json_out and not many:
        _footer(result, quiet)


def _stream(task, prompt: str, options, backend):
    handle = task.stream(prompt, options=options, backend=backend)
    try:
        for piece in handle:
            sys.stdout.write(piece)
            sys.stdout.flush()
    except KeyboardInterrupt:
        handle.close()
        sys.stdout.write("\n")
        raise
    sys.stdout.write("\n")
    sys.stdout.flush()
    return handle.result


def _print_text(result, many: bool) -> None:
    for i, text in enumerate(result.texts):
        if many or len(result.texts) > 1:
            label = f"[{i + 1}] " if len(result.texts) > 1 else ""
            sys.stdout.write(f"{label}{text.strip()}\n" + ("\n" if len(result.texts) > 1 else ""))
        else:
            sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _footer(result, quiet: bool) -> None:
    if result is None:
        return
    t = result.timings
    reasons = ", ".join(sorted({c.finish_reason for c in result.completions}))
    speed = f" · {t['tokens_per_s']} tok/s" if t.get("tokens_per_s") else ""
    first = f" · first token {t['first_token_s']}s" if t.get("first_token_s") is not None else ""
    info(
        f"{result.prompt_tokens} prompt + {result.completion_tokens} new tokens · {t['total_s']}s{speed}{first} · stopped: {reasons}",
        quiet=quiet,
    )


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
