"""`pretrained batch TASK INPUT --output OUT`: a task over every row of a dataset, resumable,
on this machine or on a Ray cluster. The job logic is in `pretrained.jobs.batch`."""

from __future__ import annotations

import inspect
import sys
import time
import typing
from typing import Annotated, Any

import typer

from . import _options as o
from ._output import info, print_json

app = typer.Typer(
    help="Run a task over every row of a file, dataset, folder or S3 prefix — resumable after "
    "a crash, on this machine or a Ray cluster.",
    no_args_is_help=True,
)

JOB_PANEL = "Job"
INPUT_PANEL = "Input"

Input = Annotated[
    str,
    typer.Argument(
        help="JSONL, CSV or Parquet file; a local Hugging Face dataset folder; a folder of "
        "files; or s3://bucket/prefix.",
        show_default=False,
    ),
]
Output = Annotated[
    str,
    typer.Option(
        "--output", "-o", help="Where to write the results: .parquet or .jsonl.", show_default=False
    ),
]
Column = Annotated[
    str | None,
    typer.Option(
        "--column",
        "--field",
        "-c",
        help="The input column / JSON field (a.b for nested). Default: 'text' or the only column.",
        rich_help_panel=INPUT_PANEL,
    ),
]
IdColumn = Annotated[
    str | None,
    typer.Option(
        "--id-column",
        help="Copy this column as the row id (default: the row number; file path for folders).",
        rich_help_panel=INPUT_PANEL,
    ),
]
Split = Annotated[
    str | None,
    typer.Option("--split", help="Dataset split (default: train).", rich_help_panel=INPUT_PANEL),
]
InputFormat = Annotated[
    str,
    typer.Option(
        "--input-format",
        help="auto, jsonl, csv, parquet, dataset, folder, s3.",
        rich_help_panel=INPUT_PANEL,
    ),
]
BatchSize = Annotated[
    int, typer.Option("--batch-size", help="Inputs per model call.", rich_help_panel=JOB_PANEL)
]
ChunkSize = Annotated[
    int,
    typer.Option(
        "--chunk-size",
        help="Rows per committed chunk: the unit of resume.",
        rich_help_panel=JOB_PANEL,
    ),
]
Executor = Annotated[
    str,
    typer.Option(
        "--executor",
        help="Where the job runs: local (this process) or ray (Ray Data actors).",
        rich_help_panel=JOB_PANEL,
    ),
]
NumWorkers = Annotated[
    int,
    typer.Option(
        "--num-workers", help="Ray: actors, each holding the model.", rich_help_panel=JOB_PANEL
    ),
]
GpusPerWorker = Annotated[
    float,
    typer.Option("--gpus-per-worker", help="Ray: GPUs per actor.", rich_help_panel=JOB_PANEL),
]
CpusPerWorker = Annotated[
    float,
    typer.Option("--cpus-per-worker", help="Ray: CPUs per actor.", rich_help_panel=JOB_PANEL),
]
Address = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="Ray: join this cluster (ray://head:10001); default: start a local instance.",
        rich_help_panel=JOB_PANEL,
    ),
]
Restart = Annotated[
    bool,
    typer.Option(
        "--restart",
        help="Discard this output's committed chunks and start over.",
        rich_help_panel=JOB_PANEL,
    ),
]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
    )


class ProgressView:
    """A progress bar with rows/s and ETA on a terminal; status lines every few seconds
    otherwise (logs, CI, pipes)."""

    def __init__(self, quiet: bool, every: float = 2.0) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.every = every
        self.last = 0.0
        self.bar = None
        self.task_id = None

    def status(self, message: str) -> None:
        if self.bar is None:
            info(message, quiet=self.quiet)

    def __call__(self, p) -> None:
        if self.quiet:
            return
        if self.tty:
            self._bar(p)
            return
        now = time.monotonic()
        if p.done >= p.total or now - self.last >= self.every or p.processed == 0:
            self.last = now
            pct = 100.0 * p.done / p.total if p.total else 100.0
            rate = f"{p.rate:,.1f} rows/s" if p.rate else "- rows/s"
            sys.stderr.write(
                f"progress: {p.done:,}/{p.total:,} rows ({pct:.1f}%) · {rate} · "
                f"ETA {_duration(p.eta) if p.done < p.total else '0s'}\n"
            )
            sys.stderr.flush()

    def _bar(self, p) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from ._output import err_console

        if self.bar is None:
            self.bar = Progress(
                TextColumn("batch"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} · ETA {task.fields[eta]}"),
                console=err_console(),
                transient=True,
            )
            self.bar.start()
            self.task_id = self.bar.add_task("batch", total=p.total, rate="-", eta="?")
        rate = f"{p.rate:,.1f} rows/s" if p.rate else "- rows/s"
        self.bar.update(self.task_id, completed=p.done, rate=rate, eta=_duration(p.eta))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _run(
    task: str,
    input: str,
    output: str,
    task_options: dict[str, Any],
    *,
    model: str | None,
    revision: str | None,
    device: str | None,
    dtype: str | None,
    trust_remote_code: bool,
    trust_pickle: bool,
    quantize: str | None = None,
    engine: str | None = None,
    json_out: bool,
    quiet: bool,
    **job: Any,
) -> None:
    from ..jobs.batch import BatchOptions, run_batch
    from ..models.load_options import LoadOptions

    options = BatchOptions(**job).validate()
    view = ProgressView(quiet=quiet)
    load = LoadOptions(
        revision=revision,
        device=device,
        dtype=dtype,
        quantize=quantize,
        engine=engine,  # the inference engine (batch generate's --engine)
        trust_remote_code=trust_remote_code,
        trust_pickle=trust_pickle,
    )
    try:
        result = run_batch(
            task,
            input,
            output,
            task_options,
            model=model,
            options=options,
            on_progress=view,
            on_status=view.status,
            load_options=load,
        )
    finally:
        view.close()
    if json_out:
        print_json(result.to_dict())
        return
    if result.status == "already-complete":
        info(
            f"{result.output} is already complete ({result.rows:,} rows); nothing to do",
            quiet=quiet,
        )
    else:
        speed = f" · {result.rows_per_s:,.1f} rows/s" if result.rows_per_s else ""
        resumed = f" ({result.resumed:,} resumed)" if result.resumed else ""
        errors = f" · {result.errors:,} rows with errors" if result.errors else ""
        info(
            f"wrote {result.output}: {result.rows:,} rows{resumed} · model {result.model} · "
            f"{result.seconds:.1f}s{speed}{errors}",
            quiet=quiet,
        )
    sys.stdout.write(result.output + "\n")


# Options every batch command takes, declared once: `_command` appends them to each task
# command's own signature, so `--help` shows them and Typer parses them.
_COMMON: list[tuple[str, Any, Any]] = [
    ("column", Column, None),
    ("id_column", IdColumn, None),
    ("split", Split, None),
    ("input_format", InputFormat, "auto"),
    ("model", o.Model, None),
    ("revision", o.Revision, None),
    ("device", o.Device, None),
    ("dtype", o.Dtype, None),
    ("trust_remote_code", o.TrustRemoteCode, False),
    ("trust_pickle", o.TrustPickle, False),
    ("executor", Executor, "local"),
    ("num_workers", NumWorkers, 2),
    ("gpus_per_worker", GpusPerWorker, 0.0),
    ("cpus_per_worker", CpusPerWorker, 1.0),
    ("address", Address, None),
    ("restart", Restart, False),
    ("json_out", o.Json, False),
    ("quiet", o.Quiet, False),
]


def _command(task: str, batch_size: int, chunk_size: int, load: tuple = ()):
    """Register fn(**its own options) -> task options dict as `pretrained batch TASK`.
    `load`: (name, annotation, default) of extra load options the command takes (they go to
    run_batch as load options, not to the task)."""

    def decorate(fn):
        hints = typing.get_type_hints(fn, include_extras=True)  # strings → Annotated types
        own = [
            p.replace(annotation=hints[p.name]) for p in inspect.signature(fn).parameters.values()
        ]
        keyword = inspect.Parameter.KEYWORD_ONLY
        params = [
            inspect.Parameter("input", keyword, annotation=Input),
            inspect.Parameter("output", keyword, annotation=Output),
            *[p.replace(kind=keyword) for p in own],
            inspect.Parameter("batch_size", keyword, annotation=BatchSize, default=batch_size),
            inspect.Parameter("chunk_size", keyword, annotation=ChunkSize, default=chunk_size),
            *[inspect.Parameter(n, keyword, annotation=a, default=d) for n, a, d in load],
            *[inspect.Parameter(n, keyword, annotation=a, default=d) for n, a, d in _COMMON],
        ]
        names = {p.name for p in own}

        def command(**values: Any) -> None:
            task_options = fn(**{k: values.pop(k) for k in list(values) if k in names})
            _run(task, values.pop("input"), values.pop("output"), task_options, **values)

        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__doc__ = fn.__doc__
        command.__name__ = fn.__name__
        app.command(task)(command)
        return fn

    return decorate


@_command("generate", batch_size=8, chunk_size=256, load=(("engine", o.Engine, "auto"),))
def generate(
    max_new_tokens: o.MaxNewTokens = o.DEFAULTS.max_new_tokens,
    temperature: o.Temperature = o.DEFAULTS.temperature,
    top_k: o.TopK = o.DEFAULTS.top_k,
    top_p: o.TopP = o.DEFAULTS.top_p,
    repetition_penalty: o.RepetitionPenalty = o.DEFAULTS.repetition_penalty,
    seed: o.Seed = None,
    stop: o.Stop = None,
    system: o.System = None,
) -> dict[str, Any]:
    """Generate a completion for every row (chat template applied for chat models).
    Sampling draws a fixed seed per batch, so a resumed job is reproducible."""
    knobs = o.generate_options(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=repetition_penalty,
        seed=seed,
        stop=stop,
        system=system,
    )
    return {k: v for k, v in knobs.__dict__.items() if k != "batch_size"}


@_command("embed", batch_size=64, chunk_size=1000)
def embed(
    normalize: Annotated[
        bool, typer.Option("--normalize/--no-normalize", help="Unit-length vectors.")
    ] = True,
) -> dict[str, Any]:
    """Embed every row (one vector per row, as a list<float32> column)."""
    return {"normalize": normalize}


@_command("classify", batch_size=64, chunk_size=1000)
def classify(
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels", "-l", help="Zero-shot labels, comma-separated (default: sentiment)."
        ),
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="auto, embedding, nli or classifier.")
    ] = "auto",
    template: Annotated[
        str | None, typer.Option("--template", help="Label description template with {}.")
    ] = None,
    multi_label: Annotated[
        bool, typer.Option("--multi-label", help="NLI: score each label on its own.")
    ] = False,
) -> dict[str, Any]:
    """Label every row: label, score and all scores (sentiment by default; --labels for
    zero-shot labels; any sequence-classification or NLI model with --model)."""
    return {"labels": labels, "method": method, "template": template, "multi_label": multi_label}


@_command("summarize", batch_size=1, chunk_size=50)
def summarize(
    mode: Annotated[str, typer.Option("--mode", help="auto, extractive or abstractive.")] = "auto",
    sentences: Annotated[int | None, typer.Option("--sentences", help="Summary sentences.")] = None,
    words: Annotated[int | None, typer.Option("--words", help="About this many words.")] = None,
    ratio: Annotated[float | None, typer.Option("--ratio", help="Fraction of the input.")] = None,
    focus: Annotated[str | None, typer.Option("--focus", help="What matters most.")] = None,
) -> dict[str, Any]:
    """Summarize every row (one document per row: a text column, a file, an S3 object)."""
    return {"mode": mode, "sentences": sentences, "words": words, "ratio": ratio, "focus": focus}


@_command("transcribe", batch_size=1, chunk_size=10)
def transcribe(
    language: Annotated[
        str | None, typer.Option("--language", help="Spoken language (default: detect).")
    ] = None,
    beam_size: Annotated[int, typer.Option("--beam-size", help="Beam search width.")] = 5,
    vad: Annotated[bool, typer.Option("--vad/--no-vad", help="Skip silence.")] = True,
) -> dict[str, Any]:
    """Transcribe every audio/video file of a folder or S3 prefix (or paths in a column)."""
    return {"language": language, "beam_size": beam_size, "vad": vad}


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="batch")
