"""Request and response shapes, following OpenAI's API (ids, usage, finish_reason), plus a few
extensions (top_k, repetition_penalty) that map onto `GenerateOptions`. Unknown fields are
ignored, as OpenAI-compatible servers do, so clients that send extra knobs keep working."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import InvalidOptionError, check_unicode
from ..options import bounds
from ..tasks.generate import GenerateOptions
from ..tasks.summarize.options import SummarizeOptions

# Caps on list inputs: the work of one request grows with them, the body limit alone does not
# bound it (a 2 MB body holds 500 000 one-letter texts).
MAX_PROMPTS = 32  # /v1/completions prompt lists
MAX_SEQUENCES = 64  # prompts × n in one completions request
MAX_INPUTS = 2048  # texts in one embeddings / classify request (OpenAI's limit for embeddings)
MAX_LABELS = 64  # candidate labels in one classify request
MAX_MESSAGES = 1024  # chat messages
MAX_STOPS = 4  # stop sequences (OpenAI's limit)
MAX_N = 16  # completions per prompt


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        """Every string of the request must be encodable (no lone surrogates): a 400 here,
        not a 500 deep in a tokenizer."""
        _check_strings(data, ())
        return data


def _check_strings(value: Any, where: tuple) -> None:
    if isinstance(value, str):
        try:
            check_unicode(value, ".".join(map(str, where)) or "the text")
        except InvalidOptionError as exc:
            raise ValueError(exc.message) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, where)
            _check_strings(item, (*where, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_strings(item, (*where, i))


class Sampling(_Request):
    model: str | None = None
    # bounds from GenerateOptions' field specs (pretrained.options): declared once
    max_tokens: int | None = Field(default=None, **bounds(GenerateOptions, "max_new_tokens"))
    temperature: float | None = Field(default=None, **bounds(GenerateOptions, "temperature"))
    top_p: float | None = Field(default=None, **bounds(GenerateOptions, "top_p"))
    top_k: int | None = Field(default=None, **bounds(GenerateOptions, "top_k"))
    repetition_penalty: float | None = Field(
        default=None, **bounds(GenerateOptions, "repetition_penalty")
    )
    n: int = Field(default=1, **{**bounds(GenerateOptions, "num_return_sequences"), "le": MAX_N})
    stop: str | Annotated[list[str], Field(max_length=MAX_STOPS)] | None = None
    seed: int | None = Field(default=None, **bounds(GenerateOptions, "seed"))
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    user: str | None = None

    def options(self, max_new_tokens_limit: int, **extra: Any):
        """→ validated GenerateOptions (the same knobs and checks as the CLI)."""
        from .limits import check_max_new_tokens

        max_tokens = self.max_tokens
        check_max_new_tokens(max_tokens, max_new_tokens_limit)
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return GenerateOptions.from_kwargs(
            max_new_tokens=max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            repetition_penalty=self.repetition_penalty,
            num_return_sequences=self.n,
            seed=self.seed,
            stop=tuple(stop),
            **extra,
        )

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class ChatMessage(_Request):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    # tool calling (serve/structured.py): an assistant turn's calls, a tool turn's answer
    tool_calls: Annotated[list[dict[str, Any]], Field(max_length=64)] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    def text(self) -> str:
        return content_text(self.content)


def content_text(content: Any) -> str:
    """Chat message content → plain text, the one flattening the API and the UI share: a
    string, a list of parts ({"type": "text", "text": ...} or bare strings), or None. A part
    of another type (an image) is refused rather than dropped."""
    if content is None:
        return ""
    if isinstance(content, str):
        return check_unicode(content)
    if isinstance(content, list):
        return "".join(content_text(part) for part in content)
    if isinstance(content, dict):
        kind = content.get("type", "text")
        if kind != "text":
            raise InvalidOptionError(
                f"message content of type {kind!r} is not supported (text only)",
                hint='send {"type": "text", "text": "..."} parts or a plain string',
            )
        return content_text(content.get("text", content.get("value")))
    return str(content)


class ChatRequest(Sampling):
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    # structure (serve/structured.py): OpenAI's response_format, tools, tool_choice, logprobs
    response_format: dict[str, Any] | None = None
    tools: Annotated[list[dict[str, Any]], Field(max_length=128)] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    def plain_messages(self) -> list[dict[str, str]]:
        return [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
            for m in self.messages
        ]


class CompletionRequest(Sampling):
    prompt: str | Annotated[list[str], Field(max_length=MAX_PROMPTS)]
    echo: bool = False
    logprobs: int | None = None
    suffix: str | None = None


class TokenizeRequest(_Request):
    model: str | None = None
    text: str | None = None
    prompt: str | None = None  # vLLM's name for it
    add_special_tokens: bool = True


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_response(result, model: str) -> dict[str, Any]:
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "system_fingerprint": result.revision,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": c.text},
                "finish_reason": c.finish_reason,
                "logprobs": None,
            }
            for i, c in enumerate(result.completions)
        ],
        "usage": usage(result.prompt_tokens, result.completion_tokens),
    }


def completion_response(results: list, model: str, echo: bool = False) -> dict[str, Any]:
    choices = []
    for result in results:
        for c in result.completions:
            text = (result.prompt + c.text) if echo else c.text
            choices.append(
                {
                    "index": len(choices),
                    "text": text,
                    "finish_reason": c.finish_reason,
                    "logprobs": None,
                }
            )
    return {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": now(),
        "model": model,
        "system_fingerprint": results[0].revision if results else None,
        "choices": choices,
        "usage": usage(
            sum(r.prompt_tokens for r in results), sum(r.completion_tokens for r in results)
        ),
    }


class EmbeddingRequest(_Request):
    model: str | None = None
    input: (
        str
        | Annotated[list[str], Field(max_length=MAX_INPUTS)]
        | Annotated[list[int], Field(max_length=MAX_INPUTS)]
        | Annotated[list[list[int]], Field(max_length=MAX_INPUTS)]
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None

    def texts(self) -> list[str]:
        items = [self.input] if isinstance(self.input, str) else list(self.input)
        if not items:
            raise InvalidOptionError("input is an empty list", hint='e.g. "input": ["a", "b"]')
        if any(not isinstance(t, str) for t in items):
            raise InvalidOptionError(
                "input must be text (token-id arrays are not supported)",
                hint='send strings, e.g. "input": ["a sentence"]',
            )
        if any(not t.strip() for t in items):
            raise InvalidOptionError("input contains an empty string", hint="drop the empty texts")
        return items


class ClassifyRequest(_Request):
    model: str | None = None
    input: str | Annotated[list[str], Field(max_length=MAX_INPUTS)]
    # None → sentiment (positive / negative)
    labels: Annotated[list[str], Field(max_length=MAX_LABELS)] | str | None = None

    def texts(self) -> list[str]:
        items = [self.input] if isinstance(self.input, str) else list(self.input)
        if not items or any(not t.strip() for t in items):
            raise InvalidOptionError(
                "input must be one or more non-empty texts", hint='e.g. "input": "I love it"'
            )
        return items


class SummarizeRequest(_Request):
    model: str | None = None
    text: str | None = None
    url: str | None = None
    mode: Literal["auto", "extractive", "abstractive"] = "auto"
    sentences: int | None = Field(default=None, **bounds(SummarizeOptions, "sentences"))
    words: int | None = Field(default=None, **bounds(SummarizeOptions, "words"))
    ratio: float | None = Field(default=None, **bounds(SummarizeOptions, "ratio"))
    focus: str | None = None


# ------------------------------------------------------------------ documented error responses
class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None
    hint: str | None = None


class ErrorResponse(BaseModel):
    """Every error the server sends (OpenAI's shape, plus a one-line hint)."""

    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# The statuses a /v1 route can answer besides 200 (declared once, on the routers)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("invalid request (bad value, unsafe URL, unreadable input …)"),
    401: _error("missing or wrong API key"),
    404: _error("no such route, or a model this server does not serve"),
    408: _error("the request body did not arrive within --read-timeout"),
    413: _error("request body or upload over the size limit"),
    429: _error("busy (no slot, full queue) or too many failed keys; see Retry-After"),
    501: _error("the task needs an extra that is not installed"),
    502: _error("a URL to fetch failed upstream"),
    503: _error("the model could not be loaded"),
    504: _error("the request took longer than --timeout"),
}


class StreamChunks:
    """The chunks of one streamed answer — chat ("chat.completion.chunk", a delta per piece)
    or text ("text_completion") — sharing one id, creation time and model; `closing` is the
    finish chunk, then the usage chunk when the client asked for it."""

    def __init__(self, chat: bool, model: str, fingerprint: str | None = None) -> None:
        self.chat, self.model, self.fingerprint = chat, model, fingerprint
        self.id, self.created = new_id("chatcmpl" if chat else "cmpl"), now()

    def chunk(self, text: str | None = None, finish: str | None = None, *, role: bool = False):
        head: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": self.created,
            "model": self.model,
        }
        if not self.chat:
            choice = {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}
            return {**head, "choices": [choice]}
        delta = {"role": "assistant", "content": ""} if role else {}
        if text is not None:
            delta["content"] = text
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {**head, "system_fingerprint": self.fingerprint, "choices": [choice]}

    def closing(self, result: Any, include_usage: bool) -> list[dict[str, Any]]:
        out = [self.chunk(None, result.completions[0].finish_reason if result else "stop")]
        if include_usage and result is not None:
            last = self.chunk(None)
            last["choices"] = []
            last["usage"] = usage(result.prompt_tokens, result.completion_tokens)
            out.append(last)
        return out
