"""`finetune()`: data → preflight → evaluation before → training → evaluation after → run folder.

The training loop is the Hugging Face `Trainer` (with peft for LoRA/QLoRA). It brings
checkpoints with optimizer/scheduler/RNG state, exact resume, gradient accumulation, mixed
precision, length-grouped batches and `report_to` integrations; this module feeds it tensors
built by `template.Encoder` (so the labels the preflight checks are the labels trained on) and
adds what it lacks: Ctrl-C → checkpoint, a config hash that guards `--resume`, per-step
metrics.jsonl, loss-only evaluation and the run folder.

Run folder (`runs/<name>/`):
    config.yaml      every argument, resolved model/data revisions, library versions, config hash
    metrics.jsonl    one line per step (loss, learning rate, grad norm) and per evaluation
    metrics.json     before/after evaluation, training summary, status
    checkpoints/     Trainer checkpoints (the last two)
    adapter/         the LoRA adapter + tokenizer (lora, qlora)   | model/ (full)
    merged/          with --merge: base + adapter merged, safetensors
    loss.png         train/eval loss curves
    README.md        the model card
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import runs
from ..errors import (
    InputError,
    InvalidOptionError,
    QuantizationUnavailableError,
    ResumeMismatchError,
    RunExistsError,
    reject_unknown_options,
)
from . import data as data_mod
from .evaluate import Evaluation
from .methods import METHODS, Applied
from .preflight import Preflight
from .template import FORMATS

REPORT_TO = ("none", "tensorboard", "mlflow")
# Arguments that decide what is trained; a resumed run must match them (the config hash).
# Checkpoint/eval cadence, reporting, samples, naming and merging may change between attempts.
_UNHASHED = {
    "name",
    "output_dir",
    "resume",
    "overwrite",
    "merge",
    "dry_run",
    "save_steps",
    "eval_steps",
    "report_to",
    "sample_prompts",
    "num_samples",
    "sample_max_new_tokens",
    "device",
    "trust_remote_code",
    "trust_pickle",
}


# ---------------------------------------------------------------- options
@dataclass(frozen=True)
class FinetuneOptions:
    """Every knob of a fine-tuning run (the CLI flags, one for one)."""

    # data
    revision: str | None = None  # Hub dataset revision (branch, tag or sha)
    split: str = "train"
    limit: int | None = None
    val_size: float = 0.1
    format: str = "auto"  # auto | text | completion | chat
    template: str | None = None
    prompt_template: str | None = None
    completion_field: str | None = None
    messages_field: str = "messages"
    max_length: int = 512
    drop_long: bool = False
    # model
    model_revision: str | None = None
    device: str | None = None
    trust_remote_code: bool = False
    trust_pickle: bool = False
    # method
    method: str = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ()
    gradient_checkpointing: bool = False
    # training loop
    epochs: float = 1.0
    max_steps: int | None = None
    lr: float | None = None  # default: 2e-4 for lora/qlora, 2e-5 for full
    batch_size: int = 8
    grad_accum: int = 1
    warmup: float = 0.0  # steps (≥ 1) or a fraction of all steps (< 1)
    seed: int = 42
    save_steps: int = 50
    eval_steps: int | None = None
    report_to: str = "none"
    # evaluation
    sample_prompts: tuple[str, ...] = ()
    num_samples: int = 10
    sample_max_new_tokens: int = 128
    # run folder
    name: str | None = None
    output_dir: str = "runs"
    resume: bool = False
    overwrite: bool = False
    merge: bool = False
    dry_run: bool = False

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return 2e-5 if self.method == "full" else 2e-4

    def validate(self) -> FinetuneOptions:
        def bad(flag: str, value: Any, rule: str, example: str) -> InvalidOptionError:
            return InvalidOptionError(
                f"--{flag} must be {rule} (got {value!r})", hint=f"e.g. --{flag} {example}"
            )

        def whole(value: Any, low: int) -> bool:
            return isinstance(value, int) and not isinstance(value, bool) and value >= low

        def number(value: Any) -> bool:
            return (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
            )

        if self.method not in METHODS:
            raise InvalidOptionError(
                f"unknown --method '{self.method}'", hint=f"use one of: {', '.join(METHODS)}"
            )
        if self.format not in FORMATS:
            raise InvalidOptionError(
                f"unknown --format '{self.format}'", hint=f"use one of: {', '.join(FORMATS)}"
            )
        if self.report_to not in REPORT_TO:
            raise InvalidOptionError(
                f"unknown --report-to '{self.report_to}'",
                hint=f"use one of: {', '.join(REPORT_TO)}",
            )
        for flag, value, low, example in (
            ("max-length", self.max_length, 8, "512"),
            ("lora-r", self.lora_r, 1, "16"),
            ("batch-size", self.batch_size, 1, "8"),
            ("grad-accum", self.grad_accum, 1, "4"),
            ("seed", self.seed, 0, "42"),
            ("save-steps", self.save_steps, 1, "50"),
            ("num-samples", self.num_samples, 0, "10"),
            ("sample-max-new-tokens", self.sample_max_new_tokens, 1, "128"),
        ):
            if not whole(value, low):
                raise bad(flag, value, f"a whole number ≥ {low}", example)
        if self.limit is not None and not whole(self.limit, 1):
            raise bad("limit", self.limit, "a whole number ≥ 1", "1000")
        if self.max_steps is not None and not whole(self.max_steps, 1):
            raise bad("max-steps", self.max_steps, "a whole number ≥ 1", "200")
        if self.eval_steps is not None and not whole(self.eval_steps, 1):
            raise bad("eval-steps", self.eval_steps, "a whole number ≥ 1", "50")
        if not number(self.lora_alpha) or self.lora_alpha <= 0:
            raise bad("lora-alpha", self.lora_alpha, "a number > 0", "32")
        if not number(self.lora_dropout) or not 0 <= self.lora_dropout < 1:
            raise bad("lora-dropout", self.lora_dropout, "in [0, 1)", "0.05")
        if not number(self.epochs) or self.epochs <= 0:
            raise bad("epochs", self.epochs, "a number > 0", "1")
        if self.lr is not None and (not number(self.lr) or not 0 < self.lr < 1):
            raise bad("lr", self.lr, "a number in (0, 1)", "2e-4")
        if (
            not number(self.warmup)
            or self.warmup < 0
            or (self.warmup >= 1 and not float(self.warmup).is_integer())
        ):
            raise bad(
                "warmup", self.warmup, "a step count (≥ 1) or a fraction of all steps (< 1)", "0.03"
            )
        data_mod.held_out_count(
            10**9, self.val_size
        )  # type check only; the real count needs the data
        if self.prompt_template and not self.completion_field:
            raise InvalidOptionError(
                "--prompt-template needs --completion-field (the field the model learns to write)",
                hint="e.g. --prompt-template 'Question: {question}\\nAnswer:' --completion-field answer",
            )
        if self.completion_field and not self.prompt_template:
            raise InvalidOptionError(
                "--completion-field needs --prompt-template (what the model is given)",
                hint="e.g. --prompt-template 'Quote by {author}:' --completion-field text",
            )
        if self.format == "completion" and not self.prompt_template:
            raise InvalidOptionError(
                "--format completion needs --prompt-template and --completion-field",
                hint="e.g. --prompt-template 'Quote by {author}:' --completion-field text",
            )
        if self.format == "chat" and (self.template or self.prompt_template):
            raise InvalidOptionError(
                "--format chat renders messages with the model's chat template; drop --template",
            )
        if self.resume and self.overwrite:
            raise InvalidOptionError("--resume and --overwrite contradict each other")
        if self.name is not None and not re.fullmatch(r"[A-Za-z0-9][\w.\-]{0,99}", self.name):
            raise bad("name", self.name, "letters, digits, '.', '_' or '-'", "quotes-lora")
        return self

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["target_modules"] = list(self.target_modules)
        out["sample_prompts"] = list(self.sample_prompts)
        out["lr"] = self.learning_rate
        return out

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> FinetuneOptions:
        reject_unknown_options(kwargs, (f.name for f in fields(cls)), "fine-tuning")
        for key in ("target_modules", "sample_prompts"):
            value = kwargs.get(key)
            if isinstance(value, str):
                kwargs[key] = (
                    tuple(v.strip() for v in value.split(",") if v.strip())
                    if key == "target_modules"
                    else (value,)
                )
            elif value is not None:
                kwargs[key] = tuple(value)
        return cls(**{k: v for k, v in kwargs.items() if v is not None}).validate()


# ---------------------------------------------------------------- reporting hooks
class Reporter:
    """What the caller sees while a run goes. The CLI prints; the default is silent."""

    def status(self, message: str) -> None:
        pass

    def preflight(self, report: Preflight) -> None:
        pass

    def train_start(self, total_steps: int, start_step: int) -> None:
        pass

    def train_progress(
        self, step: int, total: int, loss: float | None, eta_s: float | None
    ) -> None:
        pass

    def train_end(self) -> None:
        pass


# ---------------------------------------------------------------- result
@dataclass
class FinetuneResult:
    status: str  # dry-run | completed | interrupted
    run_dir: str | None
    model: str
    revision: str | None
    data: dict[str, Any]
    preflight: Preflight
    before: Evaluation | None = None
    after: Evaluation | None = None
    steps: int = 0
    max_steps: int = 0
    train_loss: float | None = None
    checkpoint: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "run_dir": self.run_dir,
            "model": self.model,
            "revision": self.revision,
            "data": self.data,
            "preflight": self.preflight.to_dict(),
            "before": self.before.to_dict() if self.before else None,
            "after": self.after.to_dict() if self.after else None,
            "steps": self.steps,
            "max_steps": self.max_steps,
            "train_loss": self.train_loss,
            "checkpoint": self.checkpoint,
            "artifacts": self.artifacts,
            "timings": self.timings,
        }

    def table(self) -> list[tuple[str, str, str]]:
        """(metric, before, after) rows of the before/after table."""
        return comparison(self.before, self.after)


def comparison(before: Evaluation | None, after: Evaluation | None) -> list[tuple[str, str, str]]:
    def val(ev: Evaluation | None, attr: str, fmt: str) -> str:
        value = getattr(ev, attr, None) if ev else None
        return "-" if value is None else format(value, fmt)

    rows = [
        ("eval loss", val(before, "eval_loss", ".4f"), val(after, "eval_loss", ".4f")),
        ("perplexity", val(before, "perplexity", ".2f"), val(after, "perplexity", ".2f")),
        ("stop rate", val(before, "stop_rate", ".0%"), val(after, "stop_rate", ".0%")),
    ]
    return rows


# ---------------------------------------------------------------- run folder helpers
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (
        "pretrained",
        "torch",
        "transformers",
        "peft",
        "accelerate",
        "datasets",
        "huggingface_hub",
        "bitsandbytes",
    ):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.").lower()[:60] or "run"


def default_name(data: str, model: str, method: str) -> str:
    stem = Path(data).stem if Path(data).suffix else data.rsplit("/", 1)[-1]
    return f"{_slug(stem)}-{_slug(model.rsplit('/', 1)[-1])}-{method}"


def config_hash(config: dict[str, Any]) -> str:
    hashed = {k: config[k] for k in ("base_model", "data", "method", "training")}
    return hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for section in ("base_model", "data", "method", "training"):
        a, b = old.get(section) or {}, new.get(section) or {}
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"{section}.{key}: {a.get(key)!r} → {b.get(key)!r}")
    return out


def read_config(run_dir: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((run_dir / "config.yaml").read_text()) or {}


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    import yaml

    from ..models.loading import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from ..models.loading import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest *complete* checkpoint: the Trainer writes trainer_state.json last, so a folder
    without it was cut short (kill -9 in the middle of a save) and is skipped."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return None
    found = []
    for item in folder.iterdir():
        m = re.fullmatch(r"checkpoint-(\d+)", item.name)
        if m and (item / "trainer_state.json").exists():
            found.append((int(m.group(1)), item))
    return max(found)[1] if found else None


def _trim_metrics(path: Path, step: int) -> None:
    """On resume, drop per-step lines logged after the checkpoint (they will be redone)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
    path.write_text("".join(line + "\n" for line in keep))


# ---------------------------------------------------------------- Trainer callbacks
def _callbacks(run_dir: Path, reporter: Reporter, eval_fn, eval_steps: int | None):
    from transformers import TrainerCallback

    class Interrupt(TrainerCallback):
        """Ctrl-C: finish the current step, save a checkpoint, stop. A second Ctrl-C stops now."""

        def __init__(self) -> None:
            self.requested = False
            self._previous: Any = None

        def _handle(self, signum, frame) -> None:  # noqa: ARG002
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            reporter.status(
                "interrupted: finishing this step and saving a checkpoint "
                "(Ctrl-C again to stop without saving)…"
            )

        @contextlib.contextmanager
        def installed(self) -> Iterator[None]:
            main = threading.current_thread() is threading.main_thread()
            if main:
                self._previous = signal.signal(signal.SIGINT, self._handle)
            try:
                yield
            finally:
                if main:
                    signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)

        def on_step_end(self, args, state, control, **kwargs):
            if self.requested:
                control.should_save = True
                control.should_training_stop = True

    class Progress(TrainerCallback):
        """metrics.jsonl (one line per logged step) and the progress bar."""

        def __init__(self) -> None:
            self.path = run_dir / "metrics.jsonl"
            self.loss: float | None = None
            self.began = 0.0
            self.first = 0

        def _append(self, row: dict[str, Any]) -> None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")

        def on_train_begin(self, args, state, control, **kwargs):
            self.began, self.first = time.perf_counter(), state.global_step
            # a resumed run shows the checkpoint's last loss until the next one is logged
            logged = [row["loss"] for row in state.log_history if "loss" in row]
            self.loss = float(logged[-1]) if logged else None
            reporter.train_start(state.max_steps, state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = dict(logs or {})
            if "loss" not in logs:
                return  # the end-of-training summary goes to metrics.json
            self.loss = float(logs["loss"])
            elapsed = round(time.perf_counter() - self.began, 3)
            self._append(
                {"step": state.global_step, "epoch": round(state.epoch or 0, 4), **logs,
                 "elapsed_s": elapsed}
            )  # fmt: skip

        def on_step_end(self, args, state, control, **kwargs):
            done = state.global_step - self.first
            rate = (time.perf_counter() - self.began) / done if done else None
            eta = rate * (state.max_steps - state.global_step) if rate else None
            reporter.train_progress(state.global_step, state.max_steps, self.loss, eta)
            if (
                eval_steps
                and state.global_step % eval_steps == 0
                and state.global_step < state.max_steps
            ):
                loss = eval_fn()
                if loss is not None:
                    self._append({"step": state.global_step, "eval_loss": loss})

        def on_train_end(self, args, state, control, **kwargs):
            reporter.train_end()

    return Interrupt(), Progress()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """transformers/peft/bitsandbytes chatter off while we show our own status lines."""
    from ..models.loading import quiet_peft, quiet_transformers

    with quiet_transformers(), quiet_peft():
        yield


def _check_report_to(report_to: str) -> None:
    import importlib.util

    from ..errors import DependencyError

    package = {"tensorboard": "tensorboard", "mlflow": "mlflow"}.get(report_to)
    if package and importlib.util.find_spec(package) is None:
        # an optional integration, in no extra: the user installs the one they use
        raise DependencyError(
            f"--report-to {report_to} needs the Python package '{package}', which is not installed",
            hint=f"pip install {package}",
        )


# ---------------------------------------------------------------- the run
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
    from ..models.loading import choose_device, load_causal_lm
    from ..models.registry import TEXT_GENERATION, resolve
    from . import evaluate as ev
    from . import methods, preflight
    from .template import Collator, Encoder, check_fields, choose_format, default_template

    began = time.perf_counter()
    options = (options or FinetuneOptions()).validate()
    reporter = reporter or Reporter()
    timings: dict[str, float] = {}
    _check_report_to(options.report_to)

    # ---- model placement first: a qlora run on a CPU machine fails before any data is read
    device = choose_device(options.device)
    if options.method == "qlora" and not device.startswith("cuda"):
        raise QuantizationUnavailableError(
            f"--method qlora loads the model in 4-bit with bitsandbytes, which needs a CUDA GPU; "
            f"this run is on {device}",
            hint="use --method lora (full-precision LoRA works on CPU and MPS)",
        )
    resolved = resolve(model, task=TEXT_GENERATION, revision=options.model_revision)

    # ---- data
    reporter.status("reading data…")
    records = data_mod.load(
        data, revision=options.revision, split=options.split, limit=options.limit
    )
    fmt = choose_format(
        options.format,
        template=options.template,
        prompt_template=options.prompt_template,
        fields=records.fields,
        messages_field=options.messages_field,
    )
    template = options.template or (default_template(records.fields) if fmt == "text" else None)
    check_fields(
        fmt,
        records.fields,
        template=template,
        prompt_template=options.prompt_template,
        completion_field=options.completion_field,
        messages_field=options.messages_field,
    )
    data_mod.split(records, options.val_size, options.seed)

    # ---- model
    reporter.status(f"loading {resolved.label}…")
    start = time.perf_counter()
    half = device.startswith("cuda") and options.method != "full"
    with _quiet():
        loaded = load_causal_lm(
            resolved,
            device=device,
            dtype="auto" if half else "float32",
            quantize="4bit" if options.method == "qlora" else None,
            trust_remote_code=options.trust_remote_code,
            trust_pickle=options.trust_pickle,
        )
    timings["load_s"] = time.perf_counter() - start
    tokenizer = loaded.tokenizer
    encoder = Encoder(
        tokenizer,
        fmt,
        template=template,
        prompt_template=options.prompt_template,
        completion_field=options.completion_field,
        messages_field=options.messages_field,
        max_length=options.max_length,
        drop_long=options.drop_long,
    )
    train_enc = encoder.encode(records.train)
    val_enc = encoder.encode(records.val)
    if not train_enc.examples:
        raise InputError(
            "no training example is left after rendering and --max-length",
            hint="raise --max-length, drop --drop-long, or check the template",
        )
    collator = Collator(encoder.pad_id)

    # ---- method
    with _quiet():
        from transformers import set_seed  # imports peft (→ bitsandbytes): keep it quiet

        set_seed(options.seed)
        net, applied = methods.apply(
            loaded.model,
            options.method,
            lora_r=options.lora_r,
            lora_alpha=options.lora_alpha,
            lora_dropout=options.lora_dropout,
            target_modules=options.target_modules,
            gradient_checkpointing=options.gradient_checkpointing,
        )
    per_epoch = max(
        1, math.ceil(len(train_enc.examples) / options.batch_size) // options.grad_accum
    )
    steps = options.max_steps or math.ceil(options.epochs * per_epoch)
    epochs = options.epochs if not options.max_steps else round(steps / per_epoch, 3)
    sample_rows = records.val or records.train
    prompts = list(options.sample_prompts) or [
        p
        for p in (
            encoder.sample_prompt(r, i) for i, r in enumerate(sample_rows[: options.num_samples])
        )
        if p
    ]
    source = {
        "source": records.source.label,
        "kind": records.source.kind,
        "revision": records.source.resolved_revision,
        "total": records.total,
    }
    template_info = {
        "template": template,
        "prompt_template": options.prompt_template,
        "completion_field": options.completion_field,
        "messages_field": options.messages_field if fmt == "chat" else None,
    }
    start = time.perf_counter()
    with _quiet():
        report = preflight.build(
            source=source,
            fmt=fmt,
            template=template_info,
            tokenizer=tokenizer,
            train=train_enc,
            val=val_enc,
            max_length=options.max_length,
            collator=collator,
            model=net,
            applied=applied,
            device=loaded.device,
            dtype=loaded.dtype,
            steps=steps,
            epochs=epochs,
            batch_size=options.batch_size,
            grad_accum=options.grad_accum,
            gradient_checkpointing=options.gradient_checkpointing,
            eval_batches=math.ceil(len(val_enc.examples) / options.batch_size),
            sample_count=len(prompts),
            sample_max_new_tokens=options.sample_max_new_tokens,
        )
    timings["preflight_s"] = time.perf_counter() - start
    reporter.preflight(report)
    model_id = resolved.alias or resolved.id
    runs.annotate(task="finetune", model=model_id, revision=loaded.revision, device=loaded.device)
    result = FinetuneResult(
        status="dry-run",
        run_dir=None,
        model=model_id,
        revision=loaded.revision,
        data=records.source.to_dict(),
        preflight=report,
        max_steps=steps,
    )
    if options.dry_run:
        result.timings = {k: round(v, 3) for k, v in timings.items()}
        return result

    # ---- run folder, config hash, resume
    name = options.name or default_name(data, model_id, options.method)
    run_dir = Path(options.output_dir).expanduser() / name
    config = _config(options, resolved, loaded, records, fmt, template, applied, report, steps)
    checkpoint = _prepare_run_dir(run_dir, options, config)
    result.run_dir = str(run_dir)
    runs.annotate(run_dir=str(run_dir))
    chat = fmt == "chat"
    summary_path = run_dir / "metrics.json"
    summary = json.loads(summary_path.read_text()) if checkpoint and summary_path.exists() else {}

    def evaluation() -> Evaluation:
        return ev.evaluate(
            net,
            tokenizer,
            val_enc.examples,
            collator,
            prompts,
            chat=chat,
            batch_size=options.batch_size,
            max_new_tokens=options.sample_max_new_tokens,
        )

    # ---- before
    if summary.get("before"):
        result.before = Evaluation.from_dict(summary["before"])
        reporter.status("evaluation before training: kept from the interrupted attempt")
    else:
        reporter.status(
            f"evaluating before training ({len(val_enc.examples)} held-out examples, "
            f"{len(prompts)} samples)…"
        )
        with _quiet():
            result.before = evaluation()
        summary = {"status": "training", "before": result.before.to_dict()}
        _write_json(summary_path, summary)
    timings["eval_before_s"] = result.before.seconds

    # ---- train
    trainer, interrupt = _trainer(
        net,
        options,
        device,
        run_dir,
        train_enc,
        collator,
        reporter,
        callbacks,
        lambda: ev.eval_loss(net, val_enc.examples, collator, options.batch_size)[0],
    )
    if checkpoint:
        reporter.status(f"resuming from {checkpoint.name}")
    start = time.perf_counter()
    net.config.use_cache = False
    with _quiet(), interrupt.installed():
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    net.config.use_cache = True
    timings["train_s"] = time.perf_counter() - start
    result.steps = trainer.state.global_step
    result.max_steps = trainer.state.max_steps
    result.train_loss = float(output.training_loss) if output and output.training_loss else None
    last = last_checkpoint(run_dir)
    result.checkpoint = str(last) if last else None

    if interrupt.requested:
        result.status = "interrupted"
        summary.update(status="interrupted", steps=result.steps, max_steps=result.max_steps)
        _write_json(summary_path, summary)
        result.timings = {k: round(v, 3) for k, v in timings.items()}
        return result

    # ---- save, evaluate after, card
    reporter.status("saving…")
    start = time.perf_counter()
    artifacts = _save(net, tokenizer, run_dir, options.method, resolved, loaded)
    timings["save_s"] = time.perf_counter() - start
    reporter.status("evaluating after training…")
    with _quiet():
        result.after = evaluation()
    timings["eval_after_s"] = result.after.seconds
    result.status = "completed"
    summary.update(
        status="completed",
        after=result.after.to_dict(),
        steps=result.steps,
        max_steps=result.max_steps,
        epochs=round(trainer.state.epoch or 0, 4),
        train_loss=result.train_loss,
        train_runtime_s=round(timings["train_s"], 3),
    )
    _write_json(summary_path, summary)
    from . import card

    if options.merge and options.method != "full":
        reporter.status("merging the adapter into the base weights…")
        from .merge import merge_run

        start = time.perf_counter()
        artifacts["merged"] = str(merge_run(run_dir))
        timings["merge_s"] = time.perf_counter() - start
    plot = card.plot_losses(run_dir)
    if plot:
        artifacts["loss_png"] = str(plot)
    artifacts["card"] = str(card.write(run_dir))
    timings["total_s"] = time.perf_counter() - began
    summary["timings"] = {k: round(v, 3) for k, v in timings.items()}
    _write_json(summary_path, summary)
    result.artifacts = artifacts
    result.timings = summary["timings"]
    runs.annotate(
        steps=result.steps,
        eval_loss_before=result.before.eval_loss if result.before else None,
        eval_loss_after=result.after.eval_loss,
        stop_rate_after=result.after.stop_rate,
    )
    return result


def _config(
    options, resolved, loaded, records, fmt, template, applied: Applied, report, steps
) -> dict[str, Any]:
    from .. import __version__

    o = options
    base = {
        "name": base_name(resolved),
        "source": resolved.source,
        "hub_id": resolved.hub_id,
        "revision": resolved.revision,
        "resolved_revision": loaded.revision,
        "path": str(resolved.path / resolved.file if resolved.file else resolved.path)
        if resolved.source == "local"
        else None,
    }
    src = records.source
    data = {
        "name": src.name,
        "kind": src.kind,
        "split": src.split,
        "revision": src.revision,
        "resolved_revision": src.resolved_revision,
        "path": src.path,
        "limit": o.limit,
        "val_size": o.val_size,
        "format": fmt,
        "template": template,
        "prompt_template": o.prompt_template,
        "completion_field": o.completion_field,
        "messages_field": o.messages_field if fmt == "chat" else None,
        "max_length": o.max_length,
        "drop_long": o.drop_long,
    }
    method = {
        "method": o.method,
        "lora_r": o.lora_r if o.method != "full" else None,
        "lora_alpha": o.lora_alpha if o.method != "full" else None,
        "lora_dropout": o.lora_dropout if o.method != "full" else None,
        "target_modules": list(o.target_modules),
        "gradient_checkpointing": o.gradient_checkpointing,
    }
    training = {
        "epochs": o.epochs,
        "max_steps": o.max_steps,
        "lr": o.learning_rate,
        "batch_size": o.batch_size,
        "grad_accum": o.grad_accum,
        "warmup": o.warmup,
        "seed": o.seed,
        "scheduler": "linear",
        "optimizer": "adamw",
    }
    config = {
        "pretrained": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config_hash": "",
        "base_model": base,
        "data": data,
        "method": method,
        "training": training,
        "resolved": {
            "lora_targets": applied.targets,
            "lora_modules_wrapped": applied.wrapped,
            "fan_in_fan_out": applied.fan_in_fan_out,
            "trainable_parameters": applied.trainable,
            "total_parameters": applied.total,
            "planned_steps": steps,
            "train_examples": report.data["train"],
            "val_examples": report.data["val"],
            "device": loaded.device,
            "dtype": loaded.dtype,
        },
        "arguments": {k: v for k, v in options.to_dict().items()},
        "libraries": _versions(),
    }
    config["config_hash"] = config_hash(config)
    return config


def base_name(resolved) -> str:
    """How to name the base model again later: the alias for embedded models, else the id."""
    if resolved.source == "embedded":
        return resolved.alias
    if resolved.source == "local":
        return str(resolved.path / resolved.file if resolved.file else resolved.path)
    return resolved.hub_id


def _prepare_run_dir(
    run_dir: Path, options: FinetuneOptions, config: dict[str, Any]
) -> Path | None:
    """Create the run folder, or check that --resume matches it. → checkpoint to resume from.
    Only run folders are ever deleted (--overwrite); any other folder is left alone."""
    from ..models.loading import read_run_config

    old = read_run_config(run_dir) if run_dir.is_dir() else None
    if old is None and run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise RunExistsError(
            f"{run_dir} exists and is not a run folder", hint="pick another --name or --output-dir"
        )
    if old is None and options.resume:
        raise RunExistsError(
            f"there is no run to resume at {run_dir}",
            hint="drop --resume to start it, or pass the --name of the run to continue",
        )
    if old is not None and options.resume:
        if old.get("config_hash") != config["config_hash"]:
            diffs = _differences(old, config)
            raise ResumeMismatchError(
                f"cannot resume {run_dir}: its config differs ("
                + "; ".join(diffs[:4])
                + (f"; {len(diffs) - 4} more" if len(diffs) > 4 else "")
                + ")",
                hint="resume with the original options, or start a new run with --name",
            )
        summary = run_dir / "metrics.json"
        if summary.exists() and json.loads(summary.read_text()).get("status") == "completed":
            raise RunExistsError(
                f"{run_dir} already finished; there is nothing to resume",
                hint=f"use it (pretrained generate --model {run_dir}), or --overwrite",
            )
        checkpoint = last_checkpoint(run_dir)
        if checkpoint is not None:
            _trim_metrics(run_dir / "metrics.jsonl", int(checkpoint.name.split("-")[1]))
            config["created"] = old.get("created", config["created"])
            _write_yaml(run_dir / "config.yaml", config)
            return checkpoint
        shutil.rmtree(run_dir)  # nothing was saved yet: start over in the same folder
    elif old is not None:
        if not options.overwrite:
            raise RunExistsError(f"the run folder {run_dir} already exists")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_yaml(run_dir / "config.yaml", config)
    return None


def _trainer(
    net,
    options: FinetuneOptions,
    device: str,
    run_dir: Path,
    train_enc,
    collator,
    reporter,
    extra_callbacks,
    eval_fn,
):
    import torch
    from transformers import PrinterCallback, ProgressCallback, Trainer, TrainingArguments

    from .template import ExampleDataset

    amp: dict[str, bool] = {}
    if device.startswith("cuda"):
        bf16 = torch.cuda.is_bf16_supported()
        amp = {"bf16": bf16, "fp16": not bf16}
    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        num_train_epochs=options.epochs,
        max_steps=options.max_steps or -1,
        learning_rate=options.learning_rate,
        warmup_steps=options.warmup,
        lr_scheduler_type="linear",
        logging_steps=1,
        save_strategy="steps",
        save_steps=options.save_steps,
        save_total_limit=2,
        seed=options.seed,
        data_seed=options.seed,
        report_to=options.report_to,
        disable_tqdm=True,
        remove_unused_columns=False,
        label_names=["labels"],
        # batches of similar lengths: little padding, so fewer wasted FLOPs on a CPU
        train_sampling_strategy="group_by_length",
        use_cpu=device == "cpu",
        dataloader_pin_memory=device.startswith("cuda"),
        **amp,
    )
    interrupt, progress = _callbacks(run_dir, reporter, eval_fn, options.eval_steps)
    trainer = Trainer(
        model=net,
        args=args,
        train_dataset=ExampleDataset(train_enc.examples),
        data_collator=collator,
        callbacks=[interrupt, progress, *extra_callbacks],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer, interrupt


def _save(net, tokenizer, run_dir: Path, method: str, resolved, loaded) -> dict[str, str]:
    """adapter/ (LoRA, QLoRA) or model/ (full), each with the tokenizer."""
    if method == "full":
        target = run_dir / "model"
        net.save_pretrained(target, safe_serialization=True)
        tokenizer.save_pretrained(target)
        return {"model": str(target)}
    target = run_dir / "adapter"
    config = net.peft_config["default"]
    # peft records the folder the base was read from (a cache path for converted models);
    # record how to find the base again instead: the Hub id (or the local path) and its revision.
    config.base_model_name_or_path = resolved.hub_id or base_name(resolved)
    config.revision = loaded.revision if resolved.source == "hub" else None
    # no resized embeddings to save (pad = EOS, no tokens added); "auto" would look the base's
    # config up on the Hub to find out, and warn when offline
    net.save_pretrained(target, safe_serialization=True, save_embedding_layers=False)
    tokenizer.save_pretrained(target)
    return {"adapter": str(target)}
