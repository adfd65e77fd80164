"""The text-generation backend protocol, shared by every engine.

An engine turns prompt *text* into completions. Chat templates, option validation, results and
run logging live in the task layer (tasks/generate.py, tasks/chat.py), so an engine is small:
load, render a chat, count tokens, generate a batch, stream one prompt.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# Used when a model has no chat template of its own (GPT-2 and other base models).
FALLBACK_CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] }}\n"
    "{% else %}Assistant: {{ m['content'] }}\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)
FALLBACK_CHAT_STOPS = ("\nUser:",)


class HFTokenizerChat:
    """Chat rendering and token counting for engines that hold a transformers tokenizer
    (`self.tokenizer`): the model's chat template, or a plain fallback when it has none."""

    tokenizer: Any

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        template = None if self.has_chat_template else FALLBACK_CHAT_TEMPLATE
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, chat_template=template
        )

    def count_tokens(self, text: str, add_special_tokens: bool = True) -> int:
        return len(self.tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 128
    temperature: float = 0.7  # 0 → greedy
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.0
    num_return_sequences: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # constrained decoding (models/structured): a Lark grammar in llguidance's dialect that the
    # output must match; only engines with `constrains = True` take it (others hand it off)
    grammar: str | None = None
    # per-token log-probabilities: None = off, k ≥ 0 = the chosen token and k alternatives
    logprobs: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Completion:
    text: str
    finish_reason: str  # "stop" (EOS or a stop sequence) | "length"
    completion_tokens: int
    # with SamplingParams.logprobs: OpenAI's shape, one entry per generated token (EOS not
    # included): {"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}
    logprobs: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "completion_tokens": self.completion_tokens,
        }
        if self.logprobs is not None:
            out["logprobs"] = self.logprobs
        return out


@dataclass
class BackendOutput:
    prompt_tokens: int
    completions: list[Completion]
    first_token_s: float | None = None
    seconds: float = 0.0


@dataclass
class StreamChunk:
    """A piece of streamed text; the last chunk has done=True and the totals."""

    text: str = ""
    done: bool = False
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    first_token_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class TextBackend(Protocol):
    engine: str
    model_id: str  # what to show and log (Hub id, alias or path)
    revision: str | None  # commit sha or file hash
    device: str
    dtype: str
    load_seconds: float
    context_length: int | None

    @property
    def has_chat_template(self) -> bool: ...

    def render_chat(self, messages: list[dict[str, str]]) -> str: ...

    def count_tokens(self, text: str, add_special_tokens: bool = True) -> int: ...

    def generate(
        self, prompts: list[str], params: SamplingParams, *, add_special_tokens: bool = True
    ) -> list[BackendOutput]: ...

    def stream(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        add_special_tokens: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamChunk]: ...


# ---------------------------------------------------------------- cancellation
# Work that a server runs for a request carries the request's cancel event here (set on the
# worker thread by `cancel_scope`); every engine's generate() watches it between tokens and
# task loops between batches, so a request that timed out or lost its client stops computing.
# Streams take their event as an argument instead (GenerationStream.cancel).
_cancel: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "pretrained_cancel", default=None
)


@contextlib.contextmanager
def cancel_scope(event: threading.Event | None) -> Iterator[threading.Event | None]:
    token = _cancel.set(event)
    try:
        yield event
    finally:
        _cancel.reset(token)


def cancel_event() -> threading.Event | None:
    """The cancel event of the work running in this thread, if any."""
    return _cancel.get()


def cancelled() -> bool:
    event = _cancel.get()
    return event is not None and event.is_set()


def check_cancelled() -> None:
    """Raise WorkCancelledError when the work running in this thread was cancelled."""
    if cancelled():
        from ...errors import WorkCancelledError

        raise WorkCancelledError("the work was stopped: its request timed out or was closed")


# ---------------------------------------------------------------- helpers shared by engines
def cut_at_stop(text: str, stops: tuple[str, ...] | list[str]) -> tuple[str, bool]:
    """Cut text before the earliest stop sequence. Returns (text, whether a stop was found)."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class StopWatcher:
    """Incremental stop-sequence detection for streams.

    Text that could be the start of a stop sequence is held back until it is known not to be,
    so a stream never shows the user half of a stop sequence.
    """

    def __init__(self, stops: tuple[str, ...] | list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.buffer = ""
        self.emitted = 0
        self.stopped = False

    def feed(self, delta: str) -> str:
        if self.stopped:
            return ""
        self.buffer += delta
        text, hit = cut_at_stop(self.buffer, self.stops)
        if hit:
            self.stopped = True
            out = text[self.emitted :]
            self.emitted = len(text)
            self.buffer = text
            return out
        hold = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:size]):
                    hold = max(hold, size)
                    break
        safe = len(text) - hold
        out = text[self.emitted : safe] if safe > self.emitted else ""
        self.emitted = max(self.emitted, safe)
        return out

    def flush(self) -> str:
        """The held-back tail once the stream ended without a stop."""
        if self.stopped:
            return ""
        out = self.buffer[self.emitted :]
        self.emitted = len(self.buffer)
        return out


def worker_stream(
    work: Callable[[Callable[[Any], None]], Any], cancel: threading.Event, out: dict[str, Any]
) -> Iterator[Any]:
    """Run `work(put)` in a thread and yield what it puts, as it puts it: how an engine whose
    decoding loop blocks (llama.cpp, CTranslate2) streams. When the consumer stops (the worker
    is done, the stream is closed, or it raised), `cancel` is set and the worker joined, so the
    engine is idle again; the worker's exception is raised here, its return value is
    `out["result"]`."""
    import queue

    items: queue.Queue[Any] = queue.Queue()
    done = object()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            out["result"] = work(items.put)
        except BaseException as exc:  # surfaced in the consuming thread
            failure.append(exc)
        finally:
            items.put(done)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not done:
            yield item
    finally:
        cancel.set()
        thread.join()
    if failure:
        raise failure[0]
