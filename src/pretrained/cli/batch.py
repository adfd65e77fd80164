"""`pretrained batch TASK INPUT --output OUT`: a task over every row of a dataset, resumable,
on this machine or on a Ray cluster. The job logic is in `pretrained.jobs.batch`."""

from __future__ import annotations

import sys
import time
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
JobEngine = Annotated[
    str,
    typer.Option(
        "--engine", help="local (this process) or ray (Ray Data actors).", rich_help_panel=JOB_PANEL
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
InferenceEngine = Annotated[
    str,
    typer.Option(
        "--inference-engine",
        help="Text-generation engine: auto or transformers.",
        rich_help_panel=o.MODEL_PANEL,
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


class _ProgressView:
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
    inference_engine: str = "auto",
    quantize: str | None = None,
    json_out: bool,
    quiet: bool,
    **job: Any,
) -> None:
    from ..jobs.batch import BatchOptions, run_batch

    options = BatchOptions(**job).validate()
    view = _ProgressView(quiet=quiet)
    load = {
        "device": device,
        "dtype": dtype,
        "quantize": quantize,
        "trust_remote_code": trust_remote_code or None,
        "trust_pickle": trust_pickle or None,
    }
    if task == "generate":
        load["engine"] = inference_engine
    try:
        result = run_batch(
            task,
            input,
            output,
            task_options,
            model=model,
            revision=revision,
            options=options,
            on_progress=view,
            on_status=view.status,
            **load,
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


@app.command("generate")
def generate(
    input: Input,
    output: Output,
    column: Column = None,
    id_column: IdColumn = None,
    split: Split = None,
    input_format: InputFormat = "auto",
    model: o.Model = None,
    revision: o.Revision = None,
    device: o.Device = None,
    dtype: o.Dtype = None,
    inference_engine: InferenceEngine = "auto",
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
    max_new_tokens: o.MaxNewTokens = o.DEFAULTS.max_new_tokens,
    temperature: o.Temperature = o.DEFAULTS.temperature,
    top_k: o.TopK = o.DEFAULTS.top_k,
    top_p: o.TopP = o.DEFAULTS.top_p,
    repetition_penalty: o.RepetitionPenalty = o.DEFAULTS.repetition_penalty,
    seed: o.Seed = None,
    stop: o.Stop = None,
    system: o.System = None,
    batch_size: BatchSize = 8,
    chunk_size: ChunkSize = 256,
    engine: JobEngine = "local",
    num_workers: NumWorkers = 2,
    gpus_per_worker: GpusPerWorker = 0.0,
    cpus_per_worker: CpusPerWorker = 1.0,
    address: Address = None,
    restart: Restart = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
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
    _run(
        "generate",
        input,
        output,
        {k: v for k, v in knobs.__dict__.items() if k != "batch_size"},
        model=model,
        revision=revision,
        device=device,
        dtype=dtype,
        inference_engine=inference_engine,
        trust_remote_code=trust_remote_code,
        trust_pickle=trust_pickle,
        json_out=json_out,
        quiet=quiet,
        column=column,
        id_column=id_column,
        split=split,
        input_format=input_format,
        batch_size=batch_size,
        chunk_size=chunk_size,
        engine=engine,
        num_workers=num_workers,
        gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker,
        address=address,
        restart=restart,
    )


@app.command("embed")
def embed(
    input: Input,
    output: Output,
    column: Column = None,
    id_column: IdColumn = None,
    split: Split = None,
    input_format: InputFormat = "auto",
    model: o.Model = None,
    revision: o.Revision = None,
    device: o.Device = None,
    dtype: o.Dtype = None,
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
    normalize: Annotated[
        bool, typer.Option("--normalize/--no-normalize", help="Unit-length vectors.")
    ] = True,
    batch_size: BatchSize = 64,
    chunk_size: ChunkSize = 1000,
    engine: JobEngine = "local",
    num_workers: NumWorkers = 2,
    gpus_per_worker: GpusPerWorker = 0.0,
    cpus_per_worker: CpusPerWorker = 1.0,
    address: Address = None,
    restart: Restart = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Embed every row (one vector per row, as a list<float32> column)."""
    _run(
        "embed",
        input,
        output,
        {"normalize": normalize},
        model=model,
        revision=revision,
        device=device,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        trust_pickle=trust_pickle,
        json_out=json_out,
        quiet=quiet,
        column=column,
        id_column=id_column,
        split=split,
        input_format=input_format,
        batch_size=batch_size,
        chunk_size=chunk_size,
        engine=engine,
        num_workers=num_workers,
        gpus_per_worker=gpus_per_worker,
        cpus_per_worker=cpus_per_worker,
        address=address,
        restart=restart,
    )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="batch")
