"""`pretrained jobs list|show|results`: the local job store (transcriptions so far)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import InvalidOptionError
from . import _options as o
from ._output import out_console, print_json

app = typer.Typer(
    help="Jobs in the local store: list, show one, print its results.",
    no_args_is_help=True,
)

JobId = Annotated[
    str, typer.Argument(help="Job id (or a unique prefix of it).", show_default=False)
]


@app.command("list")
def list_jobs(
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only jobs in this state: pending, running, done, failed."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many, most recent first.")] = 50,
    json_out: o.Json = False,
) -> None:
    """List jobs, most recently updated first."""
    from rich.table import Table

    from ..jobs.store import STATUSES, JobStore

    if status is not None and status not in STATUSES:
        raise InvalidOptionError(
            f"unknown status '{status}'", hint=f"use one of: {', '.join(STATUSES)}"
        )
    if limit < 1:
        raise InvalidOptionError(f"--limit must be ≥ 1 (got {limit})", hint="e.g. --limit 50")
    store = JobStore()
    jobs = store.list(status, limit)
    if json_out:
        print_json([j.to_dict() for j in jobs])
        return
    console = out_console()
    if not jobs:
        console.print(f"no jobs yet in {store.path}", markup=False)
        return
    table = Table(title=f"jobs ({store.path})", title_justify="left")
    for column in ("id", "status", "source", "model", "audio", "lang", "updated (UTC)"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        state = job.status
        if job.status == "failed":
            state = f"[red]failed[/] {job.error_type or ''}"
        elif job.status == "running" and not job.held_elsewhere and job.progress:
            state = f"interrupted at {job.progress:.0f}s"
        table.add_row(
            job.id,
            state,
            job.source,
            job.model or "-",
            f"{job.duration:.1f}s" if job.duration is not None else "-",
            job.language or "-",
            job.updated_at.replace("+00:00", ""),
        )
    console.print(table)


@app.command("show")
def show(job_id: JobId, json_out: o.Json = False) -> None:
    """Everything about one job: source, content hash, model, options, outputs, error."""
    from ..jobs.store import JobStore

    job = JobStore().get(job_id)
    if json_out:
        print_json(job.to_dict())
        return
    lines = [
        ("id", job.id),
        ("status", job.status),
        ("source", job.source),
        ("content sha256", job.content_sha256),
        ("model", job.model + (f"@{job.revision}" if job.revision else "") if job.model else "-"),
        ("options", " ".join(f"{k}={v}" for k, v in sorted(job.options.items()))),
        ("attempts", str(job.attempts)),
        ("created", job.created_at),
        ("updated", job.updated_at),
    ]
    if job.finished_at:
        lines.append(("finished", job.finished_at))
    if job.duration is not None:
        lines.append(("audio", f"{job.duration:.1f}s"))
    if job.language:
        lines.append(("language", job.language))
    if job.rtf is not None:
        lines.append(("real-time factor", f"{job.rtf:.3f}"))
    if job.status != "done" and job.progress:
        lines.append(("progress", f"{job.progress:.0f}s (resumes from there)"))
    if job.error:
        lines.append(("error", f"{job.error_type}: {job.error}"))
        lines.append(("hint", job.hint or "-"))
    for path in job.outputs:
        lines.append(("output", path))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        sys.stdout.write(f"{key:<{width}}  {value}\n")


@app.command("results")
def results(
    job_id: JobId,
    fmt: Annotated[str, typer.Option("--format", "-f", help="txt, srt, vtt or json.")] = "txt",
) -> None:
    """Print a finished job's transcript in one format."""
    from ..jobs.store import JobStore
    from ..tasks.transcribe import FORMATS, TranscribeResult

    if fmt not in FORMATS:
        raise InvalidOptionError(
            f"unknown format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}"
        )
    result = TranscribeResult.from_dict(JobStore().result(job_id))
    sys.stdout.write(result.render(fmt))
    sys.stdout.flush()


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="jobs")
