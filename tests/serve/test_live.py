"""A real server on 127.0.0.1 (uvicorn, free port) with real clients: the official openai SDK,
a loopback load test, a deliberate overload, client disconnects. Scripted backends: no weights."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.serve.conftest import LiveServer, SlowBackend, make_app

MODEL = "smollm2-135m-instruct"


@pytest.fixture
def live(scripted):
    with LiveServer(make_app(scripted, api_keys=("sk-live",))) as server:
        yield server


def test_openai_sdk_chat_stream_completions_and_bad_key(live):
    import openai

    client = openai.OpenAI(base_url=live.url + "/v1", api_key="sk-live", max_retries=0)
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=20
    )
    assert reply.choices[0].message.content == "hello there my friend"
    assert reply.choices[0].finish_reason == "stop" and reply.usage.completion_tokens == 4

    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "hello there my friend"
    )
    assert chunks[-1].usage.total_tokens > 0

    done = client.completions.create(model=MODEL, prompt="Once", max_tokens=2)
    assert done.choices[0].text == "hello there" and done.choices[0].finish_reason == "length"
    assert MODEL in [m.id for m in client.models.list()]

    bad = openai.OpenAI(base_url=live.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert info.value.status_code == 401
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])


async def _hammer(url: str, requests: list[tuple[str, str, dict | None]], concurrency: int):
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": "Bearer sk-live"}

    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:

        async def one(method, path, body):
            async with gate:
                r = await client.request(method, path, json=body)
                return r.status_code, r.headers.get("retry-after")

        return await asyncio.gather(*(one(*req) for req in requests))


def test_load_300_requests_at_concurrency_16_without_errors(tiny_gpt2_dir):
    backend = SlowBackend(words=8, delay=0.001)
    app = make_app(backend, api_keys=("sk-live",), models={"tokenize": str(tiny_gpt2_dir)})
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8}
    mix = [
        ("POST", "/v1/chat/completions", chat),
        ("POST", "/v1/chat/completions", {**chat, "stream": True}),
        ("POST", "/v1/completions", {"model": MODEL, "prompt": "Hi", "max_tokens": 8}),
        ("POST", "/v1/tokenize", {"text": "Hello world"}),
        ("GET", "/v1/models", None),
        ("GET", "/health", None),
    ]
    requests = [mix[i % len(mix)] for i in range(300)]
    with LiveServer(app) as server:
        statuses = asyncio.run(_hammer(server.url, requests, 16))
        metrics = httpx.get(server.url + "/metrics").text
    assert [s for s, _ in statuses].count(200) == 300, sorted({s for s, _ in statuses})
    assert "pretrained_requests_total" in metrics and 'status="5' not in metrics


def test_overload_gets_429_with_retry_after_not_a_hang():
    backend = SlowBackend(words=40, delay=0.01)  # ≈0.4 s per request
    app = make_app(backend, api_keys=("sk-live",), max_concurrency=2, max_queue=2)
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}
    with LiveServer(app) as server:
        began = time.monotonic()
        statuses = asyncio.run(
            _hammer(server.url, [("POST", "/v1/chat/completions", chat)] * 20, 20)
        )
        took = time.monotonic() - began
        metrics = httpx.get(server.url + "/metrics").text
    codes = [s for s, _ in statuses]
    assert set(codes) == {200, 429}, codes
    assert codes.count(200) >= 4 and codes.count(429) >= 8
    assert all(int(r) >= 1 for s, r in statuses if s == 429)
    assert took < 30  # bounded: the excess was turned away, not queued forever
    assert 'pretrained_rejected_total{reason="queue_full"}' in metrics


def _wait_for(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_client_disconnect_stops_a_stream():
    backend = SlowBackend(words=1000, delay=0.01)
    chat = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "max_tokens": 1000,
    }
    with LiveServer(make_app(backend)) as server:
        with httpx.stream("POST", server.url + "/v1/chat/completions", json=chat, timeout=30) as r:
            lines = r.iter_lines()
            got = [next(lines) for _ in range(6)]
        assert any("w1" in line for line in got)
        assert _wait_for(lambda: backend.produced), "the generation did not stop"
    assert backend.cancelled == 1 and backend.produced[0] < 500


def test_client_disconnect_stops_a_non_streaming_request():
    backend = SlowBackend(words=1000, delay=0.01)
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1000}
    with LiveServer(make_app(backend)) as server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server.url + "/v1/chat/completions", json=chat, timeout=0.5)
        assert _wait_for(lambda: backend.produced), "the generation did not stop"
    assert backend.cancelled == 1 and backend.produced[0] < 500
