"""`finetune()`: data → model → method → preflight → run folder → evaluation before → training
→ save + evaluation after, one named step per function, each reading and filling a `Run`.

The training loop is the Hugging Face `Trainer` (train/trainer.py; TRL's DPO/ORPO trainers for
preference data, train/preference.py). It brings checkpoints with optimizer/scheduler/RNG
state, exact resume, gradient accumulation, mixed precision, length-grouped batches and
`report_to` integrations; this package feeds it tensors built by `template.Encoder` (so the
labels the preflight checks are the labels trained on) and adds what it lacks: a chunked loss
that never holds full-vocabulary logits (train/loss.py), Ctrl-C/SIGTERM → checkpoint, a config
hash that guards `--resume`, per-step metrics.jsonl, a metrics.json whose status stays true
when the run is killed, the cached evaluation before training (train/evalcache.py) and the
run folder (train/rundir.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .. import runlog as runs
from ..errors import InputError, QuantizationUnavailableError
from . import data as data_mod
from . import rundir
from .evaluate import Evaluation
from .options import FinetuneOptions, FinetuneResult, Reporter
from .trainer import (
    bound_allocator,
    check_report_to,
    quiet,
    sigterm_as_interrupt,
    trim_allocator,
)

__all__ = ["FinetuneOptions", "FinetuneResult", "Reporter", "finetune"]


# What metrics.json's status says while the run lives ("failed" is written by the error path)
Phase = Literal[
    "starting",
    "evaluating before training",
    "training",
    "saving",
    "evaluating after training",
    "interrupted",
    "completed",
]


@dataclass
class Run:
    """What the steps hand each other."""

    options: FinetuneOptions
    reporter: Reporter
    began: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    resolved: Any = None
    records: Any = None
    fmt: str = "text"
    template: str | None = None
    loaded: Any = None
    encoder: Any = None
    train_enc: Any = None
    val_enc: Any = None
    collator: Any = None
    net: Any = None
    applied: Any = None
    checkpointing: tuple[bool, str] = (False, "")
    loss: tuple[Any, str] = (None, "")
    prompts: list[str] = field(default_factory=list)
    steps: int = 0
    epochs: float = 0.0
    result: FinetuneResult | None = None
    run_dir: Path | None = None
    checkpoint: Path | None = None
    summary: rundir.Summary | None = None
    phase: Phase = "starting"
    trainer: Any = None

    def timed(self, name: str, since: float) -> None:
        self.timings[name] = time.perf_counter() - since

    def rounded_timings(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.timings.items()}

    def at(self, status: Phase, **fields: Any) -> None:
        """Enter a phase: metrics.json says it at once."""
        self.phase = status
        if self.summary is not None:
            self.summary.update(status=status, **fields)


def finetune(
    data: str,
    model: str | None = None,
    options: FinetuneOptions | None = None,
    *,
    reporter: Reporter | None = None,
    callbacks: tuple[Any, ...] = (),
) -> FinetuneResult:
    """Fine-tune `model` (alias, Hub id or path) on `data` (file or Hub dataset id).

    `callbacks` are extra `transformers.TrainerCallback`s (tests use one to slow steps down)."""
    run = Run((options or FinetuneOptions()).validate(), reporter or Reporter())
    check_report_to(run.options.report_to)
    bound_allocator()
    place_model(run, model)
    prepare_data(run, data)
    load_model(run)
    encode_data(run)
    apply_method(run)
    run_preflight(run)
    if run.options.dry_run:
        run.result.timings = run.rounded_timings()
        return run.result
    open_run(run, data)
    with sigterm_as_interrupt():
        try:
            evaluate_before(run)
            trainer, interrupt = train(run, callbacks)
            if interrupt.requested:
                return stopped(run, trainer)
            save(run, trainer)
        except BaseException as exc:
            record_failure(run, exc)
            raise
    return run.result


# ---------------------------------------------------------------- steps
def place_model(run: Run, model: str | None) -> None:
    """Device first: a qlora run on a CPU machine fails before any data is read."""
    from ..models.loading import choose_device
    from ..models.registry import TEXT_GENERATION, resolve

    o = run.options
    run.device = choose_device(o.device)
    if o.method == "qlora" and not run.device.startswith("cuda"):
        raise QuantizationUnavailableError(
            f"--method qlora loads the model in 4-bit with bitsandbytes, which needs a CUDA GPU; "
            f"this run is on {run.device}",
            hint="use --method lora (full-precision LoRA works on CPU and MPS)",
        )
    run.resolved = resolve(model, task=TEXT_GENERATION, revision=o.model_revision)


def prepare_data(run: Run, data: str) -> None:
    """Read the rows, choose the format, check every field it reads, split off held-out rows."""
    from . import preference
    from .template import check_fields, choose_format, default_template

    o = run.options
    run.reporter.status("reading data…")
    records = data_mod.load(data, revision=o.revision, split=o.split, limit=o.limit)
    if o.preference:
        preference.check_rows(records, o.method)
        run.fmt, run.template = "preference", None
    else:
        run.fmt = choose_format(
            o.format,
            template=o.template,
            prompt_template=o.prompt_template,
            fields=records.fields,
            messages_field=o.messages_field,
        )
        run.template = o.template or (
            default_template(records.fields) if run.fmt == "text" else None
        )
        check_fields(
            run.fmt,
            records.fields,
            template=run.template,
            prompt_template=o.prompt_template,
            completion_field=o.completion_field,
            messages_field=o.messages_field,
        )
    run.records = data_mod.split(records, o.val_size, o.seed)


def load_model(run: Run) -> None:
    from ..models.loading import load_causal_lm

    o = run.options
    run.reporter.status(f"loading {run.resolved.label}…")
    start = time.perf_counter()
    half = run.device.startswith("cuda") and o.adapter_method != "full"
    with quiet():
        run.loaded = load_causal_lm(
            run.resolved,
            device=run.device,
            dtype="auto" if half else "float32",
            quantize="4bit" if o.method == "qlora" else None,
            trust_remote_code=o.trust_remote_code,
            trust_pickle=o.trust_pickle,
        )
    run.timed("load_s", start)


def encode_data(run: Run) -> None:
    """Rows → token ids + labels (EOS appended), the sample prompts, the step count."""
    from . import preference
    from .template import Collator, Encoder

    o = run.options
    if o.preference:
        run.encoder = preference.PairEncoder(
            run.loaded.tokenizer, o.max_length, o.drop_long, bos=o.method == "orpo"
        )
    else:
        run.encoder = Encoder(
            run.loaded.tokenizer,
            run.fmt,
            template=run.template,
            prompt_template=o.prompt_template,
            completion_field=o.completion_field,
            messages_field=o.messages_field,
            max_length=o.max_length,
            drop_long=o.drop_long,
        )
    run.train_enc = run.encoder.encode(run.records.train)
    run.val_enc = run.encoder.encode(run.records.val)
    if not run.train_enc.examples:
        raise InputError(
            "no training example is left after rendering and --max-length",
            hint="raise --max-length, drop --drop-long, or check the template",
        )
    run.collator = Collator(run.encoder.pad_id)
    rows = len(run.records.train)  # pairs count once, though each holds two sequences
    per_epoch = max(1, math.ceil(rows / o.batch_size) // o.grad_accum)
    run.steps = o.max_steps or math.ceil(o.epochs * per_epoch)
    run.epochs = o.epochs if not o.max_steps else round(run.steps / per_epoch, 3)
    sample_rows = run.records.val or run.records.train
    run.prompts = list(o.sample_prompts) or [
        p
        for p in (
            run.encoder.sample_prompt(r, i) for i, r in enumerate(sample_rows[: o.num_samples])
        )
        if p
    ]


def apply_method(run: Run) -> None:
    """LoRA / QLoRA / full on the loaded model, with gradient checkpointing where it pays."""
    from . import methods, preflight

    o = run.options
    net = run.loaded.model
    width = max(len(e.input_ids) for e in run.train_enc.examples)
    per_layer = 0 if o.adapter_method == "full" else 7
    rows = o.batch_size * (2 if o.preference else 1)
    run.checkpointing = preflight.choose_checkpointing(
        o.gradient_checkpointing, net, rows, width, per_layer
    )
    with quiet():
        from transformers import set_seed  # imports peft (→ bitsandbytes): keep it quiet

        set_seed(o.seed)
        run.net, run.applied = methods.apply(
            net,
            o.adapter_method,
            lora_r=o.lora_r,
            lora_alpha=o.lora_alpha,
            lora_dropout=o.lora_dropout,
            target_modules=o.target_modules,
            gradient_checkpointing=run.checkpointing[0],
        )
    run.applied.method = o.method


def run_preflight(run: Run) -> None:
    from . import preflight
    from .loss import check_chunked

    o, records = run.options, run.records
    start = time.perf_counter()
    with quiet():
        probe = sorted(run.train_enc.examples, key=lambda e: len(e.input_ids))[:2]
        batch = run.collator([{"input_ids": e.input_ids, "labels": e.labels} for e in probe])
        device = next(run.net.parameters()).device
        run.loss = check_chunked(run.net, {k: v.to(device) for k, v in batch.items()})
        if o.preference:
            run.loss = (run.loss[0], "TRL's loss (" + o.method + ") on the model's logits")
        report = preflight.build(
            source={
                "source": records.source.label,
                "kind": records.source.kind,
                "revision": records.source.resolved_revision,
                "total": records.total,
            },
            fmt=run.fmt,
            template={
                "template": run.template,
                "prompt_template": o.prompt_template,
                "completion_field": o.completion_field,
                "messages_field": o.messages_field if run.fmt == "chat" else None,
            },
            tokenizer=run.loaded.tokenizer,
            train=run.train_enc,
            val=run.val_enc,
            max_length=o.max_length,
            collator=run.collator,
            model=run.net,
            applied=run.applied,
            device=run.loaded.device,
            dtype=run.loaded.dtype,
            steps=run.steps,
            epochs=run.epochs,
            batch_size=o.batch_size,
            grad_accum=o.grad_accum,
            gradient_checkpointing=run.checkpointing,
            loss=run.loss if not o.preference else (None, run.loss[1]),
            eval_batches=math.ceil(len(run.val_enc.examples) / o.batch_size),
            sample_count=len(run.prompts),
            sample_max_new_tokens=o.sample_max_new_tokens,
            sequences_per_row=2 if o.preference else 1,
        )
    run.timed("preflight_s", start)
    run.reporter.preflight(report)
    model_id = run.resolved.alias or run.resolved.id
    runs.annotate(
        task="finetune", model=model_id, revision=run.loaded.revision, device=run.loaded.device
    )
    run.result = FinetuneResult(
        status="dry-run",
        run_dir=None,
        model=model_id,
        revision=run.loaded.revision,
        data=records.source.to_dict(),
        preflight=report,
        max_steps=run.steps,
    )


def open_run(run: Run, data: str) -> None:
    """The run folder: created, or checked against --resume; metrics.json from here on."""
    o, result = run.options, run.result
    name = o.name or rundir.default_name(data, result.model, o.method)
    run.run_dir = Path(o.output_dir).expanduser() / name
    config = rundir.build_config(
        o, run.resolved, run.loaded, run.records, run.fmt, run.template, run.applied,
        result.preflight, run.steps,
    )  # fmt: skip
    run.checkpoint = rundir.prepare(run.run_dir, o, config)
    run.summary = rundir.Summary(run.run_dir, resumed=run.checkpoint is not None)
    result.run_dir = str(run.run_dir)
    runs.annotate(run_dir=str(run.run_dir))


def _evaluation(run: Run, *, base: bool) -> Evaluation:
    """Held-out loss (or pair metrics) + samples; the base model's samples on the fastest
    calibrated engine when there is one."""
    from . import evaluate as ev
    from . import preference

    o = run.options
    engine = None
    if base and run.prompts and not o.trust_remote_code and o.method != "qlora":
        engine = ev.calibrated_engine(run.resolved, run.loaded.device)
    with quiet():
        evaluation = ev.evaluate(
            run.net, run.loaded.tokenizer, [] if o.preference else run.val_enc.examples,
            run.collator, run.prompts, chat=run.fmt == "chat", batch_size=o.batch_size,
            max_new_tokens=o.sample_max_new_tokens, engine=engine, resolved=run.resolved,
        )  # fmt: skip
        if o.preference:
            before = None if base else run.result.before
            preference.add_pair_metrics(evaluation, run, before)
    return evaluation


def evaluate_before(run: Run) -> None:
    """Kept from an interrupted attempt, else from the evaluation cache, else measured."""
    from . import evalcache
    from . import evaluate as ev

    o, result, summary = run.options, run.result, run.summary
    if summary.data.get("before"):
        result.before = Evaluation.from_dict(summary.data["before"])
        run.reporter.status("evaluation before training: kept from the interrupted attempt")
    else:
        engine = ev.calibrated_engine(run.resolved, run.loaded.device) if run.prompts else None
        entry = evalcache.key(
            evalcache.model_hash(run.resolved, run.loaded.revision) if o.eval_cache else None,
            run.val_enc.examples, run.prompts, chat=run.fmt == "chat", device=run.loaded.device,
            dtype=run.loaded.dtype, max_new_tokens=o.sample_max_new_tokens, engine=engine,
            method=o.method, beta=o.preference_beta if o.preference else None,
        )  # fmt: skip
        result.before = evalcache.load(entry)
        if result.before is not None:
            run.reporter.status("evaluation before training: cached (same model, data, options)")
        else:
            run.at("evaluating before training")
            run.reporter.status(
                f"evaluating before training ({len(run.val_enc.examples)} held-out examples, "
                f"{len(run.prompts)} samples)…"
            )
            result.before = _evaluation(run, base=True)
            evalcache.store(entry, result.before)
        run.summary.data["before"] = result.before.to_dict()
    run.timings["eval_before_s"] = 0.0 if result.before.cached else result.before.seconds


def train(run: Run, callbacks: tuple[Any, ...]):
    from . import preference
    from .evaluate import eval_loss
    from .trainer import make_trainer

    o = run.options
    run.at("training", step=run.summary.data.get("step", 0), max_steps=run.steps)
    trim_allocator()
    if o.preference:
        trainer, interrupt = preference.make_trainer(run, callbacks)
    else:
        trainer, interrupt = make_trainer(
            run.net, o, run.device, run.run_dir, run.train_enc, run.collator, run.reporter,
            callbacks, lambda: eval_loss(run.net, run.val_enc.examples, run.collator,
                                         o.batch_size)[0],
            run.loss[0],
        )  # fmt: skip
    if run.checkpoint:
        run.reporter.status(f"resuming from {run.checkpoint.name}")
    run.trainer = trainer
    start = time.perf_counter()
    run.net.config.use_cache = False
    with quiet(), interrupt.installed():
        output = trainer.train(
            resume_from_checkpoint=str(run.checkpoint) if run.checkpoint else None
        )
    run.net.config.use_cache = True
    run.timed("train_s", start)
    result = run.result
    result.steps, result.max_steps = trainer.state.global_step, trainer.state.max_steps
    result.train_loss = float(output.training_loss) if output and output.training_loss else None
    last = rundir.last_checkpoint(run.run_dir)
    result.checkpoint = str(last) if last else None
    return trainer, interrupt


def stopped(run: Run, trainer) -> FinetuneResult:
    """Ctrl-C / SIGTERM during training: a checkpoint was saved; say so in metrics.json."""
    result = run.result
    result.status = "interrupted"
    run.at("interrupted", phase="training", step=result.steps, max_steps=result.max_steps,
           checkpoint=result.checkpoint, memory=measured_memory(run))  # fmt: skip
    result.timings = run.rounded_timings()
    return result


def save(run: Run, trainer) -> None:
    """Weights, evaluation after, metrics.json, merged model, loss plot, model card."""
    from . import card

    o, result = run.options, run.result
    run.at("saving", step=result.steps, max_steps=result.max_steps)
    run.reporter.status("saving…")
    start = time.perf_counter()
    artifacts = rundir.save_weights(
        run.net, run.loaded.tokenizer, run.run_dir, o.adapter_method, run.resolved, run.loaded
    )
    run.timed("save_s", start)
    run.at("evaluating after training")
    run.reporter.status("evaluating after training…")
    result.after = _evaluation(run, base=False)
    run.timings["eval_after_s"] = result.after.seconds
    if o.merge and o.adapter_method != "full":
        run.reporter.status("merging the adapter into the base weights…")
        from .merge import merge_run

        start = time.perf_counter()
        artifacts["merged"] = str(merge_run(run.run_dir))
        run.timed("merge_s", start)
    result.status = "completed"
    run.timings["total_s"] = time.perf_counter() - run.began
    result.timings = run.rounded_timings()
    run.at(
        "completed", phase="done", after=result.after.to_dict(), step=result.steps,
        steps=result.steps, max_steps=result.max_steps,
        epochs=round(trainer.state.epoch or 0, 4), train_loss=result.train_loss,
        train_runtime_s=round(run.timings["train_s"], 3), timings=result.timings,
        memory=measured_memory(run),
    )  # fmt: skip
    plot = card.plot_losses(run.run_dir)
    if plot:
        artifacts["loss_png"] = str(plot)
    artifacts["card"] = str(card.write(run.run_dir))
    result.artifacts = artifacts
    runs.annotate(
        steps=result.steps,
        eval_loss_before=result.before.eval_loss if result.before else None,
        eval_loss_after=result.after.eval_loss,
        stop_rate_after=result.after.stop_rate,
    )


def measured_memory(run: Run) -> dict[str, Any]:
    """The preflight's estimate next to the peak this process reached (ru_maxrss)."""
    from .preflight import resident_bytes

    estimate = run.result.preflight.memory.get("total", 0)
    peak = resident_bytes()[1]
    run.result.memory = {
        "estimated_peak_bytes": estimate,
        "measured_peak_bytes": peak,
        "estimate_over_measured": round(estimate / peak, 3) if peak else None,
    }
    return run.result.memory


def record_failure(run: Run, exc: BaseException) -> None:
    """Whatever stopped the run (KeyboardInterrupt from Ctrl-C or SIGTERM, an exception),
    metrics.json says so, with the phase and the step it reached."""
    from .._util import first_line as _first_line

    if run.summary is None:
        return
    trainer = getattr(run, "trainer", None)
    step = trainer.state.global_step if trainer is not None else run.summary.data.get("step", 0)
    interrupted = isinstance(exc, KeyboardInterrupt)
    run.summary.update(
        status="interrupted" if interrupted else "failed",
        phase=run.phase,
        step=step,
        max_steps=run.steps,
        error=None if interrupted else f"{type(exc).__name__}: {_first_line(exc)}",
    )
