"""An in-memory engine with scripted replies, for unit tests of the task/CLI/API layers.

It behaves like a real engine (stop sequences, token counts, streaming, n sequences) but
its "tokens" are whitespace-separated words and its replies come from a script.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from .base import BackendOutput, Completion, SamplingParams, StopWatcher, StreamChunk, cut_at_stop


class ScriptedTextBackend:
    engine = "scripted"

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
        out = []
        for prompt in prompts:
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
