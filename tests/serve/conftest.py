"""Servers for tests: the app in-process (TestClient) or live on 127.0.0.1 with a free port,
serving scripted backends (no weights) unless a test asks for the embedded models."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from pretrained.models.backends.scripted import ScriptedTextBackend


class SlowBackend(ScriptedTextBackend):
    """Scripted replies, `delay` seconds per word; records how far each generation got, so tests
    can see that a cancelled request really stopped."""

    def __init__(self, words: int = 200, delay: float = 0.02, **kwargs) -> None:
        super().__init__(" ".join(f"w{i}" for i in range(words)), **kwargs)
        self.delay = delay
        self.produced: list[int] = []  # words produced by each stream, once it ended
        self.cancelled = 0

    def stream(self, prompt, params, *, add_special_tokens=True, cancel=None):
        count = 0
        try:
            for chunk in super().stream(
                prompt, params, add_special_tokens=add_special_tokens, cancel=cancel
            ):
                if not chunk.done:
                    time.sleep(self.delay)
                    count += 1
                yield chunk
        finally:
            self.produced.append(count)
            if cancel is not None and cancel.is_set():
                self.cancelled += 1

    def generate(self, prompts, params, *, add_special_tokens=True):
        time.sleep(self.delay * min(params.max_new_tokens, len(str(self.reply).split())))
        return super().generate(prompts, params, add_special_tokens=add_special_tokens)


class BusyBackend(ScriptedTextBackend):
    """An engine that burns `per_token_s` of CPU for every token it makes and checks the cancel
    flag between tokens, as the real engines do: the CPU stays busy until the work stops, so a
    test can see whether a cancelled request really went idle."""

    def __init__(self, per_token_s: float = 0.005, **kwargs) -> None:
        super().__init__("w", **kwargs)
        self.per_token_s = per_token_s
        self.tokens = 0  # made so far, by every call

    def _tokens(self, limit: int, cancel=None):
        from pretrained.models.backends import base

        for _ in range(limit):
            if base.cancelled() or (cancel is not None and cancel.is_set()):
                return
            began = time.thread_time()
            while time.thread_time() - began < self.per_token_s:
                pass
            self.tokens += 1
            yield "w"

    def generate(self, prompts, params, *, add_special_tokens=True):
        from pretrained.models.backends.base import BackendOutput, Completion, check_cancelled

        check_cancelled()
        out = []
        for prompt in prompts:
            completions = []
            for _ in range(params.num_return_sequences):
                words = list(self._tokens(params.max_new_tokens))
                completions.append(Completion(" ".join(words), "length", len(words)))
                check_cancelled()
            out.append(BackendOutput(self.count_tokens(prompt), completions, 0.0, 0.0))
        return out

    def stream(self, prompt, params, *, add_special_tokens=True, cancel=None):
        from pretrained.models.backends.base import StreamChunk

        count = 0
        for i, word in enumerate(self._tokens(params.max_new_tokens, cancel)):
            count += 1
            yield StreamChunk(text=word if i == 0 else " " + word)
        yield StreamChunk(
            done=True, finish_reason="length", prompt_tokens=1, completion_tokens=count
        )


def wait_until_up(proc, url: str, seconds: float = 300) -> None:
    """Poll `url` until it answers 200; fail with the process output if it dies first."""
    import httpx

    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read().decode()[-3000:])
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"{url} did not answer in {seconds:.0f} s")


class FakeEmbedder:
    """The embedding-backend protocol with hashed bag-of-words vectors (no weights); records the
    size of every encode call, so tests can see requests sharing a forward pass."""

    model_id = "fake-embedder"
    revision = "fake"
    device = "cpu"
    dims = 16
    max_tokens = 128
    load_seconds = 0.0

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[int] = []

    def count_tokens(self, texts):
        return [len(t.split()) + 2 for t in texts]

    def token_offsets(self, text):
        import re

        return [m.span() for m in re.finditer(r"\S+", text)]

    def encode(self, texts, *, batch_size=32, normalize=True):
        import hashlib

        import numpy as np

        self.calls.append(len(texts))
        time.sleep(self.delay)
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, hashlib.sha1(word.encode()).digest()[0] % self.dims] += 1.0
        out[:, 0] += 1e-3  # never all zeros
        if normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn in a background thread on 127.0.0.1:<free port>, stopped on exit."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def every_task_backends() -> dict:
    """Scripted engines for every served task (text, embeddings, transcription)."""
    from pretrained.models.backends.rerankers import BiEncoderReranker
    from pretrained.models.backends.scripted import ScriptedTranscriber

    text = ScriptedTextBackend("hello there my friend")
    embedder = FakeEmbedder()
    return {
        "rerank": BiEncoderReranker(embedder),
        "generate": text,
        "chat": text,
        "summarize": text,
        "embed": embedder,
        "classify": embedder,
        "transcribe": ScriptedTranscriber(),
    }


def make_app(backend=None, embedder=None, **config):
    from pretrained.serve import ServeConfig, create_app

    backend = backend or ScriptedTextBackend("hello there my friend")
    backends = {"generate": backend, "chat": backend, "summarize": backend}
    if embedder is not None:
        backends.update(embed=embedder, classify=embedder)
    config.setdefault("ui", False)
    return create_app(ServeConfig(**config), backends=backends)


@pytest.fixture
def scripted():
    return ScriptedTextBackend("hello there my friend")


@pytest.fixture
def client(scripted):
    from fastapi.testclient import TestClient

    with TestClient(make_app(scripted, api_keys=("sk-test",))) as c:
        c.headers["Authorization"] = "Bearer sk-test"
        yield c
