"""Transcription jobs: many inputs (files, folders, S3 prefixes) → transcripts on disk.

Each input becomes a job in the local store (see store.py). A run skips inputs whose job is
done (only writing output files that are missing), resumes killed ones from their checkpoint,
and keeps going when one input fails: a corrupt file is reported with its own one-line error
while the others finish. Outputs are written atomically next to the input or under `--output`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .._util import first_line
from ..errors import PretrainedError, UsageError
from ..sources.audio import MediaItem, expand_inputs, probe
from ..tasks.transcribe import FORMATS, Checkpoint, TranscribeOptions, TranscribeResult
from .files import atomic_write, sweep
from .store import Job, JobStore, sha256_file

KIND = "transcribe"


@dataclass
class BatchOptions:
    formats: tuple[str, ...] = FORMATS
    output_dir: Path | None = None  # default: next to each local input
    glob: str | None = None
    recursive: bool = True
    endpoint_url: str | None = None
    force: bool = False  # redo finished jobs
    summarize: bool = False  # also write <name>.summary.md
    summary_options: dict[str, Any] = field(default_factory=dict)


ItemStatus = Literal["done", "skipped", "failed"]


@dataclass
class ItemOutcome:
    source: str
    status: ItemStatus
    job_id: str | None = None
    outputs: list[str] = field(default_factory=list)
    duration: float | None = None
    language: str | None = None
    rtf: float | None = None
    resumed_at: float | None = None
    note: str | None = None
    error: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class BatchResult:
    items: list[ItemOutcome]
    model: str
    options: dict[str, Any]
    seconds: float = 0.0

    def count(self, status: ItemStatus) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def failed(self) -> int:
        return self.count("failed")

    def summary_line(self) -> str:
        total = len(self.items)
        return (
            f"{total} input{'s' if total != 1 else ''}: {self.count('done')} done, "
            f"{self.count('skipped')} skipped, {self.failed} failed ({self.seconds:.1f}s)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [i.to_dict() for i in self.items],
            "done": self.count("done"),
            "skipped": self.count("skipped"),
            "failed": self.failed,
            "model": self.model,
            "options": self.options,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Events:
    """Callbacks for a front end (CLI progress bars, server logs). All optional."""

    item_started: Callable[[MediaItem, int, int], None] | None = None
    progress: Callable[[float, float | None], None] | None = None  # seconds done, total
    item_finished: Callable[[ItemOutcome], None] | None = None
    model_loaded: Callable[[Any], None] | None = None  # the speech backend, once loaded


def output_bases(items: list[MediaItem], output_dir: Path | None) -> dict[str, Path]:
    """Where each input's outputs go, without the extension: <dir>/<stem>.

    Inputs that would share a base (talk.wav and talk.mp3 in one folder) keep their full file
    name instead (talk.wav.txt, talk.mp3.txt), so no output overwrites another."""
    if output_dir is None and any(not item.is_local for item in items):
        raise UsageError(
            "S3 inputs need --output DIR for the transcripts",
            hint="e.g. pretrained transcribe s3://bucket/prefix/ --output out/",
        )

    def base(item: MediaItem, level: int) -> Path:
        rel = Path(item.relative)
        leaf = rel.stem if level == 0 else rel.name
        if level == 2:  # same relative path under two inputs given on one command line
            leaf += "-" + hashlib.sha1(item.uri.encode()).hexdigest()[:8]
        if output_dir is not None:
            return output_dir / rel.parent / leaf
        assert item.path is not None
        return item.path.parent / leaf

    level = {item.uri: 0 for item in items}
    while True:
        bases = {item.uri: base(item, level[item.uri]) for item in items}
        seen: dict[Path, list[str]] = {}
        for uri, path in bases.items():
            seen.setdefault(path, []).append(uri)
        # in each clash, the inputs with the shortest names take the next longer form
        moving = [
            uri
            for uris in seen.values()
            if len(uris) > 1
            for uri in uris
            if level[uri] == min(level[u] for u in uris) < 2
        ]
        if not moving:
            return bases
        for uri in moving:
            level[uri] += 1


def write_outputs(result: TranscribeResult, base: Path, formats: tuple[str, ...], *, force: bool):
    """Write the requested formats atomically; existing files are kept unless `force`."""
    written = []
    for fmt in formats:
        path = base.with_name(f"{base.name}.{fmt}")
        sweep(path)
        if force or not path.exists():
            atomic_write(path, result.render(fmt))
        written.append(str(path))
    return written


class _Runner:
    def __init__(
        self,
        options: TranscribeOptions,
        batch: BatchOptions,
        *,
        model: str | None,
        load_options: dict[str, Any],
        backend: Any,
        store: JobStore,
        events: Events,
    ) -> None:
        from ..models.backends.faster_whisper import resolve_transcription_model

        self.options = options
        self.batch = batch
        self.load_options = load_options
        self.backend = backend
        self.store = store
        self.events = events
        self.model_name = model
        if backend is not None:
            self.model_id, self.revision = backend.model_id, backend.revision
        else:
            resolved = resolve_transcription_model(model, load_options.get("revision"))
            self.model_id, self.revision = resolved.id, resolved.revision
        # What makes two transcripts of the same content differ: model, precision, knobs.
        self.key_options = {
            **options.key(),
            "compute_type": load_options.get("compute_type") or "auto",
        }

    def speech(self) -> Any:
        if self.backend is None:
            from ..models import load_transcriber

            self.backend = load_transcriber(self.model_name, **self.load_options)
            if self.events.model_loaded:
                self.events.model_loaded(self.backend)
        return self.backend

    def job_for(self, item: MediaItem, local: Path | None) -> Job | None:
        """The job of this content, hashing it if needed (None: the content must be fetched)."""
        sha = self.store.known_hash(item.fingerprint)
        if sha is None:
            if local is None:
                return None
            sha = sha256_file(local)
            self.store.remember_hash(item.fingerprint, sha)
        return self.store.ensure(
            kind=KIND,
            source=item.uri,
            content_sha256=sha,
            model=self.model_id,
            revision=self.revision,
            options=self.key_options,
        )

    def run_item(self, item: MediaItem, base: Path) -> ItemOutcome:
        job = self.job_for(item, item.path)
        if job is not None and job.done and not self.batch.force:
            return self.finish_skipped(item, job, base)
        if job is not None and job.held_elsewhere:
            return ItemOutcome(item.uri, "skipped", job.id, note=f"running in pid {job.pid}")
        with item.open(endpoint_url=self.batch.endpoint_url) as local:
            job = job or self.job_for(item, local)
            assert job is not None
            if job.done and not self.batch.force:
                return self.finish_skipped(item, job, base)
            if not self.store.claim(job.id):
                return ItemOutcome(item.uri, "skipped", job.id, note="running in another process")
            try:
                probe(local, item.uri)  # a corrupt file or silent video fails before any model
                self.speech()  # loaded once, on the first input that needs it
                return self.transcribe(item, job, local, base)
            except KeyboardInterrupt:
                self.store.release(job.id)
                raise
            except PretrainedError as exc:
                if _fatal(exc):  # the model, device or options are wrong: not this input's fault
                    self.store.release(job.id)
                else:
                    self.store.fail(job.id, exc)
                raise
            except Exception as exc:
                self.store.fail(job.id, exc)
                raise

    def transcribe(self, item: MediaItem, job: Job, local: Path, base: Path) -> ItemOutcome:
        from ..tasks.transcribe import transcribe

        state = None if self.batch.force else self.store.load_checkpoint(job.id)
        resume = Checkpoint.from_dict(state) if state else None
        result = transcribe(
            local,
            self.options,
            backend=self.speech(),
            name=item.uri,
            resume=resume,
            on_checkpoint=lambda cp: self.store.checkpoint(job.id, cp.to_dict()),
            on_progress=self._progress(local),
        )
        outputs = self.write(result, base, force=True)
        self.store.finish(job.id, result.to_dict(), outputs)
        return ItemOutcome(
            item.uri,
            "done",
            job.id,
            outputs,
            duration=result.duration,
            language=result.language,
            rtf=result.timings.get("rtf"),
            resumed_at=result.timings.get("resumed_at"),
        )

    def finish_skipped(self, item: MediaItem, job: Job, base: Path) -> ItemOutcome:
        """A finished job: write only the outputs that are missing, from the stored result."""
        result = TranscribeResult.from_dict(self.store.result(job.id))
        outputs = self.write(result, base, force=False)
        self.store.add_outputs(job.id, outputs)
        return ItemOutcome(
            item.uri,
            "skipped",
            job.id,
            outputs,
            duration=job.duration,
            language=job.language,
            note="already transcribed",
        )

    def write(self, result: TranscribeResult, base: Path, *, force: bool) -> list[str]:
        """The requested formats (+ summary) of a result; existing files kept unless `force`."""
        written = write_outputs(result, base, self.batch.formats, force=force)
        return written + self.summarize(result, base, force=force)

    def summarize(self, result: TranscribeResult, base: Path, *, force: bool) -> list[str]:
        if not self.batch.summarize:
            return []
        from ..tasks.chapters import summarize_transcript

        path = base.with_name(f"{base.name}.summary.md")
        sweep(path)
        if force or not path.exists():
            summary = summarize_transcript(result, **self.batch.summary_options)
            atomic_write(path, summary.to_markdown())
        return [str(path)]

    def _progress(self, local: Path) -> Callable[[float], None] | None:
        if self.events.progress is None:
            return None
        total = probe(local).duration
        report = self.events.progress
        return lambda seconds: report(seconds, total)


def transcribe_inputs(
    inputs: list[str],
    options: TranscribeOptions | None = None,
    batch: BatchOptions | None = None,
    *,
    model: str | None = None,
    revision: str | None = None,
    device: str | None = None,
    compute_type: str | None = None,
    backend: Any = None,
    store: JobStore | None = None,
    events: Events | None = None,
) -> BatchResult:
    """Transcribe every input as a resumable job. One failing input does not stop the others."""
    from ..sources.s3 import sweep_temp_files

    started = time.perf_counter()
    options = (options or TranscribeOptions()).validate()
    batch = batch or BatchOptions()
    events = events or Events()
    store = store or JobStore()
    runner = _Runner(
        options,
        batch,
        model=model,
        load_options={"revision": revision, "device": device, "compute_type": compute_type},
        backend=backend,
        store=store,
        events=events,
    )
    sweep_temp_files()
    items = expand_inputs(
        inputs, glob=batch.glob, recursive=batch.recursive, endpoint_url=batch.endpoint_url
    )
    bases = output_bases(items, batch.output_dir)
    outcomes = []
    for index, item in enumerate(items):
        if events.item_started:
            events.item_started(item, index, len(items))
        try:
            outcome = runner.run_item(item, bases[item.uri])
        except PretrainedError as exc:
            if _fatal(exc):
                raise
            outcome = ItemOutcome(item.uri, "failed", error=exc.to_dict())
        except Exception as exc:  # anything else fails this input only, never the others
            first = first_line(exc, "")
            outcome = ItemOutcome(
                item.uri,
                "failed",
                error={
                    "type": type(exc).__name__,
                    "message": f"{item.uri}: unexpected {type(exc).__name__}: {first}",
                    "hint": "rerun with PRETRAINED_DEBUG=1 for the traceback",
                },
            )
        outcomes.append(outcome)
        if events.item_finished:
            events.item_finished(outcome)
    return BatchResult(
        outcomes, runner.model_id, runner.key_options, seconds=time.perf_counter() - started
    )


def _fatal(exc: PretrainedError) -> bool:
    """Errors about the model, the device or the options stop the run: every input would fail."""
    from ..errors import DependencyError, DeviceError, ModelError

    return isinstance(exc, (ModelError, DeviceError, DependencyError, UsageError))
