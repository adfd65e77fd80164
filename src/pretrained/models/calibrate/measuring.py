"""Measuring the candidates: timings first, then the canary in speed order, stopping early.

1. every candidate engine is loaded and timed on the production path (`backend.generate`:
   decode speed at batch 1, prefill speed on a long prompt), then the float32 reference;
   engines within CLOSE of the fastest for some workload get a second round (best of two: on
   a shared machine the best run is the closest to what the engine can do);
2. the canary (canary.check) runs on the fastest engine for each workload (`WORKLOADS`) first,
   then, only where it failed, on the next one: once every workload's fastest remaining engine
   has passed, the other canaries could not change what `auto` runs, and are not run
   (their trials say so: `NOT_CHECKED`).
Engines that could still win a workload stay loaded from their timing to their canary; the
others are closed (big models would add up) and loaded again only if their canary runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from ...errors import PretrainedError
from ..registry import ModelFormat, ModelSource, ResolvedModel
from . import canary
from .results import NOT_CHECKED, REFERENCE, WORKLOADS, Trial, Verdict, by_speed, summary_line

TIMED_TOKENS = 24  # the batch-1 decode that is timed
TIMING_PROMPT = "Describe, step by step, how to bake a loaf of bread at home."
CLOSE = 1.2  # a second timing round for engines within this factor of a workload's fastest


def candidates(resolved: ResolvedModel) -> list[Trial]:
    """Every installed engine (and variant) that could run `resolved` on this CPU."""
    from ..backends import ctranslate2, llamacpp

    if _encoder_decoder(resolved):
        return []  # the fast CPU engines run causal LMs only: nothing to choose between
    trials = []
    if ctranslate2.available():
        trials += [Trial("ctranslate2", ct) for ct in ctranslate2.cpu_compute_types()]
    if resolved.format == ModelFormat.GGUF and llamacpp.available():
        from ..loading import gguf_path

        trials.append(Trial("llama.cpp", llamacpp.quant_name(gguf_path(resolved))))
    return trials


def _encoder_decoder(resolved: ResolvedModel) -> bool:
    from ..backends.seq2seq import is_encoder_decoder
    from ..loading import prepare

    if resolved.format != ModelFormat.TRANSFORMERS:
        return False
    folder = resolved.path if resolved.source == ModelSource.LOCAL else None
    if folder is None:
        folder = prepare(resolved, tokenizer_only=True).path
    return bool(folder and folder.is_dir() and is_encoder_decoder(folder))


def say(status: Any, text: str) -> None:
    if status is None:
        print(text, file=sys.stderr, flush=True)
    elif status:
        status(text)


def measure(
    resolved: ResolvedModel,
    trials: list[Trial],
    *,
    revision: str | None = None,
    status: Any = None,
) -> Verdict:
    """Time every trial and the transformers reference, then canary them fastest first."""
    began = time.perf_counter()
    label = resolved.alias or resolved.id
    say(status, f"calibrating engines for {label} on this CPU (once; cached)…")
    loaded: dict[int, Any] = {}  # id(trial) → its backend, while it is kept loaded
    try:
        for trial in trials:
            trial.reason = NOT_CHECKED
            backend = _open(resolved, trial)
            if backend is not None:
                loaded[id(trial)] = backend
                _timed_or_failed(backend, trial)
                _keep_contenders(trials, loaded)
        reference, ref_trial = _load_reference(resolved), None
        if reference is not None:
            ref_trial = Trial(REFERENCE, "float32", agreement=1.0, passed=True, reason="reference")
            _time(reference, ref_trial)
            trials = [*trials, ref_trial]
            loaded[id(ref_trial)] = reference
        _second_round(trials, loaded)
        truth = _Truth(reference)
        for trial in canary_order(trials):
            backend = loaded.get(id(trial)) or _open(resolved, trial)
            if backend is not None:
                loaded[id(trial)] = backend
                _checked(backend, trial, truth)
        for trial in trials:
            if not trial.checked:
                winner = next((t for t in by_speed(trials) if t.passed), None)
                trial.reason = f"{NOT_CHECKED}: slower than {winner.label}" if winner else ""
    finally:
        for backend in loaded.values():
            close(backend)
    result = Verdict(
        model=label,
        revision=revision,
        cpu={},
        versions={},
        trials=trials,
        seconds=round(time.perf_counter() - began, 2),
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    say(status, summary_line(result))
    return result


def canary_order(trials: list[Trial], check: Callable[[Trial], None] | None = None):
    """The trials whose canary must run, in turn: for each workload, its fastest trial that
    has not failed, until that one has passed for every workload. Yields a trial, expects its
    verdict to be set before the next one is asked for (`check` sets it, when given)."""
    while True:
        todo = None
        for task in (None, *WORKLOADS):
            for trial in by_speed(trials, task):
                if trial.passed:
                    break  # this workload's winner is known
                if trial.checked:
                    continue  # failed: the next one
                todo = trial
                break
            if todo is not None:
                break
        if todo is None:
            return
        yield todo
        if check is not None:
            check(todo)
        if not todo.checked:  # the caller set no verdict: do not ask again
            todo.reason = "canary did not run"


def _open(resolved: ResolvedModel, trial: Trial):
    try:
        return _load_trial(resolved, trial)
    except PretrainedError as exc:
        trial.reason = f"could not load: {exc.message}"
        return None


def _timed_or_failed(backend, trial: Trial) -> None:
    try:
        _time(backend, trial)
    except Exception as exc:  # an engine that crashes on a plain request is not chosen
        trial.reason = f"crashed: {_first_line(exc)}"


def _checked(backend, trial: Trial, truth: _Truth) -> None:
    try:
        canary.check(backend, trial, truth.get())
    except Exception as exc:  # an engine that crashes on the canary is not chosen
        trial.reason = f"crashed on the canary: {_first_line(exc)}"
        trial.passed = False


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class _Truth:
    """The reference's view of the canary, computed on the first canary that needs it."""

    def __init__(self, reference) -> None:
        self.reference = reference
        self.value: canary._Reference | None = None
        self.tried = reference is None

    def get(self) -> canary._Reference | None:
        if not self.tried:
            self.tried = True
            try:
                self.value = canary._Reference(self.reference)
            except (RuntimeError, IndexError, ValueError):  # texts the model does not fit
                self.value = None
        return self.value


def _contenders(trials: list[Trial]) -> set[int]:
    """The trials (not known bad) within CLOSE of the fastest for some workload, by now."""
    out: set[int] = set()
    usable = [t for t in trials if t.passed or not t.checked]
    for task in (None, *WORKLOADS):
        timed = [t for t in usable if t.request_s(task) is not None]
        if timed:
            best = min(t.request_s(task) for t in timed)
            out |= {id(t) for t in timed if t.request_s(task) <= best * CLOSE}
    return out


def _keep_contenders(trials: list[Trial], loaded: dict[int, Any]) -> None:
    """Close the fast engines too slow to win any workload (loaded again if their canary
    runs): big models would add up."""
    keep = _contenders(trials)
    for trial in trials:
        if id(trial) in loaded and id(trial) not in keep:
            close(loaded.pop(id(trial)))


def _second_round(trials: list[Trial], loaded: dict[int, Any]) -> None:
    """Time again the engines within CLOSE of a workload's fastest: only there can a second
    (best-of-two) round change the ranking."""
    again = _contenders(trials)
    if len(again) < 2:
        return
    for trial in trials:
        if id(trial) in again and id(trial) in loaded:
            _timed_or_failed(loaded[id(trial)], trial)


def close(backend) -> None:
    """Free an engine now, not whenever the garbage collector gets to it (models held by
    several trials at once would add up; see CTranslate2TextBackend.close)."""
    closer = getattr(backend, "close", None)
    if closer is not None:
        closer()


def _load_reference(resolved: ResolvedModel):
    from ..backends import create_text_backend
    from ..backends.transformers import TransformersTextBackend

    try:
        backend = create_text_backend(resolved, REFERENCE, device="cpu")
    except PretrainedError:
        return None  # no reference (transformers missing or cannot load): degeneration only
    return backend if isinstance(backend, TransformersTextBackend) else None


def _load_trial(resolved: ResolvedModel, trial: Trial):
    from ..backends import create_text_backend

    backend = create_text_backend(resolved, trial.engine, **trial.load_options)
    start = getattr(backend, "start", None)
    if start is not None:  # llama.cpp in a one-shot process: full size for the many requests
        start()
    return backend


def _long_prompt(backend, tokens: int) -> str:
    """About `tokens` tokens of canary text, fewer where the model's context is short."""
    limit = min(tokens, (getattr(backend, "context_length", None) or 2048) - 8)
    words = " ".join(canary.CANARY_TEXTS * 8).split()
    n = len(words)
    while n > 1 and backend.count_tokens(" ".join(words[:n])) > limit:
        n = int(n * 0.8)
    return " ".join(words[:n])


def _time(backend, trial: Trial) -> None:
    """One timing round on the path users run (`backend.generate`, greedy): decode speed of a
    batch-1 reply, prefill speed of a ≈256-token prompt with one new token. Keeps the best of
    this round and earlier ones. The first call warms the engine up (kernels, buffers)."""
    from ..backends.base import SamplingParams
    from .results import TYPICAL_PROMPT

    chat = backend.render_chat([{"role": "user", "content": TIMING_PROMPT}])
    one = SamplingParams(max_new_tokens=1, temperature=0)
    if trial.decode_tps is None:
        backend.generate(
            [chat], SamplingParams(max_new_tokens=2, temperature=0), add_special_tokens=False
        )
    params = SamplingParams(max_new_tokens=TIMED_TOKENS, temperature=0)
    out = backend.generate([chat], params, add_special_tokens=False)[0]
    tokens = out.completions[0].completion_tokens
    if tokens > 1 and out.seconds > 0:
        trial.decode_tps = max(trial.decode_tps or 0.0, tokens / out.seconds)
    out = backend.generate([_long_prompt(backend, TYPICAL_PROMPT)], one)[0]
    if out.seconds > 0:
        trial.prefill_tps = max(trial.prefill_tps or 0.0, out.prompt_tokens / out.seconds)
