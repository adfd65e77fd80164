"""`pretrained finetune`: LoRA / QLoRA / full fine-tuning of a causal LM on your own data."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from . import _options as o
from ._output import err_console, info, note, print_json

DATA = "Data"
METHOD = "Method"
LOOP = "Training loop"
EVAL = "Evaluation"
RUN = "Run folder"


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else f"{seconds // 60}m{seconds % 60:02d}s"
    )


class CliReporter:
    """Status lines on stderr, the preflight report on stdout, a progress bar while training."""

    def __init__(self, quiet: bool, json_out: bool) -> None:
        self.quiet = quiet or json_out
        self.json_out = json_out
        self.bar: Any = None
        self.task: Any = None
        self.every = 1
        self.tty = sys.stderr.isatty()

    def status(self, message: str) -> None:
        info(message, quiet=self.quiet)

    def preflight(self, report) -> None:
        if self.json_out:
            return
        sys.stdout.write("\n".join(report.lines()) + "\n\n")
        sys.stdout.flush()

    def train_start(self, total_steps: int, start_step: int) -> None:
        if self.quiet:
            return
        self.every = max(1, total_steps // 20)
        if self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=err_console(),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(
                "training", total=total_steps, completed=start_step, loss="-"
            )

    def train_progress(
        self, step: int, total: int, loss: float | None, eta_s: float | None
    ) -> None:
        if self.quiet:
            return
        shown = "-" if loss is None else f"{loss:.4f}"
        if self.bar is not None:
            self.bar.update(self.task, completed=step, loss=shown)
        elif step % self.every == 0 or step == total:
            note(f"step {step}/{total} · loss {shown} · ETA {_fmt_eta(eta_s)}")

    def train_end(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _print_summary(result) -> None:
    from rich.table import Table

    from ._output import out_console

    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    table.add_column("")
    before = result.before.eval_loss if result.before else None
    after = result.after.eval_loss if result.after else None
    for metric, b, a in result.table():
        change = ""
        if metric == "eval loss" and before and after is not None:
            change = f"{100 * (after - before) / before:+.1f} %"
        table.add_row(metric, b, a, change)
    console = out_console()
    console.print(table)
    samples = result.after.samples if result.after else []
    if samples:
        console.print("\nsamples after training (greedy):", markup=False)
        for s in samples[:3]:
            end = "⏹" if s.stopped else "… (token limit)"
            text = " ".join(s.text.split())
            console.print(
                f"  {s.prompt.strip()} → {text[:160]} {end}", markup=False, highlight=False
            )
    memory = result.to_dict().get("memory") or {}
    if memory.get("measured_peak_bytes"):
        from ._output import human_bytes

        console.print(
            f"\npeak memory: {human_bytes(memory['measured_peak_bytes'])} resident "
            f"(preflight estimate {human_bytes(memory['estimated_peak_bytes'])}, "
            f"×{memory['estimate_over_measured']:.2f})",
            markup=False,
            highlight=False,
        )
    prompt = samples[0].prompt.strip() if samples else "Hello"
    console.print(
        f"\nrun folder: {result.run_dir}\ntry it:     pretrained generate {prompt!r} "
        f"--model {result.run_dir}",
        markup=False,
        highlight=False,
    )


def finetune(
    data: Annotated[
        str,
        typer.Argument(
            help="Training data: a .jsonl/.csv/.parquet/.txt file (or a folder of them), "
            "or a Hub dataset id such as Abirate/english_quotes.",
            show_default=False,
        ),
    ],
    model: o.Model = None,
    model_revision: Annotated[
        str | None,
        typer.Option(
            "--model-revision",
            help="Hub branch, tag or sha of the model.",
            rich_help_panel=o.MODEL_PANEL,
        ),
    ] = None,
    device: o.Device = None,
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
    revision: Annotated[
        str | None,
        typer.Option(
            "--revision",
            help="Hub dataset branch, tag or sha (the resolved commit is recorded).",
            rich_help_panel=DATA,
        ),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="Dataset split.", rich_help_panel=DATA)
    ] = "train",
    limit: Annotated[
        int | None, typer.Option("--limit", help="Use only the first N rows.", rich_help_panel=DATA)
    ] = None,
    val_size: Annotated[
        float,
        typer.Option(
            "--val-size",
            help="Held-out rows: a fraction (0.1) or a count (200); 0 = none. Seeded.",
            rich_help_panel=DATA,
        ),
    ] = 0.1,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="auto, text (--template), completion (--prompt-template + --completion-field) or chat (messages).",
            rich_help_panel=DATA,
        ),
    ] = "auto",
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            help="Text template with {field} references, e.g. 'Quote by {author}: {text}'. EOS is appended.",
            rich_help_panel=DATA,
        ),
    ] = None,
    prompt_template: Annotated[
        str | None,
        typer.Option(
            "--prompt-template",
            help="Prompt template; loss is computed on the completion only.",
            rich_help_panel=DATA,
        ),
    ] = None,
    completion_field: Annotated[
        str | None,
        typer.Option(
            "--completion-field",
            help="Field the model learns to write after the prompt.",
            rich_help_panel=DATA,
        ),
    ] = None,
    messages_field: Annotated[
        str,
        typer.Option(
            "--messages-field",
            help="Field with [{role, content}, …] for --format chat.",
            rich_help_panel=DATA,
        ),
    ] = "messages",
    max_length: Annotated[
        int,
        typer.Option(
            "--max-length",
            help="Longest example in tokens (longer ones are cut).",
            rich_help_panel=DATA,
        ),
    ] = 512,
    drop_long: Annotated[
        bool,
        typer.Option(
            "--drop-long",
            help="Skip examples longer than --max-length instead of cutting them.",
            rich_help_panel=DATA,
        ),
    ] = False,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="lora, qlora (4-bit, CUDA), full, or dpo / orpo (preference pairs: "
            "prompt/chosen/rejected fields; a LoRA adapter).",
            rich_help_panel=METHOD,
        ),
    ] = "lora",
    lora_r: Annotated[
        int, typer.Option("--lora-r", help="LoRA rank.", rich_help_panel=METHOD)
    ] = 16,
    lora_alpha: Annotated[
        float,
        typer.Option("--lora-alpha", help="LoRA scaling (alpha / r).", rich_help_panel=METHOD),
    ] = 32,
    lora_dropout: Annotated[
        float,
        typer.Option("--lora-dropout", help="Dropout on the LoRA path.", rich_help_panel=METHOD),
    ] = 0.05,
    target_modules: Annotated[
        str | None,
        typer.Option(
            "--target-modules",
            help="Comma-separated module names (default: the architecture's preset).",
            rich_help_panel=METHOD,
        ),
    ] = None,
    gradient_checkpointing: Annotated[
        bool | None,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing",
            help="Recompute activations: much less memory, ~25-35 % slower. "
            "Default: on when the longest batch's activations would outweigh the weights.",
            rich_help_panel=METHOD,
            show_default=False,
        ),
    ] = None,
    beta: Annotated[
        float | None,
        typer.Option(
            "--beta",
            help="dpo: strength of the pull towards the base model; orpo: weight of the "
            "odds-ratio term (default 0.1).",
            rich_help_panel=METHOD,
        ),
    ] = None,
    epochs: Annotated[
        float, typer.Option("--epochs", help="Passes over the training rows.", rich_help_panel=LOOP)
    ] = 1.0,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps",
            help="Stop after N optimizer steps (overrides --epochs).",
            rich_help_panel=LOOP,
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr",
            help="Learning rate (default 2e-4 for LoRA, 2e-5 for full).",
            rich_help_panel=LOOP,
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Examples per forward pass.", rich_help_panel=LOOP)
    ] = 8,
    grad_accum: Annotated[
        int,
        typer.Option(
            "--grad-accum", help="Forward passes per optimizer step.", rich_help_panel=LOOP
        ),
    ] = 1,
    warmup: Annotated[
        float,
        typer.Option(
            "--warmup",
            help="Warm-up steps (≥ 1) or fraction of all steps (< 1).",
            rich_help_panel=LOOP,
        ),
    ] = 0.0,
    seed: Annotated[
        int,
        typer.Option(
            "--seed", help="Seed for the split, LoRA init and batch order.", rich_help_panel=LOOP
        ),
    ] = 42,
    save_steps: Annotated[
        int,
        typer.Option(
            "--save-steps", help="Checkpoint every N steps (and on Ctrl-C).", rich_help_panel=LOOP
        ),
    ] = 50,
    eval_steps: Annotated[
        int | None,
        typer.Option("--eval-steps", help="Held-out loss every N steps too.", rich_help_panel=LOOP),
    ] = None,
    report_to: Annotated[
        str, typer.Option("--report-to", help="none, tensorboard or mlflow.", rich_help_panel=LOOP)
    ] = "none",
    sample_prompt: Annotated[
        list[str] | None,
        typer.Option(
            "--sample-prompt",
            help="Prompt to sample before and after (repeatable). Default: prompts from held-out rows.",
            rich_help_panel=EVAL,
        ),
    ] = None,
    num_samples: Annotated[
        int,
        typer.Option(
            "--num-samples",
            help="Samples from held-out rows when no --sample-prompt.",
            rich_help_panel=EVAL,
        ),
    ] = 8,
    sample_max_new_tokens: Annotated[
        int,
        typer.Option(
            "--sample-max-new-tokens",
            help="Token limit of each sample (the stop-rate limit).",
            rich_help_panel=EVAL,
        ),
    ] = 64,
    eval_cache: Annotated[
        bool,
        typer.Option(
            "--eval-cache/--no-eval-cache",
            help="Reuse the evaluation before training of the same model, data and options.",
            rich_help_panel=EVAL,
        ),
    ] = True,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Run name (default: <data>-<model>-<method>).", rich_help_panel=RUN
        ),
    ] = None,
    output_dir: Annotated[
        str, typer.Option("--output-dir", help="Where run folders go.", rich_help_panel=RUN)
    ] = "runs",
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue from the last checkpoint (same options only).",
            rich_help_panel=RUN,
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an existing run folder.", rich_help_panel=RUN),
    ] = False,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge", help="Also write merged/ (base + adapter, safetensors).", rich_help_panel=RUN
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Stop after the preflight report.", rich_help_panel=RUN),
    ] = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Fine-tune a causal LM on your data (LoRA by default), with a preflight report and a
    before/after evaluation. Ctrl-C saves a checkpoint; --resume continues it."""
    from ..train import FinetuneOptions
    from ..train import finetune as run_finetune

    options = FinetuneOptions.from_kwargs(
        revision=revision,
        split=split,
        limit=limit,
        val_size=int(val_size) if val_size >= 1 and float(val_size).is_integer() else val_size,
        format=fmt,
        template=template,
        prompt_template=prompt_template,
        completion_field=completion_field,
        messages_field=messages_field,
        max_length=max_length,
        drop_long=drop_long,
        model_revision=model_revision,
        device=device,
        trust_remote_code=trust_remote_code,
        trust_pickle=trust_pickle,
        method=method,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=target_modules,
        gradient_checkpointing=gradient_checkpointing,
        beta=beta,
        epochs=epochs,
        max_steps=max_steps,
        lr=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        warmup=warmup,
        seed=seed,
        save_steps=save_steps,
        eval_steps=eval_steps,
        report_to=report_to,
        sample_prompts=tuple(sample_prompt or ()),
        num_samples=num_samples,
        sample_max_new_tokens=sample_max_new_tokens,
        eval_cache=eval_cache,
        name=name,
        output_dir=output_dir,
        resume=resume,
        overwrite=overwrite,
        merge=merge,
        dry_run=dry_run,
    )
    reporter = CliReporter(quiet, json_out)
    try:
        result = run_finetune(data, model, options, reporter=reporter)
    finally:
        reporter.train_end()
    if json_out:
        print_json(result.to_dict())
    elif result.status == "completed":
        _print_summary(result)
    for line in result.warnings():
        note(f"warning: {line}")
    if result.status == "interrupted":
        info(
            f"stopped at step {result.steps}/{result.max_steps}; checkpoint: {result.checkpoint}. "
            "Continue with the same command plus --resume.",
            quiet=False,
        )
        raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)
