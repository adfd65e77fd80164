"""The UI's shared parts: the line saying which model answered, knobs → GenerateOptions,
the Runner that admits events like API requests, and the checks on text and uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import InvalidOptionError, PretrainedError, WorkCancelledError

PALETTE = ["#fde68a", "#bfdbfe", "#bbf7d0", "#fbcfe8", "#ddd6fe", "#fed7aa"]


def _gr_error(exc: PretrainedError):
    import gradio as gr

    return gr.Error(f"{exc.message} — {exc.hint}" if exc.hint else exc.message)


def answered_by(
    name: str, backend: Any = None, seconds: float | None = None, extra: str = ""
) -> str:
    """The line under each result: which model answered, on what, how fast."""
    parts = [f"answered by **{name}**"]
    model_id = getattr(backend, "model_id", None)
    if model_id and model_id != name:
        parts.append(f"`{model_id}`")
    revision = getattr(backend, "revision", None)
    if revision:
        parts.append(f"rev `{str(revision)[:12]}`")
    device = getattr(backend, "device", None)
    if device:
        parts.append(f"{getattr(backend, 'engine', '')} on {device}".strip())
    if seconds is not None:
        parts.append(f"{seconds:.2f} s")
    if extra:
        parts.append(extra)
    return " · ".join(parts)


def _options(limit: int, **values: Any):
    """The UI's knobs → GenerateOptions, with the API's checks (the server's token limit)."""
    from ..tasks.generate import GenerateOptions
    from .limits import check_max_new_tokens

    seed = values.get("seed")
    stops = [s for s in (values.pop("stop", "") or "").split("\n") if s]
    try:
        seed = int(seed) if seed not in (None, "") else None
        max_new = int(values.get("max_new_tokens") or 128)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidOptionError("seed and max new tokens must be whole numbers") from exc
    check_max_new_tokens(max_new, limit)
    return GenerateOptions.from_kwargs(
        **{
            **values,
            "seed": seed,
            "stop": tuple(stops),
            "max_new_tokens": max_new,
            "top_k": int(values.get("top_k") or 0),
            "system": values.get("system") or None,
        }
    )


_END = object()


class Runner:
    """How a UI event runs, the same way as an API request: a slot from the server's admission
    (shared with the API), the server's deadline, and the work in the server's executor inside
    a cancel scope, stopped when the deadline passes or the browser goes away."""

    def __init__(self, server) -> None:
        self.server = server

    @contextlib.asynccontextmanager
    async def admitted(self):
        from .limits import Busy, QueueTimeout

        try:
            async with self.server.admission.slot() as deadline:
                yield deadline
        except (Busy, QueueTimeout) as exc:
            import gradio as gr

            raise gr.Error(str(exc)) from exc

    async def run(self, fn, deadline: float, cancel: threading.Event | None = None):
        from .limits import abandon, scoped

        cancel = cancel or threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.server.executor, scoped, cancel, fn)
        try:
            return await asyncio.wait_for(
                asyncio.shield(future), max(0.0, deadline - time.monotonic())
            )
        except asyncio.TimeoutError:
            abandon(future, cancel)
            raise WorkCancelledError(
                f"the request took longer than the server's limit of "
                f"{self.server.config.timeout_s:g}s"
            ) from None
        except asyncio.CancelledError:  # the browser went away
            abandon(future, cancel)
            raise

    async def pieces(self, handle, deadline: float):
        """The text pieces of a GenerationStream, each step in the executor. However it ends
        (done, deadline, browser gone), the stream is cancelled and then closed, once no step
        runs any more (a generator cannot be closed mid-step)."""
        steps = iter(handle)
        lock = threading.Lock()

        def step():
            with lock:
                return next(steps, _END)

        def close():
            with lock, contextlib.suppress(Exception):
                steps.close()
                handle.close()

        try:
            while True:
                piece = await self.run(step, deadline, handle.cancel)
                if piece is _END:
                    return
                yield piece
        finally:
            handle.cancel.set()
            self.server.executor.submit(close)


TOKENS_SHOWN = 5000  # the UI shows the first tokens of a long text (the API returns them all)


def _text(content: Any) -> str:
    """A text input or chatbot history content → plain, valid text (Gradio may hand back lists
    of parts; a client may send anything): the API's flattening (schemas.content_text)."""
    from .schemas import content_text

    return content_text(content)


def upload_folder() -> Path:
    """Where Gradio keeps the files browsers upload (and the copies it makes of them)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve()


def uploaded(value: Any) -> Path:
    """The path of a file a browser uploaded, refused unless it lies in Gradio's upload folder
    (symlinks resolved). A client can send any path in a FileData; the server must never open
    one it did not receive."""
    path = Path(str(value)).resolve()
    if not path.is_relative_to(upload_folder()) or not path.is_file():
        raise InvalidOptionError(
            "that file was not uploaded through this page", hint="upload the file again"
        )
    return path


def _remove(path: Any) -> None:
    """Delete an upload's copy once it has been read (only ever inside the upload folder)."""
    if not path:
        return
    with contextlib.suppress(OSError, InvalidOptionError):
        uploaded(path).unlink()
