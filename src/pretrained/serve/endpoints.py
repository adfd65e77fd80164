"""What every route module shares: the server of a request, a task call in a worker thread
under the deadline, the served backend, JSON bodies and server-sent event streams. The route
modules (api, api_tasks, api_rerank, structured, adapters) sit on top of this one."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from ..errors import PretrainedError
from .httperrors import body as error_body
from .limits import deadline_of, run_blocking

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
