"""What a calibration found: one Trial per candidate engine, and the Verdict over them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The request the timing ranks engines by (prompt tokens, new tokens): a chat or generate call
# by default; summarize and ask send long prompts, where prefill speed decides (one engine can
# win decoding and another prefill: on the Zen 5 here llama.cpp decodes faster, CTranslate2 int8
# reads prompts ≈ 4× faster).
TYPICAL_PROMPT, TYPICAL_NEW = 256, 128
WORKLOADS = {"summarize": (1536, 96), "ask": (1024, 96)}
REFERENCE = "transformers"
# The reason of a trial whose canary did not run: a faster engine had passed it for every
# workload, so its result could not change what `auto` runs.
NOT_CHECKED = "not checked"


@dataclass
class Trial:
    """One candidate engine (and variant: a CTranslate2 compute type, a GGUF quantization)."""

    engine: str
    variant: str | None = None
    agreement: float | None = None  # share of canary positions that agree with the reference
    # PATH_MARGIN's statistic over the engine's own greedy replies (the decode path:
    # CTranslate2's saturating int8 kernels on AVX2 pass the teacher-forced check, which runs
    # the prefill path, and fail here)
    path_margin: float | None = None
    degenerate: bool = False  # a greedy loop the reference does not make
    decode_tps: float | None = None
    prefill_tps: float | None = None
    passed: bool = False
    reason: str = ""  # why it failed (or "reference", or NOT_CHECKED …)
    sample: str = ""  # the start of its first greedy canary reply

    @property
    def label(self) -> str:
        return f"{self.engine} {self.variant}" if self.variant else self.engine

    @property
    def load_options(self) -> dict[str, Any]:
        """How to load this variant: the keyword its engine's loader takes for it."""
        return engine_options(self.engine, self.variant)

    @property
    def checked(self) -> bool:
        """Whether its canary ran (an unchecked trial is neither passed nor known bad)."""
        return self.passed or not self.reason.startswith(NOT_CHECKED)

    @property
    def typical_s(self) -> float | None:
        """Seconds for a typical request (TYPICAL_PROMPT tokens in, TYPICAL_NEW out)."""
        return self.request_s()

    def request_s(self, task: str | None = None) -> float | None:
        """Seconds for the request `task` typically sends (WORKLOADS), from the timings."""
        if not self.decode_tps or not self.prefill_tps:
            return None
        prompt, new = WORKLOADS.get(task or "", (TYPICAL_PROMPT, TYPICAL_NEW))
        return prompt / self.prefill_tps + new / self.decode_tps


# engine → the loader keyword that selects a calibrated variant (see Trial.load_options)
_VARIANT_KEYWORD = {"ctranslate2": "compute_type"}


def engine_options(engine: str, variant: str | None) -> dict[str, Any]:
    keyword = _VARIANT_KEYWORD.get(engine)
    return {keyword: variant} if keyword and variant else {}


def by_speed(trials: list[Trial], task: str | None = None) -> list[Trial]:
    """`trials` fastest first for `task`'s requests (unmeasured ones last)."""

    def key(t: Trial) -> tuple[bool, float]:
        seconds = t.request_s(task)
        return seconds is None, seconds or 0.0

    return sorted(trials, key=key)


@dataclass
class Verdict:
    model: str
    revision: str | None
    cpu: dict[str, Any]
    versions: dict[str, str]
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0
    created: str = ""
    key: str = ""

    def ranked(self, task: str | None = None) -> list[Trial]:
        """The trials that passed, fastest first for `task`'s requests (unmeasured ones last)."""
        return by_speed([t for t in self.trials if t.passed], task)

    def chosen(self, task: str | None = None) -> Trial | None:
        ranked = self.ranked(task)
        return ranked[0] if ranked else None

    def engines(self, task: str | None = None) -> list[str]:
        """Engine names in the order `auto` tries them (each once, at its best variant)."""
        out: list[str] = []
        for trial in self.ranked(task):
            if trial.engine not in out:
                out.append(trial.engine)
        return out

    def variant(self, engine: str, task: str | None = None) -> str | None:
        """The variant of `engine` to run: its fastest that passed, else its fastest whose
        canary did not run (not known bad), else None (the engine's default)."""
        for trial in self.ranked(task):
            if trial.engine == engine:
                return trial.variant
        unchecked = [t for t in self.trials if t.engine == engine and not t.checked]
        return by_speed(unchecked, task)[0].variant if unchecked else None

    def options(self, engine: str, task: str | None = None) -> dict[str, Any]:
        """Loader keywords for `engine` at the variant `variant()` picks ({} for its default)."""
        return engine_options(engine, self.variant(engine, task))

    def failed(self, engine: str) -> list[Trial]:
        """The trials of `engine` when every one of them ran the canary and failed (else [])."""
        trials = [t for t in self.trials if t.engine == engine]
        if not trials or any(t.passed or not t.checked for t in trials):
            return []
        return trials

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        chosen = self.chosen()
        out["chosen"] = chosen.label if chosen else None
        out["chosen_for"] = {
            task: (t.label if (t := self.chosen(task)) else None) for task in WORKLOADS
        }
        for row, trial in zip(out["trials"], self.trials, strict=True):
            row["typical_s"] = trial.typical_s
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        trials = [
            Trial(**{k: v for k, v in t.items() if k in Trial.__dataclass_fields__})
            for t in data.get("trials", [])
        ]
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**fields, "trials": trials})

    def table(self) -> list[dict[str, Any]]:
        """Rows for `doctor` and `models cache list`: engine, tok/s, canary verdict, chosen."""
        chosen = self.chosen()
        long_prompts = {task: self.chosen(task) for task in WORKLOADS}
        rows = []
        for t in self.trials:
            if t.reason == "reference":
                canary = "reference"
            elif not t.checked:
                canary = t.reason
            else:
                canary = "pass" if t.passed else f"FAIL: {t.reason}"
            rows.append(
                {
                    "model": self.model,
                    "engine": t.label,
                    "decode_tok_s": round(t.decode_tps, 1) if t.decode_tps else None,
                    "prefill_tok_s": round(t.prefill_tps, 1) if t.prefill_tps else None,
                    "agreement": round(t.agreement, 3) if t.agreement is not None else None,
                    "path_margin": round(t.path_margin, 2) if t.path_margin is not None else None,
                    "canary": canary,
                    "chosen": t is chosen,
                    "chosen_for": [task for task, c in long_prompts.items() if c is t],
                }
            )
        return rows


def summary_line(result: Verdict) -> str:
    chosen = result.chosen()
    parts = []
    for t in result.trials:
        speed = f"{t.decode_tps:.0f} tok/s" if t.decode_tps else "?"
        if t.passed:
            parts.append(f"{t.label} {speed}")
        elif not t.checked:
            parts.append(f"{t.label} {speed} (not checked)")
        else:
            parts.append(f"{t.label} failed ({t.reason})")
    head = f"engine for {result.model}: {chosen.label if chosen else 'none'}"
    for task in WORKLOADS:
        other = result.chosen(task)
        if other is not None and other is not chosen:
            head += f" ({task}: {other.label})"
    return f"{head} [{'; '.join(parts)}] in {result.seconds:.0f} s"
