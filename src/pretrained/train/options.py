"""What a fine-tuning run is asked to do (`FinetuneOptions`), what it reports while it runs
(`Reporter`) and what it returns (`FinetuneResult`)."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from ..errors import InvalidOptionError, reject_unknown_options
from . import data as data_mod
from .evaluate import Evaluation
from .methods import METHODS
from .preflight import Preflight
from .template import FORMATS

REPORT_TO = ("none", "tensorboard", "mlflow")
# Preference objectives (TRL): they train a LoRA adapter on prompt/chosen/rejected pairs.
PREFERENCE = ("dpo", "orpo")
ALL_METHODS = (*METHODS, *PREFERENCE)


def _bad(flag: str, value: Any, rule: str, example: str) -> InvalidOptionError:
    return InvalidOptionError(
        f"--{flag} must be {rule} (got {value!r})", hint=f"e.g. --{flag} {example}"
    )


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
    method: str = "lora"  # lora | qlora | full | dpo | orpo
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ()
    gradient_checkpointing: bool | None = None  # None: on where the memory estimate says it pays
    beta: float | None = None  # dpo: KL strength (default 0.1); orpo: odds-ratio weight (0.1)
    # training loop
    epochs: float = 1.0
    max_steps: int | None = None
    lr: float | None = None  # default: 2e-4 for lora/qlora, 2e-5 for full, 5e-5 for dpo/orpo
    batch_size: int = 8
    grad_accum: int = 1
    warmup: float = 0.0  # steps (≥ 1) or a fraction of all steps (< 1)
    seed: int = 42
    save_steps: int = 50
    eval_steps: int | None = None
    report_to: str = "none"
    # evaluation
    sample_prompts: tuple[str, ...] = ()
    num_samples: int = 8
    sample_max_new_tokens: int = 64
    eval_cache: bool = True  # reuse the evaluation before training of the same model and data
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
        if self.method in PREFERENCE:
            return 5e-5
        return 2e-5 if self.method == "full" else 2e-4

    @property
    def preference(self) -> bool:
        return self.method in PREFERENCE

    @property
    def adapter_method(self) -> str:
        """How the weights are made trainable: preference objectives train a LoRA adapter."""
        return "lora" if self.preference else self.method

    @property
    def preference_beta(self) -> float:
        return 0.1 if self.beta is None else self.beta

    def validate(self) -> FinetuneOptions:
        self._check_choices()
        self._check_numbers()
        self._check_combinations()
        return self

    def _check_choices(self) -> None:
        for flag, value, choices in (
            ("method", self.method, ALL_METHODS),
            ("format", self.format, FORMATS),
            ("report-to", self.report_to, REPORT_TO),
        ):
            if value not in choices:
                raise InvalidOptionError(
                    f"unknown --{flag} '{value}'", hint=f"use one of: {', '.join(choices)}"
                )

    def _check_numbers(self) -> None:
        for flag, value, low, example in (
            ("max-length", self.max_length, 8, "512"),
            ("lora-r", self.lora_r, 1, "16"),
            ("batch-size", self.batch_size, 1, "8"),
            ("grad-accum", self.grad_accum, 1, "4"),
            ("seed", self.seed, 0, "42"),
            ("save-steps", self.save_steps, 1, "50"),
            ("num-samples", self.num_samples, 0, "8"),
            ("sample-max-new-tokens", self.sample_max_new_tokens, 1, "64"),
        ):
            if not _whole(value, low):
                raise _bad(flag, value, f"a whole number ≥ {low}", example)
        for flag, value, example in (
            ("limit", self.limit, "1000"),
            ("max-steps", self.max_steps, "200"),
            ("eval-steps", self.eval_steps, "50"),
        ):
            if value is not None and not _whole(value, 1):
                raise _bad(flag, value, "a whole number ≥ 1", example)
        if not _number(self.lora_alpha) or self.lora_alpha <= 0:
            raise _bad("lora-alpha", self.lora_alpha, "a number > 0", "32")
        if not _number(self.lora_dropout) or not 0 <= self.lora_dropout < 1:
            raise _bad("lora-dropout", self.lora_dropout, "in [0, 1)", "0.05")
        if not _number(self.epochs) or self.epochs <= 0:
            raise _bad("epochs", self.epochs, "a number > 0", "1")
        if self.lr is not None and (not _number(self.lr) or not 0 < self.lr < 1):
            raise _bad("lr", self.lr, "a number in (0, 1)", "2e-4")
        if self.beta is not None and (not _number(self.beta) or self.beta <= 0):
            raise _bad("beta", self.beta, "a number > 0", "0.1")
        if (
            not _number(self.warmup)
            or self.warmup < 0
            or (self.warmup >= 1 and not float(self.warmup).is_integer())
        ):
            raise _bad(
                "warmup", self.warmup, "a step count (≥ 1) or a fraction of all steps (< 1)", "0.03"
            )
        # type check only; the real count needs the data
        data_mod.held_out_count(10**9, self.val_size)

    def _check_combinations(self) -> None:
        example = "e.g. --prompt-template 'Quote by {author}:' --completion-field text"
        if self.prompt_template and not self.completion_field:
            raise InvalidOptionError(
                "--prompt-template needs --completion-field (the field the model learns to write)",
                hint="e.g. --prompt-template 'Question: {question}\\nAnswer:' --completion-field answer",
            )
        if self.completion_field and not self.prompt_template:
            raise InvalidOptionError(
                "--completion-field needs --prompt-template (what the model is given)", hint=example
            )
        if self.format == "completion" and not self.prompt_template:
            raise InvalidOptionError(
                "--format completion needs --prompt-template and --completion-field", hint=example
            )
        if self.format == "chat" and (self.template or self.prompt_template):
            raise InvalidOptionError(
                "--format chat renders messages with the model's chat template; drop --template",
            )
        if self.preference and (self.template or self.prompt_template or self.format != "auto"):
            raise InvalidOptionError(
                f"--method {self.method} reads prompt/chosen/rejected fields as they are; "
                "drop --template, --prompt-template and --format",
                hint='e.g. {"prompt": "…", "chosen": "…", "rejected": "…"} per line',
            )
        if self.beta is not None and not self.preference:
            raise InvalidOptionError(
                "--beta is a setting of --method dpo and orpo", hint="drop --beta"
            )
        if self.resume and self.overwrite:
            raise InvalidOptionError("--resume and --overwrite contradict each other")
        if self.name is not None and not re.fullmatch(r"[A-Za-z0-9][\w.\-]{0,99}", self.name):
            raise _bad("name", self.name, "letters, digits, '.', '_' or '-'", "quotes-lora")

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


FinetuneStatus = Literal["dry-run", "completed", "interrupted"]


@dataclass
class FinetuneResult:
    status: FinetuneStatus
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
    memory: dict[str, Any] = field(default_factory=dict)  # estimated vs measured peak

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
            "memory": self.memory,
            "warnings": self.warnings(),
        }

    def warnings(self) -> list[str]:
        """What got worse from before to after training (a run can reach its reward margin or
        its loss target and still have learned to ramble): said, never left to the table."""
        b, a = self.before, self.after
        if b is None or a is None:
            return []
        out = []
        if (
            b.stop_rate is not None
            and a.stop_rate is not None
            and a.stop_rate <= b.stop_rate - 0.25
        ):
            out.append(
                f"the model stops less often after training (stop rate {b.stop_rate:.0%} → "
                f"{a.stop_rate:.0%}): its replies may run on; try fewer steps or a lower --lr "
                "(preference runs: a smaller --beta, or --method orpo)"
            )
        if b.eval_loss and a.eval_loss is not None and a.eval_loss > 1.05 * b.eval_loss:
            out.append(
                f"held-out loss rose ({b.eval_loss:.3f} → {a.eval_loss:.3f}): the model fits "
                "held-out text worse than before; read the samples before you ship it"
            )
        return out

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
    ]
    if any(getattr(ev, "reward_accuracy", None) is not None for ev in (before, after)):
        rows += [
            ("reward accuracy", val(before, "reward_accuracy", ".0%"),
             val(after, "reward_accuracy", ".0%")),
            ("reward margin", val(before, "reward_margin", ".3f"),
             val(after, "reward_margin", ".3f")),
        ]  # fmt: skip
    rows.append(("stop rate", val(before, "stop_rate", ".0%"), val(after, "stop_rate", ".0%")))
    return rows
