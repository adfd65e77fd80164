"""The task calls shared by the API and the UI: each picks the served backends from the pool and
calls the task function, so both surfaces answer the same way. (Model logic stays in tasks/.)"""

from __future__ import annotations

from typing import Any


def fetch_document(url: str, allow_private: bool):
    """A web page or PDF as a Document; every request of the fetch (redirects included) goes
    through the SSRF guard and connects only to the address the guard checked."""
    from ..sources.web import fetch_url
    from .urlguard import check_url, guard, pinned_transport

    check_url(url, allow_private=allow_private)
    transport = None if allow_private else pinned_transport()
    return fetch_url(url, check_url=guard(allow_private), transport=transport)


def summarize(pool, source: Any, options, requested: str | None = None):
    """Abstractive summaries use the served text model; extractive ones the served embedder
    (or the task's default embedder when the server does not serve embeddings)."""
    from ..tasks.summarize import choose_mode
    from ..tasks.summarize import summarize as run

    mode, _ = choose_mode(options)
    if mode == "abstractive":
        return run(source, options, backend=pool.backend("summarize", requested))
    embedder = pool.backend("embed") if pool.has("embed") else None
    return run(source, options, embedder=embedder)


def transcribe(pool, path, options, name: str, requested: str | None = None):
    from ..tasks.transcribe import transcribe as run

    return run(path, options, backend=pool.backend("transcribe", requested), name=name)
