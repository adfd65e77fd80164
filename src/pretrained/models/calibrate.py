"""Which engine runs a text model on THIS machine: decided by measurement, with a quality canary.

Fast CPU engines are only fast and right on some CPUs: CTranslate2's int8 path is the fastest
engine on an AVX-512 VNNI Xeon and degenerates ("The Daily Daily Daily …") on an AVX2-only
CPU, where its u8s8 matrix products saturate; llama.cpp's prebuilt wheel wins there. So the
first use of a model on a machine runs every installed candidate — llama.cpp for GGUF files,
CTranslate2 in each compute type this CPU supports, transformers (the float reference) — through

- a canary: teacher-forced next-token agreement with the float32 reference on a few ordinary
  texts (a pick counts as agreeing when it is the reference's own, or a near-tie for it), and a
  greedy run checked for degenerate repetition (a loop the reference does not make);
- a timing: prefill and decode speed, combined into the time of a typical request.

An engine that fails the canary is never chosen by `auto`; the fastest one that passes wins.
The verdict is cached (one JSON file per model × CPU × engine versions under the conversion
cache in PRETRAINED_HOME), so this happens once; `pretrained models calibrate MODEL` runs it
again, `pretrained doctor` and `pretrained models cache list` show the table.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import settings
from ..errors import PretrainedError
from .registry import ResolvedModel

# Bump when the canary, its texts or its thresholds change: old verdicts are then ignored.
CANARY_VERSION = 3
# Ordinary text of the kinds users send: prose, instructions, a list, code, numbers.
CANARY_TEXTS = (
    "The bicycle was invented in the early nineteenth century. Early models had no pedals, "
    "and riders pushed themselves along with their feet.",
    "To make a cup of tea, boil fresh water, pour it over the leaves, and let it steep for "
    "three to five minutes before you remove them.",
    "Paris is the capital of France. Berlin is the capital of Germany, and Madrid is the "
    "capital of Spain.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))  # prints 5",
)
CANARY_PROMPTS = (
    "Write a short slogan for a coffee shop.",
    "Name three animals that live in the ocean.",
    "How do I boil an egg?",
    "What is the difference between weather and climate?",
)
# Predictions compared per canary text (evenly spaced positions after the first few tokens).
POSITIONS_PER_TEXT = 8
# The reference's logit for its own pick may beat the engine's pick by less than this
# (quantization moves logits by ≈0.1–0.6 on the embedded model; a broken path by ≫ 1).
NEAR_TIE = 1.0
# Share of canary positions that must agree.
MIN_AGREEMENT = 0.8
# The greedy path: for each canary reply, the largest amount by which the reference, fed the
# same prefix, rates one of the engine's tokens below its own choice; averaged over the
# replies. Measured on the embedded SmolLM2 over 10 ordinary prompts (AMD EPYC Zen 5):
# CTranslate2 float32 and llama.cpp Q4_1 ≤ 0.32 per reply, CTranslate2 int8 0.16–0.82
# (mean 0.52), the saturating int8 path (oneDNN held to AVX2) 0.52–3.31 (mean 1.27).
PATH_MARGIN = 1.0
GREEDY_TOKENS = 24
TIMED_TOKENS = 24  # the batch-1 decode that is timed
TIMING_ROUNDS = 2
# The request the timing ranks engines by (prompt tokens, new tokens): a chat or generate call
# by default; summarize and ask send long prompts, where prefill speed decides (one engine can
# win decoding and another prefill: on the Zen 5 here llama.cpp decodes faster, CTranslate2 int8
# reads prompts ≈ 4× faster).
TYPICAL_PROMPT, TYPICAL_NEW = 256, 128
WORKLOADS = {"summarize": (1536, 96), "ask": (1024, 96)}
REFERENCE = "transformers"


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
    reason: str = ""  # why it failed (or "reference")
    sample: str = ""  # the start of its first greedy canary reply

    @property
    def label(self) -> str:
        return f"{self.engine} {self.variant}" if self.variant else self.engine

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
        passed = [t for t in self.trials if t.passed]

        def key(t: Trial) -> tuple[bool, float]:
            seconds = t.request_s(task)
            return seconds is None, seconds or 0.0

        return sorted(passed, key=key)

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
        """The best variant of `engine` that passed, else None."""
        for trial in self.ranked(task):
            if trial.engine == engine:
                return trial.variant
        return None

    def failed(self, engine: str) -> list[Trial]:
        """The trials of `engine` when every one of them failed the canary (else [])."""
        trials = [t for t in self.trials if t.engine == engine]
        return trials if trials and not any(t.passed for t in trials) else []

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
            canary = "reference" if t.reason == "reference" else ("pass" if t.passed else "FAIL")
            rows.append(
                {
                    "model": self.model,
                    "engine": t.label,
                    "decode_tok_s": round(t.decode_tps, 1) if t.decode_tps else None,
                    "prefill_tok_s": round(t.prefill_tps, 1) if t.prefill_tps else None,
                    "agreement": round(t.agreement, 3) if t.agreement is not None else None,
                    "path_margin": round(t.path_margin, 2) if t.path_margin is not None else None,
                    "canary": canary if t.passed or not t.reason else f"{canary}: {t.reason}",
                    "chosen": t is chosen,
                    "chosen_for": [task for task, c in long_prompts.items() if c is t],
                }
            )
        return rows


# ---------------------------------------------------------------- the machine
_ISA = re.compile(
    r"^(avx\w*|amx\w*|fma|f16c|sse4_2|vnni\w*|asimd\w*|sve\w*|i8mm|bf16|dotprod|neon)$"
)
# Environment variables that change which kernels the engines run (and so their results).
_ISA_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "CT2_FORCE_CPU_ISA", "GGML_CPU_ISA")


def cpu_info() -> dict[str, Any]:
    """CPU model, the ISA flags that decide which kernels run, and ISA overrides in the env."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "cpu model", "hardware") and value.strip():
            name = value.strip()
        elif key in ("flags", "features"):
            flags.update(f for f in value.split() if _ISA.match(f))
    if sys.platform == "darwin":  # pragma: no cover - macOS
        import subprocess

        out = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True
        )
        name = out.stdout.strip() or name
    env = {k: os.environ[k] for k in _ISA_ENV if os.environ.get(k)}
    return {
        "model": name,
        "arch": platform.machine(),
        "isa": sorted(flags),
        "threads": _threads(),
        **({"env": env} if env else {}),
    }


def _threads() -> int:
    from .backends.llamacpp import cpu_threads

    return cpu_threads()


def engine_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"canary": str(CANARY_VERSION)}
    for dist in ("ctranslate2", "xllamacpp", "transformers", "torch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def content_revision(resolved: ResolvedModel) -> str | None:
    """What the model's weights are, without loading them: the GGUF file's hash, the Hub
    commit, or a hash of a local folder's weights."""
    from .backends.ctranslate2 import _folder_fingerprint
    from .loading import file_sha256, gguf_path, prepare

    if resolved.format == "gguf":
        return f"sha256:{file_sha256(gguf_path(resolved))}"
    if resolved.source == "hub":
        return prepare(resolved, tokenizer_only=True).revision
    if resolved.path is not None and resolved.path.is_dir():
        return _folder_fingerprint(resolved.path)
    return None


def _key(resolved: ResolvedModel, revision: str | None, cpu: dict, versions: dict) -> str:
    blob = json.dumps([resolved.id, revision, cpu, versions], sort_keys=True)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", resolved.alias or resolved.id).strip("-")[-40:]
    return f"{slug}-{digest}"


def calibration_dir() -> Path:
    return settings.cache_dir() / "calibration"


def current_verdicts() -> list[Verdict]:
    """The verdicts that hold for this CPU and these engine versions (the ones `auto` uses)."""
    cpu, versions = cpu_info(), engine_versions()
    return [v for v in cached_verdicts() if v.cpu == cpu and v.versions == versions]


def table_rows() -> list[dict[str, Any]]:
    """The calibration table of every model measured on this CPU with these engine versions
    (`doctor`, `models cache list`, `make bench`)."""
    return [row for v in current_verdicts() for row in v.table()]


def cached_verdicts() -> list[Verdict]:
    """Every verdict stored on this machine (all models, all CPUs that shared the cache)."""
    out = []
    folder = calibration_dir()
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        try:
            out.append(Verdict.from_dict(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue  # a foreign or half-written file is not a verdict
    return out


# ---------------------------------------------------------------- candidates
def candidates(resolved: ResolvedModel) -> list[Trial]:
    """Every installed engine (and variant) that could run `resolved` on this CPU."""
    from .backends import ctranslate2, llamacpp

    if _encoder_decoder(resolved):
        return []  # the fast CPU engines run causal LMs only: nothing to choose between
    trials = []
    if ctranslate2.available():
        trials += [Trial("ctranslate2", ct) for ct in ctranslate2.cpu_compute_types()]
    if resolved.format == "gguf" and llamacpp.available():
        from .loading import gguf_path

        trials.append(Trial("llama.cpp", llamacpp.quant_name(gguf_path(resolved))))
    return trials


def _encoder_decoder(resolved: ResolvedModel) -> bool:
    from .backends.seq2seq import is_encoder_decoder
    from .loading import prepare

    if resolved.format != "transformers":
        return False
    folder = resolved.path if resolved.source == "local" else None
    if folder is None:
        folder = prepare(resolved, tokenizer_only=True).path
    return bool(folder and folder.is_dir() and is_encoder_decoder(folder))


def verdict(
    resolved: ResolvedModel,
    *,
    run: bool = True,
    force: bool = False,
    status: Any = None,
) -> Verdict | None:
    """The calibration verdict for `resolved` on this machine: from the cache, else measured
    now (when `run`). Returns None when there is nothing to choose between."""
    cpu, versions = cpu_info(), engine_versions()
    revision = content_revision(resolved)
    key = _key(resolved, revision, cpu, versions)
    path = calibration_dir() / f"{key}.json"
    if not force and path.exists():
        try:
            return Verdict.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            pass  # unreadable: measure again
    if not run:
        return None
    trials = candidates(resolved)
    if not trials:
        return None
    from .loading import _build_lock

    path.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(path):
        if not force and path.exists():  # another process measured while we waited
            return Verdict.from_dict(json.loads(path.read_text()))
        result = measure(resolved, trials, revision=revision, status=status)
        result.cpu, result.versions, result.key = cpu, versions, key
        from ..jobs.files import atomic_write

        atomic_write(path, json.dumps(result.to_dict(), indent=1))
    return result


# ---------------------------------------------------------------- measuring
def _say(status: Any, text: str) -> None:
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
    """Run the canary and the timing on each trial against the transformers reference."""
    began = time.perf_counter()
    label = resolved.alias or resolved.id
    _say(status, f"calibrating engines for {label} on this CPU (once; cached)…")
    reference = _load_reference(resolved)
    ref_trial = Trial(REFERENCE, "float32", agreement=1.0, passed=True, reason="reference")
    truth = None
    if reference is not None:
        try:
            truth = _Reference(reference)
        except (RuntimeError, IndexError, ValueError):  # a model the canary texts do not fit
            truth = None
    for trial in trials:
        try:
            backend = _load_trial(resolved, trial)
        except PretrainedError as exc:
            trial.reason = f"could not load: {exc.message}"
            continue
        try:
            _run_trial(backend, trial, truth)
        except Exception as exc:  # an engine that crashes on the canary is not chosen
            trial.reason = f"crashed on the canary: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            trial.passed = False
        finally:
            _close(backend)
    if reference is not None:
        _time(reference, ref_trial)
        trials = [*trials, ref_trial]
    result = Verdict(
        model=label,
        revision=revision,
        cpu={},
        versions={},
        trials=trials,
        seconds=round(time.perf_counter() - began, 2),
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    _say(status, summary_line(result))
    return result


def summary_line(result: Verdict) -> str:
    chosen = result.chosen()
    parts = []
    for t in result.trials:
        speed = f"{t.decode_tps:.0f} tok/s" if t.decode_tps else "?"
        parts.append(f"{t.label} {speed}" if t.passed else f"{t.label} failed ({t.reason})")
    head = f"engine for {result.model}: {chosen.label if chosen else 'none'}"
    for task in WORKLOADS:
        other = result.chosen(task)
        if other is not None and other is not chosen:
            head += f" ({task}: {other.label})"
    return f"{head} [{'; '.join(parts)}] in {result.seconds:.0f} s"


def _close(backend) -> None:
    """Free an engine now, not whenever the garbage collector gets to it (models held by
    several trials at once would add up; see CTranslate2TextBackend.close)."""
    close = getattr(backend, "close", None)
    if close is not None:
        close()


def _load_reference(resolved: ResolvedModel):
    from .backends import create_text_backend
    from .backends.transformers import TransformersTextBackend

    try:
        backend = create_text_backend(resolved, REFERENCE, device="cpu")
    except PretrainedError:
        return None  # no reference (transformers missing or cannot load): degeneration only
    return backend if isinstance(backend, TransformersTextBackend) else None


def _load_trial(resolved: ResolvedModel, trial: Trial):
    from .backends import create_text_backend

    options: dict[str, Any] = {}
    if trial.engine == "ctranslate2":
        options["compute_type"] = trial.variant
    return create_text_backend(resolved, trial.engine, **options)


class _Reference:
    """The float32 transformers model's view of the canary: token ids, its top predictions at
    the compared positions, and (computed when needed) its own greedy replies."""

    def __init__(self, backend) -> None:
        import torch

        self.backend = backend
        self.texts = [backend.tokenizer(t)["input_ids"] for t in CANARY_TEXTS]
        self.positions = [_positions(len(ids)) for ids in self.texts]
        self.top: list[list[dict[int, float]]] = []
        with torch.inference_mode():
            for ids, positions in zip(self.texts, self.positions, strict=True):
                logits = backend.model(input_ids=torch.tensor([ids])).logits[0].float()
                rows = []
                for p in positions:
                    values, indices = logits[p].topk(10)
                    rows.append(dict(zip(indices.tolist(), values.tolist(), strict=True)))
                self.top.append(rows)
        self._greedy: dict[str, str] = {}

    def agreement(self, picks: list[list[int]]) -> float:
        agree = total = 0
        for rows, got in zip(self.top, picks, strict=True):
            for top, pick in zip(rows, got, strict=True):
                total += 1
                agree += _agrees(top, pick)
        return agree / total if total else 0.0

    def path(self, pairs: list[tuple[list[int], list[int]]]) -> list[float]:
        """Per (prompt ids, reply ids): the largest margin by which the reference, given the
        prompt and the reply so far, prefers its own next token over the engine's."""
        return [max(m) for m in path_margins(self.backend, pairs) if m]

    def greedy(self, prompt: str) -> str:
        if prompt not in self._greedy:
            pairs, _ = _greedy_ids(self.backend, [prompt])
            self._greedy[prompt] = _decode(self.backend, pairs[0][1])
        return self._greedy[prompt]


def path_margins(reference, pairs: list[tuple[list[int], list[int]]]) -> list[list[float]]:
    """Per reply, per token: the reference's logit for its own choice minus its logit for the
    token the engine chose, given the same prefix (one batched forward pass of the reference;
    right padding, so every real position sees what it would alone)."""
    import torch

    context = getattr(reference, "context_length", None) or 1 << 30
    pairs = [(p, r[: max(0, context - len(p))]) for p, r in pairs]
    longest = max((len(p) + len(r) for p, r in pairs), default=0)
    if not any(r for _, r in pairs):
        return [[] for _ in pairs]
    ids = torch.zeros(len(pairs), longest, dtype=torch.long)
    mask = torch.zeros(len(pairs), longest, dtype=torch.long)
    for i, (p, r) in enumerate(pairs):
        ids[i, : len(p) + len(r)] = torch.tensor(p + r)
        mask[i, : len(p) + len(r)] = 1
    with torch.inference_mode():
        logits = reference.model(input_ids=ids, attention_mask=mask).logits.float()
    out = []
    for i, (p, r) in enumerate(pairs):
        if not r:
            out.append([])
            continue
        rows = logits[i, len(p) - 1 : len(p) + len(r) - 1]
        chosen = rows.gather(1, torch.tensor(r).unsqueeze(1)).squeeze(1)
        out.append((rows.max(dim=1).values - chosen).tolist())
    return out


def _agrees(top: dict[int, float], pick: int) -> bool:
    """The reference's own pick, or one whose logit is within NEAR_TIE of it."""
    return pick in top and max(top.values()) - top[pick] < NEAR_TIE


def _positions(n: int) -> list[int]:
    """Evenly spaced positions (index of the last token seen) past the first three tokens."""
    first, last = min(3, n - 1), n - 2
    if last < first:
        return []
    step = max(1, (last - first) // max(1, POSITIONS_PER_TEXT - 1))
    return list(range(first, last + 1, step))[:POSITIONS_PER_TEXT]


def next_token_picks(
    backend, texts: list[list[int]], positions: list[list[int]]
) -> list[list[int]]:
    """Teacher-forced: the engine's greedy next token after each prefix `ids[: p + 1]`."""
    if backend.engine == "ctranslate2":
        import numpy as np

        out = []
        for ids, pos in zip(texts, positions, strict=True):
            logits = np.asarray(backend.generator.forward_batch([ids]))[0]
            out.append([int(logits[p].argmax()) for p in pos])
        return out
    if backend.engine == "llama.cpp":
        from .backends.base import SamplingParams

        params = SamplingParams(max_new_tokens=1, temperature=0)
        prefixes = [ids[: p + 1] for ids, pos in zip(texts, positions, strict=True) for p in pos]
        picks: list[int] = []
        for chunk in backend._chunks(prefixes, 1):
            picks += [
                r.ids[0] if r.ids else -1 for r in backend._request(chunk, params, 0.0, ids=True)
            ]
        out, i = [], 0
        for pos in positions:
            out.append(picks[i : i + len(pos)])
            i += len(pos)
        return out
    raise ValueError(f"no teacher-forced canary for the {backend.engine} engine")


def _prompt_ids(backend, prompt: str) -> list[int]:
    text = backend.render_chat([{"role": "user", "content": prompt}])
    tokenizer = backend.tokenizer
    if hasattr(tokenizer, "encode") and backend.engine != REFERENCE:
        return tokenizer.encode(text, False)  # FastTokenizer: same ids as transformers'
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _greedy_ids(
    backend, prompts: list[str], max_new_tokens: int = GREEDY_TOKENS
) -> tuple[list[tuple[list[int], list[int]]], float]:
    """([(prompt ids, greedy reply ids without EOS)], seconds) for prompts decoded as one
    batch: the engine's own tokens, not the reply re-tokenized (that is not what it chose)."""
    from .backends.base import SamplingParams

    encoded = [_prompt_ids(backend, p) for p in prompts]
    started = time.perf_counter()
    if backend.engine == "ctranslate2":
        results = backend.generator.generate_batch(
            [backend.tokenizer.tokens(ids) for ids in encoded],
            max_length=max_new_tokens,
            sampling_topk=1,
            include_prompt_in_result=False,
            end_token=backend.tokenizer.eos_ids or None,
        )
        replies = [list(r.sequences_ids[0]) for r in results]
    elif backend.engine == "llama.cpp":
        params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0)
        replies = []
        for chunk in backend._chunks(encoded, max_new_tokens):
            runs = backend._request(chunk, params, started, ids=True)
            replies += [[t for t in r.ids if t not in backend.tokenizer.eos_ids] for r in runs]
    elif backend.engine == REFERENCE:
        import torch

        eos = set(backend._eos_ids)
        replies = []
        for ids in encoded:  # one at a time: no padding in the reference's own replies
            with torch.inference_mode():
                out = backend.model.generate(
                    input_ids=torch.tensor([ids]),
                    attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=backend.tokenizer.pad_token_id,
                )
            replies.append([t for t in out[0, len(ids) :].tolist() if t not in eos])
    else:
        raise ValueError(f"no greedy canary for the {backend.engine} engine")
    return list(zip(encoded, replies, strict=True)), time.perf_counter() - started


def _decode(backend, ids: list[int]) -> str:
    return backend.tokenizer.decode(ids, skip_special_tokens=True) if ids else ""


def _long_prompt(backend) -> str:
    """About TYPICAL_PROMPT tokens of canary text, fewer where the model's context is short."""
    limit = min(TYPICAL_PROMPT, (getattr(backend, "context_length", None) or 2048) - 8)
    words = " ".join(CANARY_TEXTS * 8).split()
    n = len(words)
    while n > 1 and backend.count_tokens(" ".join(words[:n])) > limit:
        n = int(n * 0.8)
    return " ".join(words[:n])


def degenerate(text: str) -> bool:
    """A greedy loop: the same word four times in a row, or mostly repeated word 3-grams."""
    words = re.findall(r"\w+|[^\w\s]", text.lower())
    if any(len(set(words[i : i + 4])) == 1 for i in range(len(words) - 3)):
        return True
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(grams) >= 12 and len(set(grams)) / len(grams) < 0.5


def _run_trial(backend, trial: Trial, truth: _Reference | None) -> None:
    if truth is not None:
        picks = next_token_picks(backend, truth.texts, truth.positions)
        trial.agreement = truth.agreement(picks)
    pairs, _ = _greedy_ids(backend, list(CANARY_PROMPTS))
    loops = []
    for prompt, (_, reply) in zip(CANARY_PROMPTS, pairs, strict=True):
        text = _decode(backend, reply)
        trial.sample = trial.sample or text[:60]
        if degenerate(text) and not (truth is not None and degenerate(truth.greedy(prompt))):
            loops.append(text[:40])
    trial.degenerate = bool(loops)
    margins = truth.path(pairs) if truth is not None else []
    trial.path_margin = sum(margins) / len(margins) if margins else None
    reasons = []
    if trial.agreement is not None and trial.agreement < MIN_AGREEMENT:
        reasons.append(f"agreement {trial.agreement:.0%} < {MIN_AGREEMENT:.0%}")
    if trial.path_margin is not None and trial.path_margin > PATH_MARGIN:
        reasons.append(f"greedy path margin {trial.path_margin:.2f} > {PATH_MARGIN}")
    if loops:
        reasons.append(f"greedy loop: {loops[0]!r}")
    trial.passed = not reasons
    trial.reason = "; ".join(reasons)
    if trial.passed:
        _time(backend, trial)


def _time(backend, trial: Trial) -> None:
    """Decode speed: greedy replies at batch 1; prefill speed: a long prompt with one new
    token. Best of TIMING_ROUNDS each (the canary warmed the engine up): on a shared machine
    the best run is the closest to what the engine can do, a single run mostly measures the
    neighbours."""
    from .backends.base import SamplingParams

    prompt = _long_prompt(backend)
    params = SamplingParams(max_new_tokens=1, temperature=0)
    decode, prefill = [], []
    for _ in range(TIMING_ROUNDS):
        pairs, seconds = _greedy_ids(backend, [CANARY_PROMPTS[0]], TIMED_TOKENS)
        tokens = len(pairs[0][1])
        if tokens > 1 and seconds > 0:
            decode.append(tokens / seconds)
        started = time.perf_counter()
        out = backend.generate([prompt], params)[0]
        seconds = time.perf_counter() - started
        if seconds > 0:
            prefill.append(out.prompt_tokens / seconds)
    trial.decode_tps = max(decode) if decode else None
    trial.prefill_tps = max(prefill) if prefill else None
