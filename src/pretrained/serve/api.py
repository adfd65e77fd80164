"""The OpenAI-compatible routes. Each handler validates the request, picks the served model and
calls a task function (`pretrained.tasks.*`) in a worker thread; no model logic lives here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request

from ..errors import InvalidOptionError
from . import schemas as s
from .endpoints import (
    _collect,
    backend,
    call,
    event_stream,
    json_response,
    server_of,
    sse,
    stream_events,
)

router = APIRouter(prefix="/v1", responses=s.ERRORS)
# `stream: true` answers with server-sent events instead of one JSON body
STREAMED = {
    200: {
        "content": {
            "application/json": {},
            # each server-sent event: a `data:` line (a JSON chunk, or [DONE])
            "text/event-stream": {
                "schema": {"type": "object", "properties": {"data": {"type": "string"}}}
            },
        },
        "description": "one JSON body, or server-sent events with `stream: true`",
    }
}


@router.get("/models")
async def list_models(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": server_of(request).pool.models()}


# ------------------------------------------------------------------------------ chat
@router.post("/chat/completions", responses=STREAMED)
async def chat_completions(body: s.ChatRequest, request: Request):
    from ..tasks import chat as task

    server = server_of(request)
    served = server.pool.check("chat", body.model)
    if body.max_completion_tokens is not None:
        body.max_tokens = body.max_completion_tokens
    from . import structured

    if structured.wanted(body):  # response_format, tools, logprobs: serve/structured.py
        return await structured.chat_completions(body, request, served)
    options = body.options(server.config.max_new_tokens)
    messages = body.plain_messages()
    task.check_messages(messages)
    engine = await backend(request, "chat", body.model)

    if body.stream:
        if body.n != 1:
            raise InvalidOptionError("streaming returns one choice", hint='drop "n" or "stream"')
        handle = await call(
            request, lambda: task.stream_chat(messages, options=options, backend=engine)
        )
        chunks = s.StreamChunks(True, served.name, engine.revision)

        def closing(result) -> Iterable[dict]:
            if result is not None:
                server.metrics.count_tokens("chat", result.prompt_tokens, result.completion_tokens)
            return chunks.closing(result, body.include_usage)

        async def events():
            yield sse(chunks.chunk(role=True))
            async for event in stream_events(request, handle, chunks.chunk, closing):
                yield event

        return event_stream(events())

    if body.n == 1:
        handle = await call(
            request, lambda: task.stream_chat(messages, options=options, backend=engine)
        )
        result = await call(request, lambda: _collect(handle), cancel=handle.cancel)
    else:
        result = await call(request, lambda: task.chat(messages, options=options, backend=engine))
    server.metrics.count_tokens("chat", result.prompt_tokens, result.completion_tokens)
    return await json_response(request, lambda: s.chat_response(result, served.name))


# ------------------------------------------------------------------------------ completions
@router.post("/completions", responses=STREAMED)
async def completions(body: s.CompletionRequest, request: Request):
    from ..tasks import generate as task

    server = server_of(request)
    served = server.pool.check("generate", body.model)
    if body.logprobs is not None:
        raise InvalidOptionError("logprobs are not supported", hint='drop "logprobs"')
    if body.suffix:
        raise InvalidOptionError("suffix (insertion) is not supported", hint='drop "suffix"')
    options = body.options(server.config.max_new_tokens, raw=True)
    prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
    if not prompts:
        raise InvalidOptionError(
            "prompt is an empty list", hint='e.g. "prompt": "Once upon a time"'
        )
    if len(prompts) * body.n > s.MAX_SEQUENCES:
        raise InvalidOptionError(
            f"{len(prompts)} prompts × n={body.n} is over this server's limit of "
            f"{s.MAX_SEQUENCES} sequences per request",
            hint="send fewer prompts or a smaller n, in several requests",
        )
    engine = await backend(request, "generate", body.model)

    if body.stream:
        if len(prompts) != 1 or body.n != 1:
            raise InvalidOptionError(
                "streaming takes one prompt and n=1", hint='send one prompt, or drop "stream"'
            )
        handle = await call(
            request, lambda: task.stream(prompts[0], options=options, backend=engine)
        )
        chunks = s.StreamChunks(False, served.name)

        def closing(result) -> Iterable[dict]:
            if result is not None:
                server.metrics.count_tokens(
                    "generate", result.prompt_tokens, result.completion_tokens
                )
            return chunks.closing(result, body.include_usage)

        return event_stream(stream_events(request, handle, chunks.chunk, closing))

    if len(prompts) == 1 and body.n == 1:
        handle = await call(
            request, lambda: task.stream(prompts[0], options=options, backend=engine)
        )
        results = [await call(request, lambda: _collect(handle), cancel=handle.cancel)]
    else:
        results = await call(
            request, lambda: task.generate_many(prompts, options=options, backend=engine)
        )
    server.metrics.count_tokens(
        "generate",
        sum(r.prompt_tokens for r in results),
        sum(r.completion_tokens for r in results),
    )
    return await json_response(
        request, lambda: s.completion_response(results, served.name, echo=body.echo)
    )


# ------------------------------------------------------------------------------ tokenize
@router.post("/tokenize")
async def tokenize(body: s.TokenizeRequest, request: Request):
    from ..tasks import tokenize as task

    server = server_of(request)
    served = server.pool.check("tokenize", body.model)
    text = body.text if body.text is not None else body.prompt
    if text is None:
        raise InvalidOptionError('send the text to tokenize as "text"', hint='{"text": "coconut"}')
    await backend(request, "tokenize", body.model)
    result = await call(
        request,
        lambda: task.tokenize(
            text,
            served.name,
            revision=server.pool.options.revision,
            add_special_tokens=body.add_special_tokens,
        ),
    )
    server.metrics.count_tokens("tokenize", result.count, 0)
    return await json_response(request, lambda: {**result.to_dict(), "model": served.name})
