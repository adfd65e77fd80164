"""The training loop: the Hugging Face `Trainer`, fed by `template.Encoder`'s tensors, with the
loss computed chunk by chunk (train/loss.py), length-grouped batches, and callbacks for what it
lacks: Ctrl-C / SIGTERM → finish the step and checkpoint, metrics.jsonl, the progress bar."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .options import FinetuneOptions, Reporter

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """transformers/peft/bitsandbytes chatter off while we show our own status lines."""
    from ..models.loading import quiet_peft, quiet_transformers

    with quiet_transformers(), quiet_peft():
        yield


def check_report_to(report_to: str) -> None:
    import importlib.util

    from ..errors import DependencyError

    package = {"tensorboard": "tensorboard", "mlflow": "mlflow"}.get(report_to)
    if package and importlib.util.find_spec(package) is None:
        # an optional integration, in no extra: the user installs the one they use
        raise DependencyError(
            f"--report-to {report_to} needs the Python package '{package}', which is not installed",
            hint=f"pip install {package}",
        )


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt (as Ctrl-C does) for the whole run, so `finally` blocks
    run and metrics.json gets a true status instead of the process vanishing mid-phase."""

    def raise_interrupt(signum, frame) -> None:  # noqa: ARG001
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def callbacks(run_dir: Path, reporter: Reporter, eval_fn, eval_steps: int | None):
    from transformers import TrainerCallback

    class Interrupt(TrainerCallback):
        """Ctrl-C or SIGTERM: finish the current step, save a checkpoint, stop. A second one
        stops now (KeyboardInterrupt)."""

        def __init__(self) -> None:
            self.requested = False
            self._previous: dict[int, Any] = {}

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
                for sig in STOP_SIGNALS:
                    self._previous[sig] = signal.signal(sig, self._handle)
            try:
                yield
            finally:
                if main:
                    for sig, handler in self._previous.items():
                        signal.signal(sig, handler or signal.default_int_handler)

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


def training_arguments(options: FinetuneOptions, device: str, run_dir: Path, **extra: Any):
    """The Trainer settings shared by supervised and preference runs (`extra`: a TRL config's
    own fields; `config_class`: TrainingArguments or a TRL config class)."""
    import torch
    from transformers import TrainingArguments

    config_class = extra.pop("config_class", TrainingArguments)
    amp: dict[str, bool] = {"bf16": False, "fp16": False}
    if device.startswith("cuda"):
        bf16 = torch.cuda.is_bf16_supported()
        amp = {"bf16": bf16, "fp16": not bf16}
    return config_class(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
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
        use_cpu=device == "cpu",
        dataloader_pin_memory=device.startswith("cuda"),
        **amp,
        **extra,
    )


def make_trainer(net, options: FinetuneOptions, device: str, run_dir: Path, train_enc,
                 collator, reporter, extra_callbacks, eval_fn, loss_parts):  # fmt: skip
    """A supervised Trainer whose loss never holds full-vocabulary logits (when `loss_parts`)."""
    from transformers import PrinterCallback, ProgressCallback, Trainer

    from .loss import causal_lm_nll
    from .template import ExampleDataset

    class ChunkedLossTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            total, count = causal_lm_nll(model, inputs, loss_parts)
            # num_items_in_batch counts the trained tokens of every accumulated micro-batch
            # (the Trainer then does not divide by --grad-accum again)
            loss = total / (num_items_in_batch if num_items_in_batch is not None else max(1, count))
            return (loss, None) if return_outputs else loss

    args = training_arguments(
        options,
        device,
        run_dir,
        label_names=["labels"],
        # batches of similar lengths: little padding, so fewer wasted FLOPs on a CPU
        train_sampling_strategy="group_by_length",
    )
    interrupt, progress = callbacks(run_dir, reporter, eval_fn, options.eval_steps)
    trainer = ChunkedLossTrainer(
        model=net,
        args=args,
        train_dataset=ExampleDataset(train_enc.examples),
        data_collator=collator,
        callbacks=[interrupt, progress, *extra_callbacks],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer, interrupt


# glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MiB), so
# the activations and temporaries of a training step end up in its heap, where freed memory is
# kept: on SmolLM2 a forward + backward of 4 × 256 tokens left ≈ 1 GB more resident than the
# 70 MB autograd actually saved. A fixed threshold sends blocks ≥ 1 MiB to mmap, which returns
# them to the system when freed (measured: docs/finetune.md).
MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3


def _libc():
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def bound_allocator() -> bool:
    """Fix glibc's mmap threshold for this process (Linux/glibc only; a no-op elsewhere)."""
    libc = _libc()
    try:
        return bool(libc and libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except AttributeError:  # musl and others have no mallopt
        return False


def trim_allocator() -> None:
    """Hand the heap's free pages back to the system (glibc malloc_trim) between phases: what
    loading, the preflight and the evaluation freed should not count into training's peak."""
    libc = _libc()
    try:
        if libc is not None:
            libc.malloc_trim(0)
    except AttributeError:
        pass
