"""Self-protection: body size (413) and read deadline (408), bounded concurrency with a bounded
queue (429 + Retry-After), per-request deadline (504), and stopping work when the client goes
away.

Both middlewares are plain ASGI (not BaseHTTPMiddleware), so streaming responses and
`request.is_disconnected()` keep working through them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException

from ..errors import InvalidOptionError
from .httperrors import json_error
from .metrics import Metrics

# Inference routes take a slot; these /v1 routes are cheap and never queue.
FREE_PATHS = ("/v1/models",)


class RequestTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(504, f"the request took longer than the server's limit of {seconds:g}s")


def check_max_new_tokens(value: int | None, limit: int) -> None:
    """The server's --max-new-tokens, for the API's max_tokens and the UI's slider alike."""
    if value is not None and value > limit:
        raise InvalidOptionError(
            f"max_tokens is {value}, over this server's limit of {limit}",
            hint=f"ask for at most {limit} tokens",
        )


class ClientGone(Exception):
    """The client disconnected; nobody is listening for an answer."""


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class BodyLimitMiddleware:
    """Receives every request body whole before the app sees it: 413 over the size limit (early
    from Content-Length, or while reading a chunked body), 408 when the body does not arrive
    within the read deadline. So a slow sender never holds an inference slot (admission runs
    after this), and never longer than `read_timeout_s`. Multipart uploads get their own, larger
    limit; bodies over SPOOL_BYTES wait in a temp file, not in memory."""

    SPOOL_BYTES = 1024 * 1024
    REPLAY_CHUNK = 256 * 1024

    def __init__(
        self,
        app,
        *,
        max_body: int,
        max_upload: int,
        read_timeout_s: float = 30.0,
        metrics: Metrics | None = None,
    ):
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.read_timeout_s = read_timeout_s
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        content_type = (_header(scope, b"content-type") or "").lower()
        limit = self.max_upload if content_type.startswith("multipart/") else self.max_body
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return await self._reject(scope, receive, send, limit)
        has_body = (declared and declared != "0") or _header(scope, b"transfer-encoding")
        if not has_body:
            return await self.app(scope, receive, send)
        import tempfile

        with tempfile.SpooledTemporaryFile(max_size=self.SPOOL_BYTES) as spool:
            deadline = time.monotonic() + self.read_timeout_s
            size = 0
            while True:
                remaining = deadline - time.monotonic()
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, remaining))
                except asyncio.TimeoutError:
                    return await self._timeout(scope, send)
                if message["type"] == "http.disconnect":
                    return None  # the client left before sending its body
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    return await self._reject(scope, receive, send, limit)
                spool.write(chunk)
                if not message.get("more_body", False):
                    break
            spool.seek(0)
            left = size

            async def replay():
                nonlocal left
                if left is None:
                    return await receive()  # after the body: disconnect notices
                chunk = spool.read(self.REPLAY_CHUNK)
                left -= len(chunk)
                more = left > 0
                if not more:
                    left = None
                return {"type": "http.request", "body": chunk, "more_body": more}

            await self.app(scope, replay, send)

    async def _timeout(self, scope, send):
        if self.metrics:
            self.metrics.rejected.labels("body_timeout").inc()
        response = json_error(
            408,
            f"the request body did not arrive within the server's limit of "
            f"{self.read_timeout_s:g}s",
            code="request_timeout",
            hint="send the whole body at once",
            headers={"Connection": "close"},
        )

        async def no_body():
            return {"type": "http.disconnect"}

        await response(scope, no_body, send)

    async def _reject(self, scope, receive, send, limit: int):
        if self.metrics:
            self.metrics.rejected.labels("body_too_large").inc()
        response = json_error(
            413,
            f"the request body is larger than the server's limit of {limit / 1e6:.1f} MB",
            code="request_too_large",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class Busy(Exception):
    """No slot and no room in the queue (→ 429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QueueTimeout(Exception):
    """The deadline passed while waiting for a slot (→ 504)."""


class Admission:
    """At most `max_concurrency` inference requests run; up to `max_queue` more wait for a
    slot; the rest are refused at once. One per server, shared by the API (through
    AdmissionMiddleware) and the UI, so both surfaces draw on the same slots."""

    def __init__(
        self,
        *,
        max_concurrency: int,
        max_queue: int,
        timeout_s: float,
        metrics: Metrics | None = None,
    ) -> None:
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.metrics = metrics
        self.active = 0
        self.waiting = 0
        self._slots: asyncio.Semaphore | None = None
        self._mean_s = 1.0  # moving average of request durations, for Retry-After

    def retry_after(self) -> int:
        backlog = (self.waiting + self.active) / max(1, self.max_concurrency)
        return max(1, math.ceil(self._mean_s * max(1.0, backlog)))

    def _gauges(self) -> None:
        if self.metrics:
            self.metrics.inflight.set(self.active)
            self.metrics.queue_depth.set(self.waiting)

    @contextlib.asynccontextmanager
    async def slot(self):
        """Hold a slot for the body of the `async with`; yields the deadline (monotonic
        seconds, queue wait included). Raises Busy or QueueTimeout."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrency)
        started = time.monotonic()
        # Counted here, synchronously: the semaphore's own state lags behind waiters not yet run.
        if self.active + self.waiting >= self.max_concurrency + self.max_queue:
            if self.metrics:
                self.metrics.rejected.labels("queue_full").inc()
            raise Busy(
                f"the server is busy ({self.active} running, {self.waiting} waiting); retry later",
                self.retry_after(),
            )
        self.waiting += 1
        self._gauges()
        try:
            await asyncio.wait_for(self._slots.acquire(), self.timeout_s)
        except asyncio.TimeoutError:
            if self.metrics:
                self.metrics.rejected.labels("queue_timeout").inc()
            raise QueueTimeout(
                f"the request waited longer than the server's limit of {self.timeout_s:g}s"
            ) from None
        finally:
            self.waiting -= 1
        self.active += 1
        self._gauges()
        try:
            yield started + self.timeout_s
        finally:
            self.active -= 1
            self._slots.release()
            self._mean_s = 0.8 * self._mean_s + 0.2 * (time.monotonic() - started)
            self._gauges()


class AdmissionMiddleware:
    """Admission for the API's inference routes: 429 with Retry-After when busy, 504 when the
    queue wait outlasts the deadline. The deadline is put in scope["state"]["deadline"] for
    the handlers."""

    def __init__(self, app, *, admission: Admission, prefix: str = "/v1/"):
        self.app = app
        self.admission = admission
        self.prefix = prefix

    def _applies(self, scope) -> bool:
        path = scope.get("path", "")
        return (
            scope["type"] == "http"
            and path.startswith(self.prefix)
            and path not in FREE_PATHS
            and scope.get("method") != "OPTIONS"
        )

    async def __call__(self, scope, receive, send):
        if not self._applies(scope):
            return await self.app(scope, receive, send)
        try:
            async with self.admission.slot() as deadline:
                scope.setdefault("state", {})["deadline"] = deadline
                await self.app(scope, receive, send)
        except Busy as exc:
            response = json_error(
                429,
                str(exc),
                code="rate_limit_exceeded",
                headers={"Retry-After": str(exc.retry_after)},
            )
            await response(scope, receive, send)
        except QueueTimeout as exc:
            await json_error(504, str(exc), "server_error", "timeout")(scope, receive, send)


class MetricsMiddleware:
    """Counts every request and times it until its last byte (streams included)."""

    def __init__(self, app, *, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from .metrics import route_label

        status = 500
        started = time.perf_counter()

        async def tracking_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = route_label(scope)
            self.metrics.requests.labels(route, scope.get("method", ""), str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


def deadline_of(request, default_s: float) -> float:
    state = request.scope.get("state") or {}
    return state.get("deadline") or time.monotonic() + default_s


async def run_blocking(
    request,
    fn: Callable[[], Any],
    *,
    executor,
    timeout_s: float,
    cancel: threading.Event | None = None,
    poll_s: float = 0.2,
) -> Any:
    """Run fn() in a worker thread while watching the deadline and the client.

    On timeout → RequestTimeout (504); when the client disconnects → ClientGone. Either way
    `cancel` is set: fn runs inside its cancel scope, so every engine path (streams, batched and
    non-streaming generation, n > 1, summaries' map-reduce) stops at its next token."""
    loop = asyncio.get_running_loop()
    cancel = cancel or threading.Event()
    future = loop.run_in_executor(executor, scoped, cancel, fn)
    deadline = deadline_of(request, timeout_s)
    while True:
        remaining = deadline - time.monotonic()
        done, _ = await asyncio.wait({future}, timeout=max(0.0, min(poll_s, remaining)))
        if done:
            return future.result()
        if time.monotonic() >= deadline:
            abandon(future, cancel)
            raise RequestTimeout(timeout_s)
        if await request.is_disconnected():
            abandon(future, cancel)
            raise ClientGone()


def scoped(cancel: threading.Event, fn: Callable[[], Any]) -> Any:
    """fn() inside the cancel scope of `cancel` (on the worker thread that runs it)."""
    from ..models.backends.base import cancel_scope

    with cancel_scope(cancel):
        return fn()


def abandon(future, cancel: threading.Event) -> None:
    """Stop the work behind `future`; whatever it ends with (a WorkCancelledError) is dropped
    quietly, nobody waits for it."""
    cancel.set()
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
