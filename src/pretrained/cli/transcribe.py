"""`pretrained transcribe`: audio/video files, folders and s3:// prefixes → txt, srt, vtt, json
(and a chaptered summary with --summarize), as resumable jobs."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import _options as o
from ._output import info, print_error, print_json

SPEECH_PANEL = "Speech knobs"
INPUT_PANEL = "Inputs"


def transcribe(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Audio/video files, folders (searched recursively) or s3://bucket/prefix/.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Folder for the outputs (default: next to each input; required for s3://).",
            rich_help_panel=o.OUTPUT_PANEL,
        ),
    ] = None,
    formats: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Comma-separated: txt, srt, vtt, json (or all).",
            rich_help_panel=o.OUTPUT_PANEL,
        ),
    ] = "txt,srt,vtt,json",
    glob: Annotated[
        str | None,
        typer.Option(
            "--glob",
            help="Only inputs whose relative path or name matches, e.g. '*.mp4'.",
            rich_help_panel=INPUT_PANEL,
        ),
    ] = None,
    recursive: Annotated[
        bool,
        typer.Option(
            "--recursive/--no-recursive",
            help="Search folders recursively.",
            rich_help_panel=INPUT_PANEL,
        ),
    ] = True,
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="S3-compatible endpoint (MinIO, SeaweedFS, R2 …); credentials from the AWS env/profile.",
            rich_help_panel=INPUT_PANEL,
        ),
    ] = None,
    model: o.Model = None,
    revision: o.Revision = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device", help="auto (cuda → cpu), cpu, cuda, cuda:N.", rich_help_panel=o.MODEL_PANEL
        ),
    ] = None,
    compute_type: Annotated[
        str | None,
        typer.Option(
            "--compute-type",
            help="auto (int8 on CPU, float16 on CUDA), int8, int8_float16, float16, float32 …",
            rich_help_panel=o.MODEL_PANEL,
        ),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(
            "--language",
            "-l",
            help="Language code (en, fr …). Default: detected, voting over several windows.",
            rich_help_panel=SPEECH_PANEL,
        ),
    ] = None,
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="transcribe, or translate (into English; multilingual models).",
            rich_help_panel=SPEECH_PANEL,
        ),
    ] = "transcribe",
    beam_size: Annotated[
        int,
        typer.Option(
            "--beam-size", help="Beam search width (1 = greedy).", rich_help_panel=SPEECH_PANEL
        ),
    ] = 5,
    word_timestamps: Annotated[
        bool,
        typer.Option(
            "--word-timestamps",
            help="Add per-word times to the JSON output.",
            rich_help_panel=SPEECH_PANEL,
        ),
    ] = False,
    vad: Annotated[
        bool,
        typer.Option(
            "--vad/--no-vad",
            help="Skip non-speech with Silero VAD (on by default).",
            rich_help_panel=SPEECH_PANEL,
        ),
    ] = True,
    initial_prompt: Annotated[
        str | None,
        typer.Option(
            "--initial-prompt",
            help="Text that primes spelling and style (names, jargon).",
            rich_help_panel=SPEECH_PANEL,
        ),
    ] = None,
    language_detection_segments: Annotated[
        int,
        typer.Option(
            "--language-detection-segments",
            help="30 s windows of speech that vote on the language.",
            rich_help_panel=SPEECH_PANEL,
        ),
    ] = 3,
    window_seconds: Annotated[
        float,
        typer.Option(
            "--window-seconds",
            help="Audio decoded and transcribed at a time (bounds memory; a checkpoint after each).",
            rich_help_panel=SPEECH_PANEL,
        ),
    ] = 300.0,
    force: Annotated[
        bool,
        typer.Option("--force", help="Redo inputs whose job is already done."),
    ] = False,
    summarize: Annotated[
        bool,
        typer.Option(
            "--summarize",
            help="Also write NAME.summary.md: a short summary plus chapters with timecodes.",
        ),
    ] = False,
    summary_model: Annotated[
        str | None,
        typer.Option(
            "--summary-model",
            help="Model for --summarize (default: the summarizer's default).",
        ),
    ] = None,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Transcribe audio and video (files, folders, S3) with Whisper; re-runs skip finished inputs."""
    from ..jobs.transcribe import BatchOptions, transcribe_inputs
    from ..tasks.transcribe import TranscribeOptions, parse_formats

    options = TranscribeOptions.from_kwargs(
        language=language,
        task=task,
        beam_size=beam_size,
        word_timestamps=word_timestamps,
        vad=vad,
        initial_prompt=initial_prompt,
        language_detection_segments=language_detection_segments,
        window_seconds=window_seconds,
    )
    batch = BatchOptions(
        formats=parse_formats(formats),
        output_dir=output,
        glob=glob,
        recursive=recursive,
        endpoint_url=endpoint_url,
        force=force,
        summarize=summarize,
        summary_options={"model": summary_model} if summary_model else {},
    )
    silent = quiet or json_out
    single = len(inputs) == 1 and not inputs[0].startswith("s3://") and Path(inputs[0]).is_file()
    view = _View(silent=silent, single=single, json_out=json_out)
    info(_describe(options, model), quiet=silent)
    with view:
        result = transcribe_inputs(
            inputs,
            options,
            batch,
            model=model,
            revision=revision,
            device=device,
            compute_type=compute_type,
            events=view.events(),
        )
    if json_out:
        print_json(result.to_dict())
    elif single and result.items and result.items[0].status != "failed":
        _print_transcript(result.items[0])
    # the summary line is the run's verdict: shown even with --quiet
    sys.stderr.write(result.summary_line() + "\n")
    sys.stderr.flush()
    if result.failed:
        raise typer.Exit(1)


def _describe(options, model: str | None) -> str:
    parts = [
        f"language={options.language or 'auto'}",
        f"beam_size={options.beam_size}",
        f"vad={'on' if options.vad else 'off'}",
    ]
    if options.task != "transcribe":
        parts.append(f"task={options.task}")
    if options.word_timestamps:
        parts.append("word_timestamps=on")
    return "knobs: " + " ".join(parts)


def _print_transcript(item) -> None:
    from ..jobs.store import JobStore

    if item.job_id is None:
        return
    text = JobStore().result(item.job_id).get("text", "")
    sys.stdout.write(text.strip() + "\n" if text.strip() else "")
    sys.stdout.flush()


class _View:
    """What the user sees while a batch runs: a model line, a bar per input, one line each."""

    def __init__(self, *, silent: bool, single: bool, json_out: bool) -> None:
        self.silent = silent
        self.single = single
        self.json_out = json_out
        self.bar: Any = None
        self.task: Any = None
        self.stack = contextlib.ExitStack()

    def __enter__(self) -> _View:
        if not self.silent and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            from ._output import err_console

            self.bar = self.stack.enter_context(
                Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    TextColumn("{task.completed:.0f}s of audio"),
                    TimeRemainingColumn(),
                    console=err_console(),
                    transient=True,
                )
            )
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stack.close()

    def events(self):
        from ..jobs.transcribe import Events

        return Events(
            item_started=self.started,
            progress=self.progress if self.bar is not None else None,
            item_finished=self.finished,
            model_loaded=self.loaded,
        )

    def loaded(self, backend) -> None:
        where = f"{backend.device} {backend.compute_type}"
        took = f" · loaded in {backend.load_seconds:.1f}s" if backend.load_seconds else ""
        info(
            f"model: {backend.model_id} · engine {backend.engine} · {where}{took}",
            quiet=self.silent,
        )

    def started(self, item, index: int, total: int) -> None:
        if self.bar is not None:
            if self.task is not None:
                self.bar.remove_task(self.task)
            label = f"[{index + 1}/{total}] {Path(item.relative).name}"
            self.task = self.bar.add_task(label, total=None)

    def progress(self, seconds: float, total: float | None) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=seconds, total=total)

    def finished(self, outcome) -> None:
        if outcome.status == "failed":
            error = outcome.error or {}
            message = error.get("message", "failed")
            if outcome.source not in message:
                message = f"{outcome.source}: {message}"
            print_error(message, error.get("hint"))
            return
        if self.json_out or self.single:
            if not self.silent and self.single:
                info(_item_line(outcome), quiet=False)
            return
        sys.stdout.write(_item_line(outcome) + "\n")
        sys.stdout.flush()


def _item_line(outcome) -> str:
    outputs = outcome.outputs
    where = ""
    if outputs:
        first = Path(outputs[0])
        stem = first.name.rsplit(".", 1)[0]
        exts = [Path(p).name[len(stem) + 1 :] for p in outputs]
        where = f" → {first.parent / stem}.{{{','.join(exts)}}}" if len(exts) > 1 else f" → {first}"
    facts = []
    if outcome.duration is not None:
        facts.append(f"{outcome.duration:.1f}s audio")
    if outcome.language:
        facts.append(outcome.language)
    if outcome.rtf is not None:
        facts.append(f"RTF {outcome.rtf:.3f}")
    if outcome.resumed_at:
        facts.append(f"resumed at {outcome.resumed_at:.0f}s")
    if outcome.note:
        facts.append(outcome.note)
    return f"{outcome.status:<8} {outcome.source}{where}" + (
        f" · {' · '.join(facts)}" if facts else ""
    )


def register(app: typer.Typer) -> None:
    app.command("transcribe")(transcribe)
