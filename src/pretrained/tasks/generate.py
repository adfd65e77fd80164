"""Text generation: options with validation, chat templates, batches, streams, results."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .. import runlog
from ..errors import EmptyInputError, InvalidOptionError
from ..models.backends.base import Completion, SamplingParams, TextBackend
from ..models.load_options import LoadOptions
from ..options import build, option, validate
from . import structured

# Seeds are 32-bit: what every engine can take as it is (CTranslate2's set_random_seed is an
# unsigned int; llama.cpp's sampler seed too).
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class GenerateOptions:
    """Every knob of text generation. temperature 0 means greedy (deterministic). Each
    field's bounds, help and example are declared here once (pretrained.options): the CLI
    flags, the UI sliders and the API's bounds are derived from them."""

    max_new_tokens: int = option(128, "Most tokens to generate.", ge=1, example=128, short="-n")
    temperature: float = option(
        0.7,
        "Randomness; 0 = greedy (deterministic).",
        ge=0,
        le=100,
        note="(0 = greedy)",
        example=0.7,
        short="-t",
        slider_max=2,
    )
    top_k: int = option(
        50,
        "Sample from the k most likely tokens (0 = off).",
        ge=0,
        note="(0 = off)",
        example=50,
        slider_max=200,
    )
    top_p: float = option(
        0.95,
        "Nucleus sampling: smallest set with this total probability.",
        gt=0,
        le=1,
        example=0.95,
        step=0.01,
    )
    repetition_penalty: float = option(
        1.1,
        "> 1 discourages repeating tokens (1 = off).",
        gt=0,
        note="(1 = off)",
        example=1.1,
        slider_max=2,
    )
    num_return_sequences: int = option(
        1, "Completions per prompt (needs temperature > 0).", ge=1, example=3
    )
    seed: int | None = option(
        None, "Random seed for reproducible sampling.", ge=0, le=MAX_SEED, example=42
    )
    stop: tuple[str, ...] = option(
        (), "Stop when this text appears (repeatable).", nonempty=True, example="'\\n\\n'"
    )
    system: str | None = option(None, "System prompt for chat models.")
    raw: bool = option(False, "Feed the prompt as is, without the chat template.")
    batch_size: int = option(8, "Prompts per forward pass with --file.", ge=1, example=8)
    # constrained generation (tasks/structured.py, models/structured): at most one of these
    json_schema: str | None = option(
        None,
        "The output is JSON that validates against this schema (JSON text; from_kwargs: "
        "a dict or a file too).",
    )
    json_object: bool = option(False, "The output is one JSON object.")
    regex: str | None = option(None, "The whole output matches this regular expression.")
    choice: tuple[str, ...] = option((), "The output is exactly one of these.")
    grammar: str | None = option(
        None, "A Lark grammar in llguidance's dialect (tool calls use it)."
    )
    grammar_name: str | None = option(None, "What errors call that grammar.")
    logprobs: int | None = option(
        None, "Per-token log-probabilities with this many alternatives.", ge=0, le=20, example=5
    )

    def validate(self) -> GenerateOptions:
        validate(self)
        if self.num_return_sequences > 1 and self.temperature == 0:
            raise InvalidOptionError(
                "--num-return-sequences > 1 needs sampling, but --temperature 0 is greedy "
                "(every sequence would be the same)",
                hint="set --temperature above 0, e.g. --temperature 0.8",
            )
        self.constraint()  # a bad or impossible constraint fails here, before any load
        return self

    def constraint(self):
        """The output constraint these options ask for (a models.structured.Constraint), or
        None for free decoding."""
        from .structured import options_constraint

        return options_constraint(self)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> GenerateOptions:
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
        return build(cls, kwargs, "generation")

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
    backend: TextBackend | None, model: str | None, load_options: LoadOptions | None
) -> TextBackend:
    if backend is not None:
        return backend
    from ..models import load

    return (load_options or LoadOptions()).call(load, model)


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


def resolve_seed(options: GenerateOptions) -> GenerateOptions:
    """Sampling without a seed gets a random one, reported back so the run can be repeated."""
    if options.temperature > 0 and options.seed is None:
        return replace(options, seed=random.randrange(2**31))
    return options


def _log(backend: TextBackend, results: list[GenerateResult]) -> None:
    runlog.annotate(
        task="text-generation",
        model=backend.model_id,
        revision=backend.revision,
        device=backend.device,
        engine=backend.engine,
        prompt_tokens=sum(r.prompt_tokens for r in results),
        completion_tokens=sum(r.completion_tokens for r in results),
    )


def generate(
    prompt: str,
    model: str | None = None,
    options: GenerateOptions | None = None,
    *,
    backend: TextBackend | None = None,
    load_options: LoadOptions | None = None,
) -> GenerateResult:
    """Generate from one prompt (loaded by `load_options`, or run on `backend`). For many
    prompts (batched), `generate_many`."""
    if not isinstance(prompt, str):
        raise InvalidOptionError(
            "generate() takes one prompt (text)", hint="for a list of prompts use generate_many()"
        )
    return generate_many([prompt], model, options, backend=backend, load_options=load_options)[0]


def generate_many(
    prompts: list[str],
    model: str | None = None,
    options: GenerateOptions | None = None,
    *,
    backend: TextBackend | None = None,
    on_progress: Callable[[int], None] | None = None,
    load_options: LoadOptions | None = None,
) -> list[GenerateResult]:
    """Generate from each prompt of a list, `options.batch_size` prompts per engine call."""
    if isinstance(prompts, str):
        raise InvalidOptionError(
            "generate_many() takes a list of prompts", hint="use generate() for one prompt"
        )
    prompts = list(prompts)
    if not prompts:
        raise EmptyInputError("no prompts were given")
    for p in prompts:
        _check_prompt(p)
    options = resolve_seed((options or GenerateOptions()).validate())
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
    return results


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
    load_options: LoadOptions | None = None,
) -> GenerationStream:
    """Stream one completion. Stop sequences are never shown, even partially."""
    _check_prompt(prompt)
    options = resolve_seed((options or GenerateOptions()).validate())
    if options.num_return_sequences != 1:
        raise InvalidOptionError(
            "streaming returns one sequence", hint="drop --num-return-sequences, or use --no-stream"
        )
    backend = structured.engine(_backend(backend, model, load_options), options)
    text, chat = prepare_prompt(backend, prompt, options)
    return GenerationStream(
        backend, prompt, text, chat, options, options.sampling(), backend.load_seconds
    )
