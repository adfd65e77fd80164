"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama, our own
`pretrained serve` …) behind the TextBackend protocol, through the official `openai` SDK.

Configuration: OPENAI_API_KEY and OPENAI_BASE_URL (or arguments). The key is handed to the SDK
and never printed or logged. A local server with no key needs only a base URL.

The protocol is text-in/text-out; chat messages pass through `render_chat` as a tagged JSON
string that `generate` turns back into messages, so tasks.chat/tasks.generate work unchanged.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from ...errors import AuthError, ModelNotFoundError, NetworkError, missing_dependency
from .base import (
    BackendOutput,
    Completion,
    SamplingParams,
    StreamChunk,
    check_cancelled,
    cut_at_stop,
)

_TAG = "\x00openai-messages:"


class OpenAIChatBackend:
    engine = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        context_length: int | None = None,
    ) -> None:
        try:
            import openai
        except ImportError as exc:  # pragma: no cover - part of [text]
            raise missing_dependency("openai", "text") from exc
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if not base_url:
                raise AuthError(
                    "--backend openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)",
                    hint="export OPENAI_API_KEY=… or OPENAI_BASE_URL=http://localhost:8000/v1",
                )
            key = "not-needed"  # local OpenAI-compatible servers accept any key
        self._openai = openai
        self.client = openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=1)
        self.model_id = model
        self.revision = None
        self.device = "remote"
        self.dtype = "remote"
        self.load_seconds = 0.0
        self.context_length = context_length
        self.base_url = str(self.client.base_url)

    # -------------------------------------------------------------- protocol
    @property
    def has_chat_template(self) -> bool:
        return True

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return _TAG + json.dumps(messages, ensure_ascii=False)

    def count_tokens(self, text: str, add_special_tokens: bool = True) -> int:
        """An estimate (≈ 4 characters per token): the remote tokenizer is not available."""
        return max(1, len(text) // 4)

    @staticmethod
    def messages(prompt: str) -> list[dict[str, str]]:
        if prompt.startswith(_TAG):
            return json.loads(prompt[len(_TAG) :])
        return [{"role": "user", "content": prompt}]

    def _request(self, params: SamplingParams) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model_id,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "n": params.num_return_sequences,
        }
        if params.temperature > 0:
            request["top_p"] = params.top_p
        if params.seed is not None:
            request["seed"] = params.seed
        if params.stop:
            request["stop"] = list(params.stop)[:4]
        return request

    def _errors(self, exc: Exception) -> Exception:
        o = self._openai
        where = self.base_url
        if isinstance(exc, o.AuthenticationError):
            return AuthError(
                f"{where} refused the API key (HTTP 401)",
                hint="check OPENAI_API_KEY (it is never printed)",
            )
        if isinstance(exc, o.NotFoundError):
            return ModelNotFoundError(
                f"{where} has no model '{self.model_id}' (HTTP 404)",
                hint="pass a model the server serves with --api-model",
            )
        if isinstance(exc, o.APIConnectionError):
            return NetworkError(
                f"cannot reach {where}", hint="check OPENAI_BASE_URL and that the server is up"
            )
        if isinstance(exc, o.APIStatusError):
            return NetworkError(
                f"{where} answered HTTP {exc.status_code}", hint="try again, or check the server"
            )
        return NetworkError(f"request to {where} failed: {type(exc).__name__}")

    def generate(
        self, prompts: list[str], params: SamplingParams, *, add_special_tokens: bool = True
    ) -> list[BackendOutput]:
        results = []
        for prompt in prompts:
            check_cancelled()
            start = time.perf_counter()
            try:
                response = self.client.chat.completions.create(
                    messages=self.messages(prompt), **self._request(params)
                )
            except self._openai.OpenAIError as exc:
                raise self._errors(exc) from exc
            seconds = time.perf_counter() - start
            completions = []
            for choice in response.choices:
                text, hit = cut_at_stop(choice.message.content or "", params.stop)
                finish = "length" if choice.finish_reason == "length" else "stop"
                completions.append(Completion(text, "stop" if hit else finish, 0))
            usage = response.usage
            new = usage.completion_tokens if usage else 0
            for c in completions:
                c.completion_tokens = new // max(1, len(completions))
            prompt_tokens = usage.prompt_tokens if usage else self.count_tokens(prompt)
            results.append(BackendOutput(prompt_tokens, completions, None, seconds))
        return results

    def stream(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        add_special_tokens: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamChunk]:
        start = time.perf_counter()
        first = None
        finish = "stop"
        count = 0
        try:
            stream = self.client.chat.completions.create(
                messages=self.messages(prompt), stream=True, **self._request(params)
            )
            for event in stream:
                if cancel is not None and cancel.is_set():
                    stream.close()
                    break
                if not event.choices:
                    continue
                choice = event.choices[0]
                delta = choice.delta.content or ""
                if delta:
                    first = first or time.perf_counter() - start
                    count += 1
                    yield StreamChunk(text=delta)
                if choice.finish_reason:
                    finish = "length" if choice.finish_reason == "length" else "stop"
        except self._openai.OpenAIError as exc:
            raise self._errors(exc) from exc
        yield StreamChunk(
            done=True,
            finish_reason=finish,
            prompt_tokens=self.count_tokens(prompt),
            completion_tokens=count,
            first_token_s=first,
        )
