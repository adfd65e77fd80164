"""Bearer API keys, checked before anything else a request costs (admission, reading its body),
and throttled per client after repeated failures. Health, readiness and metrics stay public.

Keys are only ever held as SHA-256 digests once the server runs: `--workers N` hands the
digests to the worker processes, never the keys (an environment can be read by other tools).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections import OrderedDict, deque

from .httperrors import json_error

FAILURE_WINDOW_S = 60.0  # failed attempts are counted over this window, per client address
MAX_CLIENTS = 10_000  # addresses remembered; the oldest are forgotten first


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_matches(given: str | None, digests: tuple[str, ...]) -> bool:
    """True when `given` is one of the keys whose digests are `digests`. Every digest is
    compared, each in constant time, so the answer's timing says nothing about the key."""
    if not given:
        return False
    supplied = digest(given).encode()
    ok = False
    for known in digests:
        ok |= hmac.compare_digest(supplied, known.encode())
    return ok


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class FailureThrottle:
    """After `limit` failed attempts within FAILURE_WINDOW_S from one address, that address is
    refused (429) until its oldest failure leaves the window; right keys included, so guessing
    cannot continue at full speed."""

    def __init__(self, limit: int, window_s: float = FAILURE_WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may try again; 0 when it may now."""
        times = self._failures.get(client)
        if not times:
            return 0
        now = time.monotonic()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) < self.limit:
            return 0
        return max(1, math.ceil(times[0] + self.window_s - now))

    def fail(self, client: str) -> None:
        times = self._failures.pop(client, None) or deque(maxlen=self.limit)
        times.append(time.monotonic())
        self._failures[client] = times
        while len(self._failures) > MAX_CLIENTS:
            self._failures.popitem(last=False)


def client_address(scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class AuthMiddleware:
    """ASGI: `Authorization: Bearer KEY` on every /v1 route, answered 401 before the request
    takes a slot or its body is read; the UI's POST /login is throttled the same way (Gradio
    checks the password; a 4xx answer counts as a failure)."""

    def __init__(
        self,
        app,
        *,
        digests: tuple[str, ...],
        max_failures: int,
        prefix: str | tuple[str, ...] = "/v1/",
        login_path: str = "/login",
        metrics=None,
    ) -> None:
        self.app = app
        self.digests = digests
        self.throttle = FailureThrottle(max_failures)
        self.prefix = prefix
        self.login_path = login_path
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.digests or scope.get("method") == "OPTIONS":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        is_api = path.startswith(self.prefix)
        is_login = path.rstrip("/") == self.login_path and scope.get("method") == "POST"
        if not (is_api or is_login):
            return await self.app(scope, receive, send)
        client = client_address(scope)
        wait = self.throttle.retry_after(client)
        if wait:
            if self.metrics:
                self.metrics.rejected.labels("auth_throttled").inc()
            response = json_error(
                429,
                "too many failed sign-in attempts from this address; retry later",
                code="rate_limit_exceeded",
                hint=f"wait {wait}s, then send the right key",
                headers={"Retry-After": str(wait), "Connection": "close"},
            )
            return await response(scope, receive, send)
        if is_api:
            if key_matches(bearer(_header(scope, b"authorization")), self.digests):
                return await self.app(scope, receive, send)
            self.throttle.fail(client)
            response = json_error(
                401,
                "invalid or missing API key: send 'Authorization: Bearer <key>'",
                code="invalid_api_key",
                hint="the server was started with --api-key; ask its operator for the key",
                headers={"WWW-Authenticate": "Bearer", "Connection": "close"},
            )
            return await response(scope, receive, send)

        async def watching_send(message):
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                self.throttle.fail(client)
            await send(message)

        return await self.app(scope, receive, watching_send)
