"""Multi-turn chat over any text backend: history, system prompt, context-window trimming."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import EmptyInputError, InputError, InvalidOptionError
from ..models.backends.base import FALLBACK_CHAT_STOPS, TextBackend
from ..models.load_options import LoadOptions
from . import structured
from .generate import (
    GenerateOptions,
    GenerateResult,
    GenerationStream,
    _backend,
    _log,
    build_result,
    resolve_seed,
)

ROLES = ("system", "user", "assistant")


def check_messages(messages: Any) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise EmptyInputError(
            "no messages were given", hint='pass a list like [{"role": "user", "content": "Hi"}]'
        )
    clean = []
    for i, m in enumerate(messages):
        if (
            not isinstance(m, dict)
            or m.get("role") not in ROLES
            or not isinstance(m.get("content"), str)
        ):
            raise InvalidOptionError(
                f"message {i} is not {{'role': system|user|assistant, 'content': text}}",
                hint='e.g. {"role": "user", "content": "Hello"}',
            )
        clean.append({"role": m["role"], "content": m["content"]})
    if not any(m["role"] == "user" and m["content"].strip() for m in clean):
        raise EmptyInputError("the conversation has no user message with text")
    return clean


def fit_context(
    backend: TextBackend, messages: list[dict[str, str]], reserve: int
) -> list[dict[str, str]]:
    """Drop the oldest turns (never the system prompt or the last message) until the rendered
    conversation plus `reserve` new tokens fits the model's context window."""
    limit = backend.context_length
    if not limit:
        return messages
    system = [m for m in messages if m["role"] == "system"][:1]
    turns = [m for m in messages if m["role"] != "system"]
    while (
        len(turns) > 1
        and backend.count_tokens(backend.render_chat(system + turns), False) + reserve > limit
    ):
        turns = turns[1:]
    return system + turns


def _render(backend: TextBackend, messages: list[dict[str, str]], options: GenerateOptions):
    messages = fit_context(backend, messages, options.max_new_tokens)
    extra = () if backend.has_chat_template else FALLBACK_CHAT_STOPS
    return backend.render_chat(messages), options.sampling(extra)


def chat(
    messages: list[dict[str, str]],
    model: str | None = None,
    options: GenerateOptions | None = None,
    *,
    backend: TextBackend | None = None,
    load_options: LoadOptions | None = None,
) -> GenerateResult:
    """One assistant reply to a conversation (OpenAI-style messages)."""
    messages = check_messages(messages)
    options = resolve_seed((options or GenerateOptions()).validate())
    backend = structured.engine(_backend(backend, model, load_options), options)
    text, params = _render(backend, messages, options)
    out = backend.generate([text], params, add_special_tokens=False)[0]
    structured.check(options, out.completions)

    result = build_result(
        backend,
        messages[-1]["content"],
        out.completions,
        options,
        out.prompt_tokens,
        True,
        backend.load_seconds,
        out.first_token_s,
        out.seconds,
    )
    _log(backend, [result])
    return result


def stream_chat(
    messages: list[dict[str, str]],
    model: str | None = None,
    options: GenerateOptions | None = None,
    *,
    backend: TextBackend | None = None,
    load_options: LoadOptions | None = None,
) -> GenerationStream:
    messages = check_messages(messages)
    options = resolve_seed((options or GenerateOptions()).validate())
    backend = structured.engine(_backend(backend, model, load_options), options)
    text, params = _render(backend, messages, options)
    return GenerationStream(
        backend, messages[-1]["content"], text, True, options, params, backend.load_seconds
    )


@dataclass
class ChatSession:
    """A conversation that remembers its history (the REPL and the UI use this)."""

    backend: TextBackend
    options: GenerateOptions = field(default_factory=GenerateOptions)
    system: str | None = None
    messages: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.options = self.options.validate()
        if self.system is None:
            self.system = self.options.system
        self.options = replace(self.options, system=None)

    def history(self) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.messages

    def send(self, text: str) -> GenerationStream:
        if not text.strip():
            raise EmptyInputError("the message is empty")
        self.messages.append({"role": "user", "content": text})
        return stream_chat(self.history(), options=self.options, backend=self.backend)

    def record_reply(self, text: str) -> None:
        """Keep the reply (or the part shown before Ctrl-C) in the history."""
        self.messages.append({"role": "assistant", "content": text})

    def reset(self) -> None:
        self.messages.clear()

    def set_system(self, text: str | None) -> None:
        self.system = text or None

    def save(self, path: str | Path) -> Path:
        target = Path(path).expanduser()
        payload = {
            "model": self.backend.model_id,
            "revision": self.backend.revision,
            "options": self.options.describe(),
            "messages": self.history(),
        }
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise InputError(
                f"cannot write '{target}': {exc.strerror}", hint="choose a writable path"
            ) from exc
        return target
