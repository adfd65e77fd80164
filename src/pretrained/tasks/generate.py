"""Text generation: options with validation, chat templates, batches, streams, results."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .. import runs
from ..errors import EmptyInputError, InvalidOptionError, reject_unknown_options
from ..models.backends.base import Completion, SamplingParams, TextBackend
from . import structured

# Seeds are 32-bit: what every engine can take as it is (CTranslate2's set_random_seed is an
# unsigned int; llama.cpp's sampler seed too).
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class GenerateOptions:
    """Every knob of text generation. temperature 0 means greedy (deterministic)."""

    max_new_tokens: int = 128
    temperature: float = 0.7
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    num_return_sequences: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    system: str | None = None
    raw: bool = False  # skip the chat template
    batch_size: int = 8
    # constrained generation (tasks/structured.py, models/structured): at most one of these
    json_schema: str | None = None  # a schema: JSON text (from_kwargs: a dict or a file too)
    json_object: bool = False  # any JSON object
    regex: str | None = None  # the whole output matches this pattern
    choice: tuple[str, ...] = ()  # the output is exactly one of these
    grammar: str | None = None  # a Lark grammar in llguidance's dialect (tool calls use it)
    grammar_name: str | None = None  # what errors call that grammar
    logprobs: int | None = None  # per-token logprobs with this many alternatives (0: none)

    def validate(self) -> GenerateOptions:
        def bad(name: str, value: Any, rule: str, example: str) -> InvalidOptionError:
            flag = "--" + name.replace("_", "-")
            return InvalidOptionError(
                f"{flag} must be {rule} (got {value!r})", hint=f"e.g. {flag} {example}"
            )

        def number(value: Any) -> bool:
            return (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
            )

        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise bad("max_new_tokens", self.max_new_tokens, "a whole number ≥ 1", "128")
        if not number(self.temperature) or self.temperature < 0:
            raise bad("temperature", self.temperature, "a number ≥ 0 (0 = greedy)", "0.7")
        if self.temperature > 100:
            raise bad("temperature", self.temperature, "at most 100", "0.7")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise bad("top_k", self.top_k, "a whole number ≥ 0 (0 = off)", "50")
        if not number(self.top_p) or not 0 < self.top_p <= 1:
            raise bad("top_p", self.top_p, "in (0, 1]", "0.95")
        if not number(self.repetition_penalty) or self.repetition_penalty <= 0:
            raise bad(
                "repetition_penalty", self.repetition_penalty, "a number > 0 (1 = off)", "1.1"
            )
        if not isinstance(self.num_return_sequences, int) or self.num_return_sequences < 1:
            raise bad("num_return_sequences", self.num_return_sequences, "a whole number ≥ 1", "3")
        if self.num_return_sequences > 1 and self.temperature == 0:
            raise InvalidOptionError(
                "--num-return-sequences > 1 needs sampling, but --temperature 0 is greedy "
                "(every sequence would be the same)",
                hint="set --temperature above 0, e.g. --temperature 0.8",
            )
        if self.seed is not None and (
            not isinstance(self.seed, int)
            or isinstance(self.seed, bool)
            or not 0 <= self.seed <= MAX_SEED
        ):
            raise bad("seed", self.seed, f"a whole number from 0 to {MAX_SEED}", "42")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise bad("stop", list(self.stop), "non-empty text", "'\\n\\n'")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad("batch_size", self.batch_size, "a whole number ≥ 1", "8")
        if self.logprobs is not None and (
            not isinstance(self.logprobs, int) or not 0 <= self.logprobs <= 20
        ):
            raise bad("logprobs", self.logprobs, "a whole number from 0 to 20", "5")
        self.constraint()  # a bad or impossible constraint fails here, before any load
        return self

    def constraint(self):
        """The output constraint these options ask for (a models.structured.Constraint), or
        None for free decoding."""
        from .structured import options_constraint

        return options_constraint(self)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> GenerateOptions:
        reject_unknown_options(kwargs, (f.name for f in fields(cls)), "generation")
        if "stop" in kwargs and isinstance(kwargs["stop"], str):
            kwargs["stop"] = (kwargs["stop"],)
        if "stop" in kwargs and kwargs["stop"] is not None:
            kwargs["stop"] = tuple(kwargs["stop"])
        if kwargs.get("json_schema") is not None:
            import json

            from ..models.structured import read_schema

            kwargs["json_schema"] = json.dumps(read_schema(kwargs["json_schema"]))
        if isinstance(kwargs.get("choice"), str):
            kwargs["choice"] = tuple(c.strip() for c in kwargs["choice"].split(","))
        elif kwargs.get("choice") is not None:
            kwargs["choice"] = tuple(kwargs["choice"])
        return cls(**{k: v for k, v in kwargs.items() if v is not None}).validate()

    def sampling(self, extra_stops: tuple[str, ...] = ()) -> SamplingParams:
        return SamplingParams(
            max_new_tokens=self.max_new_tokens,
            temperature=float(self.temperature),
            top_k=self.top_k,
            top_p=float(self.top_p),
            repetition_penalty=float(self.repetition_penalty),
            num_return_sequences=self.num_return_sequences,
            seed=self.seed,
            stop=tuple(self.stop) + tuple(s for s in extra_stops if s not in self.stop),
            grammar=constraint.lark() if (constraint := self.constraint()) else None,
            logprobs=self.logprobs,
        )

    def describe(self) -> dict[str, Any]:
        """The knob values that matter for this run (sampling knobs hidden when greedy)."""
        out: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
        }
        if self.temperature > 0:
            out.update(top_k=self.top_k, top_p=self.top_p)
        out["repetition_penalty"] = self.repetition_penalty
        if self.num_return_sequences > 1:
            out["num_return_sequences"] = self.num_return_sequences
        if self.seed is not None:
            out["seed"] = self.seed
        if self.stop:
            out["stop"] = list(self.stop)
        if self.system:
            out["system"] = self.system
        if self.raw:
            out["raw"] = True
        if (constraint := self.constraint()) is not None:
            out.update(constraint.describe())
        if self.logprobs is not None:
            out["logprobs"] = self.logprobs
        return out


@dataclass
class GenerateResult:
    prompt: str
    completions: list[Completion]
    model: str
    revision: str | None
    engine: str
    device: str
    options: dict[str, Any]
    prompt_tokens: int
    chat_template: bool
    timings: dict[str, float | None] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.completions[0].text if self.completions else ""

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.completions]

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.completions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "text": self.text,
            "texts": self.texts,
            "completions": [c.to_dict() for c in self.completions],
            "model": self.model,
            "revision": self.revision,
            "engine": self.engine,
            "device": self.device,
            "options": self.options,
            "chat_template": self.chat_template,
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            },
            "timings": self.timings,
        }


def _backend(
    backend: TextBackend | None, model: str | None, load_options: dict[str, Any]
) -> TextBackend:
    if backend is not None:
        return backend
    from ..models import load

    return load(model, **load_options)


def prepare_prompt(backend: TextBackend, prompt: str, options: GenerateOptions) -> tuple[str, bool]:
    """→ (text to feed the engine, whether a chat template was applied).

    Chat models get their own template (with --system); base models get the prompt as is,
    so they continue it. --raw always feeds the prompt as is."""
    if options.raw:
        return prompt, False
    if backend.has_chat_template:
        messages = [{"role": "system", "content": options.system}] if options.system else []
        messages.append({"role": "user", "content": prompt})
        return backend.render_chat(messages), True
    if options.system:
        return options.system.rstrip() + "\n\n" + prompt, False
    return prompt, False


def build_result(
    backend: TextBackend,
    prompt: str,
    completions: list[Completion],
    options: GenerateOptions,
    prompt_tokens: int,
    chat: bool,
    load_s: float,
    first_token_s: float | None,
    elapsed: float,
) -> GenerateResult:
    """A GenerateResult with the backend's provenance and the timings every engine reports."""
    tokens = sum(c.completion_tokens for c in completions)
    return GenerateResult(
        prompt=prompt,
        completions=completions,
        model=backend.model_id,
        revision=backend.revision,
        engine=backend.engine,
        device=backend.device,
        options=options.describe(),
        prompt_tokens=prompt_tokens,
        chat_template=chat,
        timings={
            "import_s": round(getattr(backend, "import_seconds", 0.0), 3),
            "load_s": round(load_s, 3),
            "first_token_s": round(first_token_s, 3) if first_token_s is not None else None,
            "total_s": round(elapsed, 3),
            "tokens_per_s": round(tokens / elapsed, 2) if elapsed > 0 else None,
        },
    )


def _check_prompt(prompt: Any) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise EmptyInputError("the prompt is empty")
    return prompt


def _resolve_seed(options: GenerateOptions) -> GenerateOptions:
    """Sampling without a seed gets a random one, reported back so the run can be repeated."""
    if options.temperature > 0 and options.seed is None:
        return replace(options, seed=random.randrange(2**31))
    return options


def _log(backend: TextBackend, results: list[GenerateResult]) -> None:
    runs.annotate(
        task="text-generation",
        model=backend.model_id,
        revision=backend.revision,
        device=backend.device,
        engine=backend.engine,
        prompt_tokens=sum(r.prompt_tokens for r in results),
        completion_tokens=sum(r.completion_tokens for r in results),
    )


def generate(
    prompt: str | list[str],
    model: str | None = None,
    options: GenerateOptions | None = None,
    *,
    backend: TextBackend | None = None,
    on_progress: Callable[[int], None] | None = None,
    **load_options: Any,
) -> GenerateResult | list[GenerateResult]:
    """Generate from one prompt (→ GenerateResult) or a list (→ list, batched)."""
    single = isinstance(prompt, str)
    prompts = [prompt] if single else list(prompt)
    if not prompts:
        raise EmptyInputError("no prompts were given")
    for p in prompts:
        _check_prompt(p)
    options = _resolve_seed((options or GenerateOptions()).validate())
    backend = structured.engine(_backend(backend, model, load_options), options)
    load_s = backend.load_seconds
    prepared = [prepare_prompt(backend, p, options) for p in prompts]
    results: list[GenerateResult] = []
    for start in range(0, len(prompts), options.batch_size):
        chunk = prepared[start : start + options.batch_size]
        params = options.sampling()
        began = time.perf_counter()
        outputs = backend.generate(
            [c[0] for c in chunk], params, add_special_tokens=not chunk[0][1]
        )
        elapsed = time.perf_counter() - began
        for offset, out in enumerate(outputs):
            structured.check(options, out.completions)
            results.append(
                build_result(
                    backend,
                    prompts[start + offset],
                    out.completions,
                    options,
                    out.prompt_tokens,
                    chunk[offset][1],
                    load_s,
                    out.first_token_s,
                    elapsed,
                )
            )
        if on_progress:
            on_progress(len(chunk))
    _log(backend, results)
    return results[0] if single else results


class GenerationStream:
    """Iterate to get text deltas as they are produced; `.result` once exhausted.

    Closing it (or breaking out of the loop, or Ctrl-C) stops generation on the engine."""

    def __init__(
        self,
        backend: TextBackend,
        prompt: str,
        text: str,
        chat: bool,
        options: GenerateOptions,
        params: SamplingParams,
        load_s: float,
    ) -> None:
        self.backend = backend
        self.prompt = prompt
        self.options = options
        self.cancel = threading.Event()
        self.result: GenerateResult | None = None
        self.text = ""
        self._started = time.perf_counter()
        self._chat = chat
        self._load_s = load_s
        self._chunks = backend.stream(text, params, add_special_tokens=not chat, cancel=self.cancel)

    def __iter__(self) -> Iterator[str]:
        for chunk in self._chunks:
            if chunk.done:
                elapsed = time.perf_counter() - self._started
                completion = Completion(
                    self.text,
                    chunk.finish_reason or "stop",
                    chunk.completion_tokens or 0,
                    chunk.extra.get("logprobs"),
                )
                structured.check(self.options, [completion])
                self.result = build_result(
                    self.backend,
                    self.prompt,
                    [completion],
                    self.options,
                    chunk.prompt_tokens or 0,
                    self._chat,
                    self._load_s,
                    chunk.first_token_s,
                    elapsed,
                )
                _log(self.backend, [self.result])
            elif chunk.text:
                self.text += chunk.text
                yield chunk.text

    def close(self) -> None:
        self.cancel.set()
        close = getattr(self._chunks, "close", None)
        if close:
            close()


def stream(
    prompt: str,
    model: str | None = None,
    options: GenerateOptions | None = None,
    *,
    backend: TextBackend | None = None,
    **load_options: Any,
) -> GenerationStream:
    """Stream one completion. Stop sequences are never shown, even partially."""
    _check_prompt(prompt)
    options = _resolve_seed((options or GenerateOptions()).validate())
    if options.num_return_sequences != 1:
        raise InvalidOptionError(
            "streaming returns one sequence", hint="drop --num-return-sequences, or use --no-stream"
        )
    backend = structured.engine(_backend(backend, model, load_options), options)
    text, chat = prepare_prompt(backend, prompt, options)
    return GenerationStream(
        backend, prompt, text, chat, options, options.sampling(), backend.load_seconds
    )
