"""The OpenAI-shaped routes, in-process, on scripted backends."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.serve.conftest import SlowBackend, make_app

CHAT = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Hi"}]}


def _events(text: str) -> list:
    out = []
    for block in text.strip().split("\n\n"):
        assert block.startswith("data: "), block
        payload = block[len("data: ") :]
        out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def assert_error(response, status: int, code: str | None = None, contains: str = ""):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    assert "Traceback" not in response.text
    if code:
        assert error["code"] == code, error
    assert contains.lower() in error["message"].lower(), error


def test_chat_completion_has_openai_shape(client, scripted):
    body = client.post("/v1/chat/completions", json={**CHAT, "max_tokens": 3}).json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "hello there my"}
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 3
    assert body["model"] == "smollm2-135m-instruct"
    assert "<user>Hi</user>" in scripted.prompts[-1]  # the chat template was applied


def test_chat_stream_is_server_sent_events(client):
    r = client.post(
        "/v1/chat/completions",
        json={**CHAT, "stream": True, "stream_options": {"include_usage": True}},
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "hello there my friend"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4
    assert len({c["id"] for c in chunks}) == 1


def test_chat_n_choices_and_stop(client):
    body = client.post(
        "/v1/chat/completions", json={**CHAT, "n": 2, "temperature": 0.5, "stop": [" my"]}
    ).json()
    assert [c["message"]["content"] for c in body["choices"]] == ["hello there"] * 2
    assert [c["index"] for c in body["choices"]] == [0, 1]


def test_chat_accepts_text_parts_and_developer_role(client, scripted):
    messages = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}],
        },
    ]
    assert (
        client.post("/v1/chat/completions", json={**CHAT, "messages": messages}).status_code == 200
    )
    assert "<system>Be brief.</system><user>Hello</user>" in scripted.prompts[-1]


def test_completions_single_list_echo_and_stream(client, scripted):
    one = client.post("/v1/completions", json={"model": "smollm2-135m-instruct", "prompt": "Once"})
    assert one.json()["object"] == "text_completion"
    assert scripted.prompts[-1] == "Once"  # raw: no chat template for completions
    many = client.post(
        "/v1/completions",
        json={"model": "smollm2-135m-instruct", "prompt": ["a", "b"], "echo": True},
    ).json()
    assert [c["text"] for c in many["choices"]] == [
        "ahello there my friend",
        "bhello there my friend",
    ]
    streamed = client.post(
        "/v1/completions", json={"model": "smollm2-135m-instruct", "prompt": "x", "stream": True}
    )
    events = _events(streamed.text)
    assert "".join(e["choices"][0]["text"] for e in events[:-1]) == "hello there my friend"


@pytest.mark.parametrize(
    ("payload", "contains"),
    [
        ({**CHAT, "temperature": -1}, "temperature"),
        ({**CHAT, "messages": []}, "messages"),
        ({**CHAT, "messages": [{"role": "user", "content": "  "}]}, "no user message"),
        ({**CHAT, "messages": [{"role": "robot", "content": "x"}]}, "role"),
        ({**CHAT, "n": 2, "temperature": 0}, "needs sampling"),
        ({**CHAT, "max_tokens": 10**6}, "limit"),
        ({**CHAT, "stop": ["a", "b", "c", "d", "e"]}, "at most 4"),
        ({**CHAT, "stream": True, "n": 2, "temperature": 1}, "one choice"),
        (
            {**CHAT, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "not supported",
        ),
    ],
)
def test_bad_chat_requests_are_400_json(client, payload, contains):
    assert_error(client.post("/v1/chat/completions", json=payload), 400, contains=contains)


def test_bad_completion_requests(client):
    base = {"model": "smollm2-135m-instruct"}
    assert_error(client.post("/v1/completions", json={**base, "prompt": []}), 400, contains="empty")
    assert_error(client.post("/v1/completions", json={**base, "prompt": "x", "logprobs": 2}), 400)
    assert_error(
        client.post("/v1/completions", json={**base, "prompt": ["a", "b"], "stream": True}),
        400,
        contains="one prompt",
    )
    assert_error(client.post("/v1/completions", json=base), 400, contains="prompt")


def test_invalid_json_is_400_json(client):
    r = client.post(
        "/v1/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(r, 400)


def test_unknown_model_is_404_with_the_served_names(client):
    r = client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-4o"})
    assert_error(r, 404, "model_not_found", "gpt-4o")
    assert "smollm2-135m-instruct" in r.json()["error"]["hint"]
    # the Hub id of the served model is accepted too
    ok = client.post(
        "/v1/chat/completions", json={**CHAT, "model": "HuggingFaceTB/SmolLM2-135M-Instruct"}
    )
    assert ok.status_code == 200


def test_models_list(client):
    data = client.get("/v1/models").json()["data"]
    assert data[0]["id"] == "smollm2-135m-instruct" and data[0]["object"] == "model"
    assert {"generate", "chat"} <= set(data[0]["tasks"])


def test_unknown_route_is_json_404(client):
    assert_error(client.post("/v1/nothing/here", json={}), 404, "not_found")


def test_task_not_served_is_404():
    with TestClient(make_app(tasks=("chat",))) as c:
        r = c.post("/v1/completions", json={"model": "smollm2-135m-instruct", "prompt": "x"})
        assert_error(r, 404, "model_not_found", "does not serve")


def test_tokenize_with_pieces(tiny_gpt2_dir):
    with TestClient(make_app(models={"tokenize": str(tiny_gpt2_dir)})) as c:
        body = c.post("/v1/tokenize", json={"text": "Hello world"}).json()
        assert body["count"] == len(body["ids"]) > 0
        assert "".join(t["text"] for t in body["tokens"]) == "Hello world"
        assert body["model"] == str(tiny_gpt2_dir)
        assert_error(c.post("/v1/tokenize", json={}), 400, contains="text")
        assert_error(c.post("/v1/tokenize", json={"text": ""}), 400, "empty_input")


# ------------------------------------------------------------------ hardening
def test_wrong_or_missing_key_is_401_but_ops_routes_are_public(client):
    for headers in (
        {"Authorization": "Bearer nope"},
        {"Authorization": ""},
        {"Authorization": "Basic sk-test"},
    ):
        r = client.post("/v1/chat/completions", json=CHAT, headers=headers)
        assert_error(r, 401, "invalid_api_key")
        assert r.headers["www-authenticate"] == "Bearer"
    for path in ("/health", "/ready", "/metrics"):
        assert client.get(path, headers={"Authorization": ""}).status_code == 200


def test_key_comparison():
    from pretrained.serve.auth import bearer, digest, key_matches

    def keys(*names):
        return tuple(digest(n) for n in names)

    assert key_matches("a", keys("x", "a")) and not key_matches("ab", keys("a"))
    assert not key_matches(None, keys("a")) and not key_matches("", keys("a"))
    assert bearer("Bearer  k ") == "k" and bearer("bearer k") == "k" and bearer("Token k") is None


def test_oversized_body_is_413():
    with TestClient(make_app(max_body_bytes=1000)) as c:
        big = {**CHAT, "messages": [{"role": "user", "content": "x" * 5000}]}
        assert_error(c.post("/v1/chat/completions", json=big), 413, "request_too_large")

        def chunks():  # no Content-Length: the limit is enforced while reading
            for _ in range(10):
                yield b" " * 500

        r = c.post(
            "/v1/chat/completions", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert_error(r, 413, "request_too_large")
        assert c.post("/v1/chat/completions", json=CHAT).status_code == 200


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("pretrained-upload-*")}


def test_oversized_upload_is_413_and_leaves_no_temp_file():
    before = _leftovers()
    with TestClient(make_app(max_upload_bytes=10_000)) as c:
        r = c.post(
            "/v1/audio/transcriptions",
            files={"file": ("big.wav", b"\0" * 20_000, "audio/wav")},
            data={"model": "whisper-tiny.en"},
        )
    assert_error(r, 413, "request_too_large")
    assert _leftovers() == before


def test_timeout_is_504_and_stops_the_generation():
    backend = SlowBackend(words=400, delay=0.02)
    with TestClient(make_app(backend, timeout_s=0.5)) as c:
        r = c.post("/v1/chat/completions", json={**CHAT, "max_tokens": 400})
        assert_error(r, 504, "timeout")
    deadline = time.monotonic() + 10
    while not backend.produced and time.monotonic() < deadline:  # the worker thread winds down
        time.sleep(0.02)
    assert backend.cancelled == 1 and backend.produced[-1] < 400


def test_unexpected_errors_are_500_json_without_trace():
    class Broken(SlowBackend):
        def stream(self, *args, **kwargs):
            raise RuntimeError("secret internals /home/x/model.py line 3")

    with TestClient(make_app(Broken()), raise_server_exceptions=False) as c:
        r = c.post("/v1/chat/completions", json=CHAT)
        assert_error(r, 500, "internal_error", "internal server error")
        assert "secret" not in r.text


def test_stream_errors_are_reported_in_the_stream():
    class Failing(SlowBackend):
        def stream(self, prompt, params, **kwargs):
            yield from super().stream(prompt, params, **kwargs)

    backend = Failing(words=3, delay=0)
    backend.reply = lambda prompt, params: (_ for _ in ()).throw(RuntimeError("boom"))
    with TestClient(make_app(backend)) as c:
        events = _events(c.post("/v1/chat/completions", json={**CHAT, "stream": True}).text)
    assert events[-1] == "[DONE]"
    assert events[-2]["error"]["code"] == "internal_error" and "boom" not in json.dumps(events)


def test_cors_is_off_unless_asked():
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with TestClient(make_app()) as c:
        r = c.options("/v1/chat/completions", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
        assert (
            "access-control-allow-origin"
            not in c.get("/health", headers={"Origin": "https://app.example"}).headers
        )
    with TestClient(make_app(cors_origins=("https://app.example",), api_keys=("k",))) as c:
        r = c.options("/v1/chat/completions", headers=preflight)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        other = c.options(
            "/v1/chat/completions", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers


def test_ready_waits_for_preload(monkeypatch):
    import threading

    from pretrained.serve import pool as pool_module

    gate = threading.Event()

    def slow_loader(model, options):
        gate.wait(10)
        return SlowBackend()

    monkeypatch.setitem(pool_module.LOADERS, "chat", slow_loader)
    from pretrained.serve import ServeConfig, create_app

    with TestClient(create_app(ServeConfig(tasks=("chat",), preload=True, ui=False))) as c:
        r = c.get("/ready")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        assert c.get("/health").status_code == 200
        gate.set()
        for _ in range(200):
            if c.get("/ready").status_code == 200:
                break
            time.sleep(0.02)
        body = c.get("/ready").json()
        assert body["status"] == "ready" and body["models"][0]["loaded"] is True


def test_preload_failure_shows_on_ready(monkeypatch):
    from pretrained.errors import ModelNotCachedError
    from pretrained.serve import ServeConfig, create_app
    from pretrained.serve import pool as pool_module

    def failing(model, options):
        raise ModelNotCachedError("model 'x' is not in the local cache")

    monkeypatch.setitem(pool_module.LOADERS, "chat", failing)
    with TestClient(create_app(ServeConfig(tasks=("chat",), preload=True, ui=False))) as c:
        for _ in range(100):
            if c.get("/ready").json()["status"] != "loading":
                break
            time.sleep(0.02)
        r = c.get("/ready")
        assert r.status_code == 503 and "not in the local cache" in r.json()["error"]
        assert_error(c.post("/v1/chat/completions", json=CHAT), 503, "model_unavailable")


def test_metrics_count_requests_tokens_and_latency(client):
    client.post("/v1/chat/completions", json=CHAT)
    client.post("/v1/chat/completions", json={**CHAT, "model": "nope"})
    text = client.get("/metrics").text
    assert (
        'pretrained_requests_total{method="POST",route="/v1/chat/completions",status="200"} 1.0'
        in text
    )
    assert 'route="/v1/chat/completions",status="404"' in text
    assert 'pretrained_tokens_total{kind="completion",task="chat"} 4.0' in text
    assert "pretrained_request_duration_seconds_bucket" in text
    assert "pretrained_queue_depth" in text


def test_openapi_docs(client):
    spec = client.get("/openapi.json").json()
    assert {"/v1/chat/completions", "/v1/completions", "/v1/models", "/v1/tokenize"} <= set(
        spec["paths"]
    )
    assert client.get("/docs").status_code == 200
