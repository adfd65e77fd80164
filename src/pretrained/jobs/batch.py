"""Batch jobs: run a task over every row of a dataset, resumably, on one machine or on Ray.

    run_batch("classify", "reviews.parquet", "labels.parquet", options=BatchOptions(column="text"),
              load_options=LoadOptions(device="cpu"))

The input is cut into chunks of `chunk_size` rows (chunk k = rows [k·N, (k+1)·N)). Each chunk
is read, run through the model in batches of `batch_size`, and committed as one file (see
manifest.py for the commit protocol). A rerun of the same command skips committed chunks, so
after a crash — even kill -9 — the output ends up with every input row exactly once. Changing
anything that changes results (task options, model or its revision, input, column, chunk size)
makes the rerun stop with a clear error unless `restart=True`. Changing only how the work is
done (batch size, executor, workers) keeps the job resumable: start it locally, finish it on Ray.

Both executors share `process_chunk`, so a chunk gives the same rows whichever executor ran it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .. import runlog
from ..errors import InvalidOptionError, JobError
from ..models.load_options import LoadOptions
from ..models.registry import ModelFormat, ModelSource
from ..options import option, validate
from .batch_tasks import BatchTask, ModelSpec, get_task, schema
from .chunks import process_chunk
from .manifest import BatchStore, fault

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class BatchOptions:
    column: str | None = None  # the text column / JSON field (dotted path for nested JSON)
    id_column: str | None = None  # copy this column as the row id (default: the row number)
    split: str | None = None  # dataset split
    input_format: str = "auto"
    batch_size: int = option(32, "Inputs per model call.", ge=1, example=32)
    chunk_size: int = option(
        1000, "Rows per committed chunk (the unit of resume).", ge=1, example=1000
    )
    executor: str = option("local", "Where the job runs.", choices=EXECUTORS, example="ray")
    num_workers: int = option(2, "Ray: actors holding the model.", ge=1, example=2)
    gpus_per_worker: float = option(0.0, "Ray: GPUs per actor.", ge=0, example=1)
    cpus_per_worker: float = option(1.0, "Ray: CPUs per actor.", gt=0, example=1)
    address: str | None = None  # ray: join this cluster (ray://host:10001 or host:6379)
    restart: bool = False

    def validate(self) -> BatchOptions:
        validate(self)
        if self.executor == "local" and (self.address or self.gpus_per_worker):
            flag = "--address" if self.address else "--gpus-per-worker"
            raise InvalidOptionError(
                f"{flag} only applies to --executor ray", hint=f"add --executor ray, or drop {flag}"
            )
        return self


@dataclass
class BatchResult:
    task: str
    input: str
    output: str
    status: Literal["complete", "already-complete"]
    rows: int  # rows in the output
    processed: int  # rows processed by this run
    resumed: int  # rows already committed when this run started
    errors: int  # rows whose `error` column is set
    chunks: int
    executor: str  # local | ray
    model: str | None
    revision: str | None
    seconds: float
    rows_per_s: float | None
    manifest: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.update(out.pop("extra"))
        return out


@dataclass
class Progress:
    """What the progress callback receives after every committed chunk."""

    done: int  # rows committed so far (resumed + this run)
    total: int
    processed: int  # rows processed by this run
    elapsed: float  # seconds spent processing in this run

    @property
    def rate(self) -> float | None:
        return self.processed / self.elapsed if self.elapsed > 0 and self.processed else None

    @property
    def eta(self) -> float | None:
        rate = self.rate
        return (self.total - self.done) / rate if rate else None


@dataclass
class JobSpec:
    """Everything a worker needs to process chunks on its own (picklable)."""

    task: str
    options: Any
    model: ModelSpec
    source: Any
    chunk_size: int
    batch_size: int
    total: int

    def chunk_range(self, chunk: int) -> tuple[int, int]:
        start = chunk * self.chunk_size
        return start, min(start + self.chunk_size, self.total)


# ---------------------------------------------------------------- one chunk
# ---------------------------------------------------------------- the job
def _pin_model(task: BatchTask, name: str | None, load_options: LoadOptions):
    """Resolve the model and pin what will be loaded: the Hub commit sha (downloaded once here,
    so every worker loads the same snapshot) or the converted file's hash. → (spec, identity)."""
    from ..models.loading import Prepared, prepare
    from ..models.registry import resolve

    revision = load_options.revision
    resolved = resolve(name, task=task.registry_task, revision=revision)
    if (
        resolved.format in (ModelFormat.CTRANSLATE2, ModelFormat.ONNX)
        and resolved.source != ModelSource.HUB
    ):
        # CTranslate2 / ONNX folders: their model.bin is not pickle; nothing to convert
        prepared = Prepared(resolved.path, None)
    else:
        prepared = prepare(resolved, trust_pickle=load_options.trust_pickle)
    pinned = prepared.revision if resolved.source == ModelSource.HUB else revision
    identity: dict[str, Any] = {"id": resolved.id, "revision": prepared.revision}
    if prepared.revision is None and prepared.path is not None:
        # a local folder or embedded package: its weights' names and sizes stand for a revision
        weights = sorted(
            (p.name, p.stat().st_size)
            for p in Path(prepared.path).iterdir()
            if p.suffix in (".safetensors", ".bin", ".gguf", ".onnx")
        )
        identity["weights"] = weights
    spec = ModelSpec(name=name, revision=pinned, load_options=load_options)
    return spec, identity, resolved


def run_batch(
    task: str,
    input: str,
    output: str | Path,
    task_options: dict[str, Any] | Any | None = None,
    *,
    model: str | None = None,
    options: BatchOptions | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_status: Callable[[str], None] | None = None,
    load_options: LoadOptions | None = None,
) -> BatchResult:
    """Run (or resume) a batch job. See the module docstring. `load_options` (revision,
    device, dtype …) are given to every worker's task, each taking the ones its loader has."""
    began = time.perf_counter()
    options = (options or BatchOptions()).validate()
    batch_task = get_task(task)
    load_options = load_options or LoadOptions()
    if isinstance(task_options, dict) or task_options is None:
        opts = batch_task.make_options(dict(task_options or {}))
    else:
        opts = task_options
    status = on_status or (lambda message: None)
    store = BatchStore(Path(output))  # checks the output format first: cheap errors first
    plan = _plan(batch_task, opts, input, model, load_options, options, store, status)
    info = plan.info
    runlog.annotate(task=f"batch {batch_task.name}", model=info["model"], revision=info["revision"])
    with store.locked():
        return _execute(plan, store, options, on_progress, status, began)


@dataclass
class _Plan:
    """What a job is, before it runs: its input, model, fingerprint and output layout."""

    task: BatchTask
    job: JobSpec
    fingerprint: dict[str, Any]
    info: dict[str, Any]
    chunks: int
    table_schema: Any


def _plan(batch_task, opts, input, model, load_options: LoadOptions, options, store, status):
    from ..sources.records import RecordSpec, open_records

    status(f"scanning {input}…")
    spec = RecordSpec(options.column, options.id_column, batch_task.input_kind, options.split)
    source = open_records(input, spec, stride=options.chunk_size, input_format=options.input_format)
    revision = load_options.revision
    if batch_task.pin_model:
        model_spec, model_identity, resolved = _pin_model(batch_task, model, load_options)
    else:  # the task picks its own models (by mode): record what was asked for
        model_spec = ModelSpec(name=model, revision=revision, load_options=load_options)
        model_identity = {"id": model or "default", "revision": revision}
        resolved = None
    load_identity = load_options.identity()
    fingerprint = {
        "task": batch_task.name,
        "options": batch_task.describe(opts),
        "input": source.fingerprint(),
        "input_format": source.format,
        "id_column": options.id_column,
        "model": model_identity,
        "load": load_identity,
        "chunk_size": options.chunk_size,
        "output_format": store.format,
    }
    total = source.total
    chunks = math.ceil(total / options.chunk_size) if total else 0
    info = {
        "task": batch_task.name,
        "input": source.location,
        "output": str(store.output),
        "total_rows": total,
        "chunk_size": options.chunk_size,
        "chunks": chunks,
        "model": (resolved.alias or resolved.id) if resolved else model_identity["id"],
        "revision": model_identity.get("revision"),
    }
    job = JobSpec(
        task=batch_task.name,
        options=opts,
        model=model_spec,
        source=source,
        chunk_size=options.chunk_size,
        batch_size=options.batch_size,
        total=total,
    )
    return _Plan(
        batch_task, job, fingerprint, info, chunks, schema(batch_task, opts, source.id_type)
    )


def _execute(plan: _Plan, store: BatchStore, options: BatchOptions, on_progress, status, began):
    """The job under its lock: resume from the committed chunks, run the rest, finalize."""
    job, total, chunks = plan.job, plan.job.total, plan.chunks
    manifest = store.start(plan.fingerprint, plan.info, restart=options.restart)
    if manifest.get("status") == "complete" and store.output.exists():
        return _result(store, manifest, "already-complete", 0, 0, options, began)
    committed = store.committed()
    pending = [c for c in range(chunks) if c not in committed]
    resumed = sum(
        min(options.chunk_size, total - c * options.chunk_size) for c in committed if c < chunks
    )
    if committed:
        status(f"resuming: {resumed:,} of {total:,} rows already done")
    tracker = _Tracker(total, resumed, on_progress)

    def commit(chunk: int, rows: list[dict[str, Any]]) -> None:
        start, stop = job.chunk_range(chunk)
        if len(rows) != stop - start:
            raise JobError(
                f"chunk {chunk} came back with {len(rows)} rows instead of {stop - start}",
                hint="this is a bug; rerun with PRETRAINED_DEBUG=1 and report it",
            )
        fault(f"before-commit:{chunk}")
        store.commit(chunk, rows, plan.table_schema)
        fault(f"after-commit:{chunk}")
        tracker.add(len(rows))

    served: dict[str, Any] = {}
    if pending:
        if options.executor == "ray":
            from .ray_executor import run_on_ray

            tracker.begin()  # Ray's start-up and the actors' loading count: they are its cost
            served = run_on_ray(job, pending, commit, options, status)
        else:
            served = _run_local(job, plan.task, pending, commit, status, tracker.begin)
        _check_served(store, manifest, served)
    manifest = _finalize(plan, store, manifest, served, options, status)
    return _result(store, manifest, "complete", tracker.processed, resumed, options, began)


def _finalize(plan: _Plan, store: BatchStore, manifest, served, options, status):
    """Concatenate the committed chunks into the output and record the job as complete."""
    fault("before-finalize")
    status(f"writing {store.output}…")
    metadata = {
        **plan.info,
        "model": served.get("model") or manifest.get("model"),
        "revision": served.get("revision") or manifest.get("revision"),
        "options": plan.fingerprint["options"],
        "created_at": manifest.get("created_at"),
    }
    rows = store.finalize(plan.chunks, plan.table_schema, metadata)
    if rows != plan.job.total:
        raise JobError(
            f"the output has {rows} rows but the input has {plan.job.total}",
            hint="pass --restart to run the job again from scratch",
        )
    fault("after-finalize")
    manifest = {
        **manifest,
        **{k: metadata[k] for k in ("model", "revision")},
        "status": "complete",
        "rows": rows,
        "errors": _count_errors(store),
        "executor": options.executor,
        "notes": served.get("notes") or manifest.get("notes") or {},
        "completed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    store.write_manifest(manifest)
    store.remove_chunks()
    return manifest


def _check_served(store: BatchStore, manifest: dict[str, Any], served: dict[str, Any]) -> None:
    """The model the workers loaded must be the one the job started with."""
    want, got = manifest.get("revision"), served.get("revision")
    if want and got and want != got:
        raise JobError(
            f"the model's revision changed during the job ({want} → {got})",
            hint="pass --revision to pin it, or --restart to redo the job with the new one",
        )


def _run_local(job: JobSpec, task: BatchTask, pending: list[int], commit, status, ready) -> dict:
    status(f"loading {job.model.name or 'the default model'}…")
    runner = task.load(job.model, job.options)
    status(f"model: {runner.model_id} · {runner.device}")
    ready()
    for chunk in pending:
        start, stop = job.chunk_range(chunk)
        records = job.source.read(start, stop)
        commit(chunk, process_chunk(task, runner, records, job.batch_size, chunk))
    served = {"model": runner.model_id, "revision": runner.revision, "device": runner.device}
    return {**served, "notes": runner.notes()}


class _Tracker:
    def __init__(self, total: int, resumed: int, callback) -> None:
        self.total, self.done, self.processed = total, resumed, 0
        self.callback = callback
        self.started = time.perf_counter()
        if callback:
            callback(Progress(self.done, total, 0, 0.0))

    def begin(self) -> None:
        """Processing starts now (the model is loaded): throughput is counted from here."""
        self.started = time.perf_counter()

    def add(self, n: int) -> None:
        self.done += n
        self.processed += n
        if self.callback:
            elapsed = time.perf_counter() - self.started
            self.callback(Progress(self.done, self.total, self.processed, elapsed))


def _count_errors(store: BatchStore) -> int:
    if store.format == "parquet":
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(store.output).metadata
        total = 0
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            # leaf columns: a list or map column has leaves of its own, so find 'error' by path
            leaf = next(
                group.column(i)
                for i in range(group.num_columns)
                if group.column(i).path_in_schema == "error"
            )
            stats = leaf.statistics
            if stats is None or not stats.has_null_count:
                table = pq.read_table(store.output, columns=["error"])
                return table.num_rows - table.column("error").null_count
            total += group.num_rows - stats.null_count
        return total
    with store.output.open("rb") as fh:
        return sum(1 for line in fh if b'"error": null' not in line)


def _result(store, manifest, status, processed, resumed, options, began) -> BatchResult:
    seconds = round(time.perf_counter() - began, 3)
    # the task functions annotate each call as their own task; the run is the batch job
    runlog.annotate(
        task=f"batch {manifest.get('task', '')}",
        model=manifest.get("model"),
        revision=manifest.get("revision"),
        rows=manifest.get("rows", 0),
        processed=processed,
        resumed=resumed,
        executor=options.executor,
    )
    return BatchResult(
        task=manifest.get("task", ""),
        input=manifest.get("input", ""),
        output=str(store.output),
        status=status,
        rows=manifest.get("rows", 0),
        processed=processed,
        resumed=resumed,
        errors=manifest.get("errors", 0),
        chunks=manifest.get("chunks", 0),
        executor=options.executor,
        model=manifest.get("model"),
        revision=manifest.get("revision"),
        seconds=seconds,
        rows_per_s=round(processed / seconds, 2) if processed and seconds else None,
        manifest=str(store.manifest_path),
        extra=dict(manifest.get("notes") or {}),  # the runner's (classify: method, warnings)
    )
