"""An in-memory engine with scripted replies, for unit tests of the task/CLI/API layers.

It behaves like a real engine (stop sequences, token counts, streaming, n sequences) but
its "tokens" are whitespace-separated words and its replies come from a script.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from .base import (
    BackendOutput,
    Completion,
    SamplingParams,
    StopWatcher,
    StreamChunk,
    check_cancelled,
    cut_at_stop,
)


class ScriptedTextBackend:
    engine = "scripted"
    # takes constrained requests (no hand-off) so upper layers can be tested: the grammar is
    # recorded in `grammars`, the reply still comes from the script, and the task layer's
    # validation of every constrained output (tasks/structured.py) judges it
    constrains = True

    def __init__(
        self,
        reply: str | Callable[[str, SamplingParams], str] = "hello world",
        *,
        chat_template: bool = True,
        model_id: str = "scripted",
        context_length: int | None = 2048,
    ) -> None:
        self.reply = reply
        self.model_id = model_id
        self.revision = "scripted"
        self.device = "cpu"
        self.dtype = "none"
        self.load_seconds = 0.0
        self.context_length = context_length
        self._chat = chat_template
        self.prompts: list[str] = []
        self.grammars: list[str | None] = []

    @property
    def has_chat_template(self) -> bool:
        return self._chat

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        body = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages)
        return body + "<assistant>"

    def count_tokens(self, text: str, add_special_tokens: bool = True) -> int:
        return len(text.split()) + (1 if add_special_tokens else 0)

    def _text(self, prompt: str, params: SamplingParams) -> tuple[str, str, int]:
        full = self.reply(prompt, params) if callable(self.reply) else self.reply
        words = full.split(" ")
        finish = "stop"
        if len(words) > params.max_new_tokens:
            words, finish = words[: params.max_new_tokens], "length"
        text, hit = cut_at_stop(" ".join(words), params.stop)
        return text, "stop" if hit else finish, len(text.split())

    def generate(self, prompts, params, *, add_special_tokens=True) -> list[BackendOutput]:
        self.prompts.extend(prompts)
        self.grammars.append(params.grammar)
        out = []
        for prompt in prompts:
            check_cancelled()  # as the real engines do between tokens
            completions = [
                Completion(*self._text(prompt, params)) for _ in range(params.num_return_sequences)
            ]
            out.append(
                BackendOutput(self.count_tokens(prompt, add_special_tokens), completions, 0.0, 0.0)
            )
        return out

    def stream(
        self, prompt, params, *, add_special_tokens=True, cancel: threading.Event | None = None
    ) -> Iterator[StreamChunk]:
        self.prompts.append(prompt)
        self.grammars.append(params.grammar)
        full = self.reply(prompt, params) if callable(self.reply) else self.reply
        words = full.split(" ")[: params.max_new_tokens]
        watcher = StopWatcher(params.stop)
        count = 0
        for i, word in enumerate(words):
            if cancel is not None and cancel.is_set():
                break
            count += 1
            piece = watcher.feed(word if i == 0 else " " + word)
            if piece:
                yield StreamChunk(text=piece)
            if watcher.stopped:
                break
        tail = watcher.flush()
        if tail:
            yield StreamChunk(text=tail)
        finish = (
            "stop" if watcher.stopped or len(full.split(" ")) <= params.max_new_tokens else "length"
        )
        yield StreamChunk(
            done=True,
            finish_reason=finish,
            prompt_tokens=self.count_tokens(prompt, add_special_tokens),
            completion_tokens=count,
            first_token_s=0.0,
        )


class ScriptedTranscriber:
    """A speech engine for tests: one segment per burst of sound in the samples it is given.

    Feed it audio made of tones separated by silence and it "hears" each tone as a segment whose
    text comes from `words` (cycled; a callable gets the burst's start in seconds). A burst cut
    by the end of the samples ends there, as a real engine's would. `calls` records the length
    and prompt of every window, so tests can check windowing and resumption.
    """

    engine = "scripted"

    def __init__(
        self,
        words: list[str] | Callable[[float], str] = ("speech",),
        *,
        language: str = "en",
        multilingual: bool = False,
        threshold: float = 0.05,
        fail_after: int | None = None,
        model_id: str = "scripted-speech",
    ) -> None:
        self.words = words
        self.language = language
        self.multilingual = multilingual
        self.languages = None if multilingual else ("en",)
        self.threshold = threshold
        self.fail_after = fail_after  # raise on this call number (simulates a crash)
        self.model_id = model_id
        self.revision = "scripted"
        self.device = "cpu"
        self.compute_type = "none"
        self.load_seconds = 0.0
        self.calls: list[dict] = []
        self._count = 0

    def transcribe(self, audio, params):
        import numpy as np

        from .transcription import SAMPLE_RATE, Segment, TranscriptionInfo

        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("scripted crash")
        self.calls.append({"seconds": len(audio) / SAMPLE_RATE, "prompt": params.initial_prompt})
        loud = np.abs(np.asarray(audio)) > self.threshold
        # burst edges: where loudness switches on/off (10 ms hops so tone zero-crossings don't count)
        hop = SAMPLE_RATE // 100
        frames = loud[: len(loud) // hop * hop].reshape(-1, hop).any(axis=1)
        segments = []
        start = None
        for i, on in enumerate([*frames.tolist(), False]):
            if on and start is None:
                start = i
            elif not on and start is not None:
                begin, end = start * hop / SAMPLE_RATE, i * hop / SAMPLE_RATE
                if callable(self.words):
                    text = self.words(begin)
                else:
                    text = self.words[self._count % len(self.words)]
                    self._count += 1
                segments.append(Segment(begin, end, " " + text, avg_logprob=-0.1))
                start = None
        info = TranscriptionInfo(params.language or self.language, 1.0, len(audio) / SAMPLE_RATE)
        return iter(segments), info
