"""Routes over the text and audio tasks: /v1/embeddings and /v1/classify (micro-batched: requests
arriving within a few ms share one forward pass), /v1/summarize (text or URL, SSRF-guarded) and
/v1/audio/transcriptions (multipart upload, size-limited, temp file removed)."""

from __future__ import annotations

import asyncio
import base64
import time
from functools import partial
from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import PlainTextResponse

from ..errors import InvalidOptionError
from . import calls
from . import schemas as s
from .endpoints import backend, call, json_response, server_of
from .limits import RequestTimeout, deadline_of

router = APIRouter(prefix="/v1", responses=s.ERRORS)


# The batched calls depend only on the pool and the items (never on one request), because one
# batcher serves every request of its task.
SLICE = 64  # texts per model call; the cancel flag is checked between calls


def in_slices(fn, items: list) -> list:
    """fn(part) over slices of `items`, concatenated; stops (WorkCancelledError) between slices
    once the request's cancel scope is set."""
    from ..models.backends.base import check_cancelled

    out: list = []
    for start in range(0, len(items), SLICE):
        check_cancelled()
        out += fn(items[start : start + SLICE])
    return out


def embed_batch(pool, key, items: list[str]) -> list[tuple[Any, int]]:
    """→ (vector, token count) per text, from forward passes over all of them."""
    from ..tasks.embed import EmbedOptions, embed

    def run(part: list[str]) -> list[tuple[Any, int]]:
        # sentence-transformers sorts a call's texts by length and pads each sub-batch to its
        # longest text: sub-batches of 8 keep the padding (wasted compute) small
        result = embed(
            part, EmbedOptions(batch_size=8), backend=pool.backend("embed"), annotate=False
        )
        return list(zip(result.vectors, result.token_counts, strict=True))

    return in_slices(run, items)


def classify_batch(pool, key, items: list[str]) -> list[tuple[dict, str, list[str]]]:
    """→ (result, method, labels) per text; `key` is the labels tuple (None: sentiment)."""
    from ..tasks.classify import classify

    def run(part: list[str]) -> list[tuple[dict, str, list[str]]]:
        result = classify(part, list(key) if key else None, backend=pool.backend("classify"))
        return [(item.to_dict(), result.method, result.labels) for item in result.items]

    return in_slices(run, items)


async def batched(request: Request, task: str, items: list, fn, key=None) -> list:
    """Results for `items` through the task's micro-batcher (or one direct call when micro-
    batching is off). `fn(key, items) -> results` runs in a worker thread."""
    server = server_of(request)
    if not server.config.micro_batch:
        return await call(request, lambda: fn(key, items))
    remaining = deadline_of(request, server.config.timeout_s) - time.monotonic()
    try:
        return await asyncio.wait_for(
            server.batcher(task, fn).submit(items, key), max(0.0, remaining)
        )
    except asyncio.TimeoutError:
        raise RequestTimeout(server.config.timeout_s) from None


# ------------------------------------------------------------------------------ embeddings
@router.post("/embeddings")
async def embeddings(body: s.EmbeddingRequest, request: Request):
    server = server_of(request)
    served = server.pool.check("embed", body.model)
    texts = body.texts()
    if body.dimensions is not None:
        raise InvalidOptionError("dimensions is not supported", hint='drop "dimensions"')
    await backend(request, "embed", body.model)
    run = partial(embed_batch, server.pool)
    rows = await batched(request, "embed", texts, run)
    tokens = sum(n for _, n in rows)
    server.metrics.count_tokens("embed", tokens, 0)

    def build() -> dict[str, Any]:
        data = []
        for i, (vector, _) in enumerate(rows):
            if body.encoding_format == "base64":
                value: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode()
            else:
                value = vector.tolist()
            data.append({"object": "embedding", "index": i, "embedding": value})
        return {
            "object": "list",
            "data": data,
            "model": served.name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    # plain json.dumps in a worker thread: FastAPI's generic encoder would walk every float of
    # every vector, on the event loop
    return await json_response(request, build)


# ------------------------------------------------------------------------------ classify
@router.post("/classify")
async def classify(body: s.ClassifyRequest, request: Request):
    from ..tasks.classify import parse_labels

    server = server_of(request)
    served = server.pool.check("classify", body.model)
    texts = body.texts()
    labels = parse_labels(body.labels)
    if labels and len(labels) > s.MAX_LABELS:
        raise InvalidOptionError(
            f"{len(labels)} labels is over this server's limit of {s.MAX_LABELS}",
            hint="classify against fewer labels per request",
        )
    await backend(request, "classify", body.model)
    # requests with the same labels share a forward pass
    key = tuple(labels) if labels else None
    results = await batched(request, "classify", texts, partial(classify_batch, server.pool), key)
    method, names = results[0][1], results[0][2]
    return await json_response(
        request,
        lambda: {
            "id": s.new_id("clf"),
            "object": "classification",
            "created": s.now(),
            "model": served.name,
            "method": method,
            "labels": names,
            "data": [{"index": i, **item} for i, (item, _, _) in enumerate(results)],
            # e.g. a text in a language the model does not read: "input 2: …"
            "warnings": [
                f"input {i}: {w}"
                for i, (item, _, _) in enumerate(results)
                for w in item["warnings"]
            ],
        },
    )


# ------------------------------------------------------------------------------ summarize
@router.post("/summarize")
async def summarize(body: s.SummarizeRequest, request: Request):
    from ..tasks.summarize import SummarizeOptions

    server = server_of(request)
    served = server.pool.check("summarize", body.model)
    if (body.text is None) == (body.url is None):
        raise InvalidOptionError(
            'send either "text" or "url"', hint='e.g. {"url": "https://example.com/article"}'
        )
    options = SummarizeOptions(
        mode=body.mode,
        sentences=body.sentences,
        words=body.words,
        ratio=body.ratio,
        focus=body.focus,
    ).validate()
    if body.url is not None:
        allow = server.config.allow_private_urls
        source = await call(request, lambda: calls.fetch_document(body.url, allow))
    else:
        source = body.text
    result = await call(request, lambda: calls.summarize(server.pool, source, options, body.model))
    return await json_response(
        request,
        lambda: {
            "id": s.new_id("sum"),
            "object": "summary",
            "created": s.now(),
            **result.to_dict(),
            "served_model": served.name,
        },
    )


# ------------------------------------------------------------------------------ transcription
@router.post(
    "/audio/transcriptions",
    responses={
        200: {
            "content": {"application/json": {}, "text/plain": {"schema": {"type": "string"}}},
            "description": "json / verbose_json, or text / srt / vtt as plain text",
        }
    },
)
async def transcriptions(
    request: Request,
    file: UploadFile = File(...),
    model: str | None = Form(None),
    language: str | None = Form(None),
    prompt: str | None = Form(None),
    response_format: str = Form("json"),
    temperature: float | None = Form(None),
):
    from ..tasks.transcribe import TranscribeOptions
    from .uploads import saved_upload

    server = server_of(request)
    served = server.pool.check("transcribe", model)
    if response_format not in ("json", "text", "srt", "vtt", "verbose_json"):
        raise InvalidOptionError(
            f"response_format {response_format!r} is not supported",
            hint="use json, text, srt, vtt or verbose_json",
        )
    options = TranscribeOptions(language=language or None, initial_prompt=prompt or None).validate()
    await backend(request, "transcribe", model)
    name = file.filename or "upload"
    async with saved_upload(file, server.config.max_upload_bytes) as path:
        result = await call(
            request, lambda: calls.transcribe(server.pool, path, options, name, model)
        )
    if response_format == "text":
        return PlainTextResponse(result.text + "\n")
    if response_format in ("srt", "vtt"):
        return PlainTextResponse(result.render(response_format))
    if response_format == "json":
        return {"text": result.text}
    return {
        "task": "transcribe",
        "language": result.language,
        "duration": round(result.duration, 3),
        "text": result.text,
        "segments": [{"id": i, **seg.to_dict()} for i, seg in enumerate(result.segments)],
        "model": served.name,
    }
