"""Uploaded files: copied to a temp file in chunks with a size cap, removed afterwards."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from ..errors import EmptyInputError, InputTooLargeError

CHUNK = 1024 * 1024


@contextlib.asynccontextmanager
async def saved_upload(upload, max_bytes: int) -> AsyncIterator[Path]:
    """Write a Starlette UploadFile to a private temp file (≤ max_bytes); yield its path; always
    delete it, whether the request succeeded, failed or was cancelled."""
    suffix = Path(upload.filename or "").suffix[:16]
    fd, name = tempfile.mkstemp(prefix="pretrained-upload-", suffix=suffix)
    path = Path(name)
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise InputTooLargeError(
                        f"the upload is larger than the server's limit of {max_bytes / 1e6:.1f} MB"
                    )
                out.write(chunk)
        if size == 0:
            raise EmptyInputError("the uploaded file is empty", hint="send a non-empty file")
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(Exception):
            await upload.close()
