"""Every error the server sends is JSON shaped like OpenAI's, never a stack trace:

    {"error": {"message": "...", "type": "invalid_request_error", "code": "...", "param": null,
               "hint": "..."}}

`PretrainedError` subclasses map to HTTP statuses here; anything unexpected becomes a 500 with a
request id (the traceback goes to the server log once, not to the client): `UnexpectedErrors`,
the innermost middleware, answers it, so the exception never reaches Starlette's and uvicorn's
own handlers, which would log it a second time.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from .. import errors as e

log = logging.getLogger("pretrained.serve")

# most specific first
_STATUS: list[tuple[type[e.PretrainedError], int, str, str]] = [
    (e.InputTooLargeError, 413, "invalid_request_error", "request_too_large"),
    (e.UnsafeURLError, 400, "invalid_request_error", "unsafe_url"),
    (e.EmptyInputError, 400, "invalid_request_error", "empty_input"),
    (e.InputNotFoundError, 400, "invalid_request_error", "input_not_found"),
    (e.UnreadableInputError, 400, "invalid_request_error", "unreadable_input"),
    (e.InputError, 400, "invalid_request_error", "invalid_input"),
    (e.ConstraintError, 400, "invalid_request_error", "invalid_constraint"),
    (e.ConstraintUnmetError, 400, "invalid_request_error", "constraint_unmet"),
    (e.UsageError, 400, "invalid_request_error", "invalid_value"),
    (e.UnknownModelError, 404, "invalid_request_error", "model_not_found"),
    (e.ModelNotFoundError, 404, "invalid_request_error", "model_not_found"),
    (e.ModelError, 503, "server_error", "model_unavailable"),
    (e.DeviceError, 503, "server_error", "device_unavailable"),
    (e.DependencyError, 501, "server_error", "not_installed"),
    (e.NetworkError, 502, "server_error", "upstream_error"),
    (e.WorkCancelledError, 504, "server_error", "timeout"),
    (e.AuthError, 503, "server_error", "hub_auth"),
]


def body(message: str, type_: str, code: str | None, hint: str | None = None, param=None):
    error: dict[str, Any] = {"message": message, "type": type_, "code": code, "param": param}
    if hint:
        error["hint"] = hint
    return {"error": error}


def json_error(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    code: str | None = None,
    *,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
    param: str | None = None,
):
    from fastapi.responses import JSONResponse

    return JSONResponse(
        body(message, type_, code, hint, param), status_code=status, headers=headers
    )


def from_pretrained_error(exc: e.PretrainedError):
    if isinstance(exc, e.ModelNotServedError):
        return json_error(
            404, exc.message, "invalid_request_error", "model_not_found", hint=exc.hint
        )
    for cls, status, type_, code in _STATUS:
        if isinstance(exc, cls):
            return json_error(status, exc.message, type_, code, hint=exc.hint)
    return json_error(500, exc.message, "server_error", "internal_error", hint=exc.hint)


def unexpected(exc: BaseException):
    ref = uuid.uuid4().hex[:12]
    log.error("unhandled error (ref %s)", ref, exc_info=exc)
    return json_error(
        500,
        f"internal server error (ref {ref})",
        "server_error",
        "internal_error",
        hint="the server log has the details under this reference",
    )


def install(app) -> None:
    """Register the handlers on a FastAPI app."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def on_pretrained(request, exc: e.PretrainedError):
        return from_pretrained_error(exc)

    async def on_validation(request, exc: RequestValidationError):
        problems = exc.errors()
        # a union field (str | list[str]) reports one problem per member: the list's own
        # complaint (too long, …) says more than "should be a valid string"
        problems.sort(key=lambda p: p.get("type") in ("string_type", "int_type", "list_type"))
        first = problems[0] if problems else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = first.get("msg", "invalid request")
        text = f"{where}: {message}" if where else message
        if len(problems) > 1:
            text += f" (and {len(problems) - 1} more problem(s))"
        return json_error(400, text, "invalid_request_error", "invalid_value", param=where or None)

    async def on_http(request, exc: HTTPException):
        codes = {
            401: "invalid_api_key",
            404: "not_found",
            405: "method_not_allowed",
            413: "request_too_large",
            429: "rate_limit_exceeded",
            504: "timeout",
        }
        type_ = "server_error" if exc.status_code >= 500 else "invalid_request_error"
        return json_error(
            exc.status_code,
            str(exc.detail),
            type_,
            codes.get(exc.status_code),
            headers=getattr(exc, "headers", None),
        )

    app.add_exception_handler(e.PretrainedError, on_pretrained)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)


class UnexpectedErrors:
    """ASGI: a bug in a handler → one log record with the traceback and a JSON 500 with its
    reference; the exception goes no further (no second traceback from the server)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            response = unexpected(exc)
            if not started:  # else the client sees a cut response; the log has the reason
                await response(scope, receive, send)
