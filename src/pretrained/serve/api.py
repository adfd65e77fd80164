"""The OpenAI-compatible routes. Each handler validates the request, picks the served model and
calls a task function (`pretrained.tasks.*`) in a worker thread; no model logic lives here."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ..errors import InvalidOptionError, PretrainedError
from . import schemas as s
from .httperrors import body as error_body
from .limits import deadline_of, run_blocking

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
_END = object()


def server_of(request: Request):
    return request.app.state.server


async def call(request: Request, fn: Callable[[], Any], cancel=None) -> Any:
    server = server_of(request)
    return await run_blocking(
        request, fn, executor=server.executor, timeout_s=server.config.timeout_s, cancel=cancel
    )


async def backend(request: Request, task: str, requested: str | None) -> Any:
    """The served backend of a task; loading it (first use, without --preload) runs in a thread."""
    pool = server_of(request).pool
    loaded = pool.loaded(task, requested)  # requested: 'BASE:NAME' picks an adapter
    if loaded is not None:
        return loaded
    return await call(request, lambda: pool.backend(task, requested))


def encode_json(data: Any) -> bytes:
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate slipped through: escape rather than fail
        return json.dumps(data, separators=(",", ":")).encode("ascii")


async def json_response(request: Request, build: Callable[[], Any]):
    """The response body built and encoded in a worker thread: a large one (a million tokens,
    thousands of vectors) takes seconds to encode, which on the event loop would stall every
    other request, /health included."""
    from fastapi.responses import Response

    content = await call(request, lambda: encode_json(build()))
    return Response(content, media_type="application/json")


def sse(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _error_event(exc: BaseException) -> str:
    if isinstance(exc, PretrainedError):
        return sse(error_body(exc.message, "invalid_request_error", "stream_error", exc.hint))
    if isinstance(exc, TimeoutError):
        return sse(error_body(str(exc), "server_error", "timeout"))
    return sse(error_body("the stream failed on the server", "server_error", "internal_error"))


async def stream_events(
    request: Request,
    handle,
    piece_event: Callable[[str], dict],
    closing_events: Callable[[Any], Iterable[dict]],
) -> AsyncIterator[str]:
    """Server-sent events from a GenerationStream: one event per text piece, the closing events
    (finish_reason, usage), then [DONE]. Stops the generation when the client goes away (the
    response task is cancelled or its next write fails) or the deadline passes."""
    server = server_of(request)
    loop = asyncio.get_running_loop()
    deadline = deadline_of(request, server.config.timeout_s)
    pieces = iter(handle)
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"the stream ran longer than the server's limit of {server.config.timeout_s:g}s"
                )
            step = loop.run_in_executor(server.executor, next, pieces, _END)
            try:
                piece = await asyncio.wait_for(asyncio.shield(step), remaining)
            except asyncio.TimeoutError:
                raise TimeoutError(
                    f"the stream ran longer than the server's limit of {server.config.timeout_s:g}s"
                ) from None
            if piece is _END:
                break
            yield sse(piece_event(piece))
        for event in closing_events(handle.result):
            yield sse(event)
        yield "data: [DONE]\n\n"
    except Exception as exc:  # the status line is gone already: report in the stream
        handle.cancel.set()
        yield _error_event(exc)
        yield "data: [DONE]\n\n"
    finally:
        handle.cancel.set()


def event_stream(generator: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        generator,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _collect(handle):
    """Run a stream to its end (non-streaming requests go through the stream path so that a
    timeout or a disconnect can stop the generation)."""
    for _ in handle:
        pass
    return handle.result


# ------------------------------------------------------------------------------ models
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
            revision=server.pool.options.get("revision"),
            add_special_tokens=body.add_special_tokens,
        ),
    )
    server.metrics.count_tokens("tokenize", result.count, 0)
    return await json_response(request, lambda: {**result.to_dict(), "model": served.name})
