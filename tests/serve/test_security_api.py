"""Security tests of the API (issue 14): who is answered before what costs, slow clients,
key throttling, secrets, and errors. Live servers on 127.0.0.1 only; every loop is bounded."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.serve.conftest import LiveServer, make_app

CHAT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}


def raw_request(port: int, head: str, body: bytes = b"") -> socket.socket:
    """A client that sends headers and part of a body, then stalls."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(head.encode() + b"\r\n" + body)
    return conn


def status_of(conn: socket.socket, seconds: float) -> int | None:
    """The status code the server answers within `seconds`, or None."""
    conn.settimeout(seconds)
    try:
        data = conn.recv(4096)
    except TimeoutError:
        return None
    except ConnectionResetError:
        return -1
    finally:
        conn.close()
    if not data:
        return -1
    return int(data.split(b" ", 2)[1])


def post_head(path: str, length: int, content_type="application/json", key=None) -> str:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n{auth}"
    )


def test_keyless_clients_are_refused_before_admission_and_before_their_body():
    app = make_app(api_keys=("sk-sec",), max_concurrency=1, max_queue=0)
    with LiveServer(app) as server:
        stalled = [
            raw_request(server.port, post_head("/v1/chat/completions", 100_000), b'{"mess')
            for _ in range(4)
        ]
        upload = raw_request(  # a 5 MB multipart upload, of which 1 KB is sent
            server.port,
            post_head("/v1/audio/transcriptions", 5_000_000, "multipart/form-data; boundary=x"),
            b"--x\r\n" + b"a" * 1000,
        )
        ok = httpx.post(
            server.url + "/v1/chat/completions",
            json=CHAT,
            headers={"Authorization": "Bearer sk-sec"},
            timeout=10,
        )
        assert ok.status_code == 200, ok.text
        assert [status_of(c, 5) for c in stalled] == [401] * 4
        assert status_of(upload, 5) == 401


def test_slow_bodies_get_408_and_never_hold_a_slot():
    app = make_app(max_concurrency=1, max_queue=0, read_timeout_s=1.5)
    with LiveServer(app) as server:
        slow = [
            raw_request(server.port, post_head("/v1/chat/completions", 1000), b'{"messages"')
            for _ in range(3)
        ]
        for _ in range(3):  # the single slot stays free for complete requests
            ok = httpx.post(server.url + "/v1/chat/completions", json=CHAT, timeout=10)
            assert ok.status_code == 200, ok.text
        began = time.monotonic()
        assert [status_of(c, 10) for c in slow] == [408] * 3
        assert time.monotonic() - began < 10  # the read deadline, not --timeout


def test_a_trickling_body_meets_the_read_deadline():
    app = make_app(read_timeout_s=1.0)
    with LiveServer(app) as server:
        conn = raw_request(server.port, post_head("/v1/chat/completions", 400))
        answered = None
        for _ in range(40):  # a byte every 0.1 s: each read is quick, the whole is too slow
            try:
                conn.sendall(b" ")
            except OSError:
                break
            conn.settimeout(0.1)
            try:
                answered = conn.recv(4096)
                break
            except TimeoutError:
                continue
        conn.close()
        assert answered and b" 408 " in answered.split(b"\r\n")[0]


def test_repeated_wrong_keys_are_throttled_per_client():
    from fastapi.testclient import TestClient

    with TestClient(make_app(api_keys=("sk-right",), max_auth_failures=3)) as client:
        for _ in range(3):
            r = client.post(
                "/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer x"}
            )
            assert r.status_code == 401
        r = client.post(
            "/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer sk-right"}
        )
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
        assert client.get("/health").status_code == 200  # public routes are not throttled


def test_failure_throttle_window_and_memory_are_bounded(monkeypatch):
    from pretrained.serve import auth

    now = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    throttle = auth.FailureThrottle(2, window_s=60)
    throttle.fail("a")
    throttle.fail("a")
    assert throttle.retry_after("a") == 60 and throttle.retry_after("b") == 0
    now[0] += 61
    assert throttle.retry_after("a") == 0
    monkeypatch.setattr(auth, "MAX_CLIENTS", 5)
    for i in range(20):
        throttle.fail(f"c{i}")
    assert len(throttle._failures) == 5


def test_workers_receive_key_digests_not_keys():
    from pretrained.serve import ServeConfig
    from pretrained.serve.auth import key_matches

    config = ServeConfig(api_keys=("sk-worker-secret",))
    env = config.to_env()
    assert "sk-worker-secret" not in env
    again = ServeConfig.from_env({"PRETRAINED_SERVE_CONFIG": env})
    assert again.api_keys == ()
    assert key_matches("sk-worker-secret", again.key_digests)
    assert not key_matches("sk-worker-secre", again.key_digests)


@pytest.mark.parametrize("path", ["/v1/models", "/v1/nowhere", "/v1/tokenize"])
def test_every_v1_route_needs_the_key(path):
    from fastapi.testclient import TestClient

    with TestClient(make_app(api_keys=("k",))) as client:
        assert client.post(path, json={}).status_code == 401
        assert client.get(path).status_code == 401


def _summary_text(words: int = 6000) -> str:
    sentence = "The river carried the boats past the old mill towards the sea at dawn."
    return " ".join([sentence] * (words // len(sentence.split())))


CANCELLED = [
    ("/v1/completions", {"prompt": "Once", "max_tokens": 2000}),  # n=1: the stream path
    ("/v1/completions", {"prompt": "Once", "max_tokens": 2000, "n": 2}),
    ("/v1/completions", {"prompt": ["Once", "Twice", "Thrice"], "max_tokens": 2000}),
    ("/v1/chat/completions", {**CHAT, "max_tokens": 2000, "n": 2}),
    ("/v1/summarize", {"text": _summary_text(), "mode": "abstractive"}),
]


@pytest.mark.parametrize(
    "path,body", CANCELLED, ids=[f"{p}-{i}" for i, (p, _) in enumerate(CANCELLED)]
)
def test_the_cpu_goes_idle_after_a_504(path, body):
    """A request past --timeout gets 504 and its work stops: the server process uses (almost)
    no CPU in the second after that (process CPU time over a short window)."""
    from tests.serve.conftest import BusyBackend

    backend = BusyBackend(per_token_s=0.004)
    with LiveServer(make_app(backend, timeout_s=0.6)) as server:
        r = httpx.post(server.url + path, json=body, timeout=30)
        assert r.status_code == 504, r.text
        assert backend.tokens > 0  # it did start working
        time.sleep(0.4)  # a token or two to notice the flag
        before, cpu_before = backend.tokens, time.process_time()
        time.sleep(1.0)
        used = time.process_time() - cpu_before
        assert backend.tokens == before, "the engine still makes tokens after the 504"
        assert used < 0.3, f"{used:.2f} s of CPU in the second after the 504"


@pytest.mark.parametrize(
    "path,body,says",
    [
        ("/v1/completions", {"prompt": ["a"] * 33}, "at most 32"),
        ("/v1/completions", {"prompt": ["a"] * 8, "n": 16}, "limit of 64 sequences"),
        ("/v1/embeddings", {"input": ["a"] * 2049}, "at most 2048"),
        ("/v1/classify", {"input": ["a"] * 2049}, "at most 2048"),
        ("/v1/classify", {"input": "a", "labels": ",".join(f"l{i}" for i in range(65))}, "64"),
        ("/v1/classify", {"input": "a", "labels": [f"l{i}" for i in range(65)]}, "at most 64"),
        ("/v1/chat/completions", {**CHAT, "stop": ["a", "b", "c", "d", "e"]}, "at most 4"),
    ],
)
def test_list_inputs_are_capped(path, body, says):
    from fastapi.testclient import TestClient

    from tests.serve.conftest import FakeEmbedder

    with TestClient(make_app(embedder=FakeEmbedder())) as client:
        r = client.post(path, json=body)
        assert r.status_code == 400, r.text
        assert says in r.json()["error"]["message"], r.json()


def test_health_answers_during_a_huge_tokenize(tiny_gpt2_dir):
    """A 500 KB /v1/tokenize builds a response of ~10^5 tokens; encoding it must not block the
    event loop: /health keeps answering in under a second (a coarse bound, as issue 14 asks).
    Encoded on the event loop, the one /health call that waits for it took 4.3 s at this size
    (12 s at 1.5 MB); off the loop, a garbage-collector pause over the response's 10^5 objects
    can still hold one call for about a second on a loaded 2-core machine (measured once:
    1.06 s in a fresh-clone run), so: nearly every call under a second, none near the old stall."""
    import threading

    app = make_app(models={"tokenize": str(tiny_gpt2_dir)})
    text = ("Hello world! Tokenizers cut text into pieces. " * 12_000)[:500_000]
    with LiveServer(app) as server:
        answer: dict = {}

        def big() -> None:
            answer["r"] = httpx.post(server.url + "/v1/tokenize", json={"text": text}, timeout=300)

        thread = threading.Thread(target=big)
        thread.start()
        took: list[float] = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while thread.is_alive():
                began = time.monotonic()
                assert client.get("/health").status_code == 200
                took.append(time.monotonic() - began)
                time.sleep(0.05)
        thread.join()
        assert answer["r"].status_code == 200 and answer["r"].json()["count"] > 50_000
        assert took, "the big request finished before /health was called"
        fast = sum(t < 1.0 for t in took) / len(took)
        assert fast >= 0.9 and max(took) < 3.0, f"/health latencies during the request: {took}"


SURROGATE = '"a\\ud800b"'  # JSON for a lone surrogate (@S@ below): valid JSON, not valid text
BAD_INPUTS = [
    ("/v1/completions", '{"prompt": "Hi", "seed": 99999999999999999999999}'),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "Hi"}], "seed": -1}'),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": @S@}]}'),
    (
        "/v1/chat/completions",
        '{"messages": [{"role": "user", "content": "Hi"}], "stop": [@S@]}',
    ),
    ("/v1/completions", '{"prompt": @S@}'),
    ("/v1/tokenize", '{"text": @S@}'),
    ("/v1/embeddings", '{"input": [@S@]}'),
    ("/v1/classify", '{"input": @S@, "labels": ["a", "b"]}'),
    ("/v1/summarize", '{"text": @S@}'),
    ("/v1/summarize", '{"url": "http://[::1"}'),
    ("/v1/summarize", '{"url": @S@}'),
    ("/v1/completions", '{"prompt": "Hi", "n": 2, "temperature": 0}'),
    ("/v1/completions", '{"prompt": "Hi", "temperature": 1e308, "top_p": 1e-320}'),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": [{"type": "text"}]}]}'),
    ("/v1/chat/completions", "[1, 2]"),
    ("/v1/tokenize", '{"text": "x", "model": @S@}'),
    ("/v1/embeddings", '{"input": [[1, 2], [3]]}'),
    ("/v1/completions", '{"prompt": "Hi"'),  # cut JSON
]


@pytest.mark.parametrize("path,raw", BAD_INPUTS)
def test_bad_inputs_are_4xx_never_500(path, raw, tiny_gpt2_dir):
    from fastapi.testclient import TestClient

    from tests.serve.conftest import FakeEmbedder

    app = make_app(embedder=FakeEmbedder(), models={"tokenize": str(tiny_gpt2_dir)})
    with TestClient(app, raise_server_exceptions=False) as client:
        body = raw.replace("@S@", SURROGATE).encode()
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    error = r.json()["error"]
    assert error["message"] and "Traceback" not in r.text


def test_a_bug_is_one_json_500_and_one_logged_traceback():
    import logging

    from pretrained.models.backends.scripted import ScriptedTextBackend

    class Broken(ScriptedTextBackend):
        def stream(self, *args, **kwargs):
            raise RuntimeError("a bug in an engine")

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    keep = Keep()
    live = LiveServer(make_app(Broken("x")))  # uvicorn configures its loggers here
    loggers = [logging.getLogger(n) for n in ("pretrained.serve", "uvicorn.error", "uvicorn")]
    for logger in loggers:
        logger.addHandler(keep)
    try:
        with live as server:
            r = httpx.post(server.url + "/v1/completions", json={"prompt": "Hi"}, timeout=10)
    finally:
        for logger in loggers:
            logger.removeHandler(keep)
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "a bug" not in r.text  # the details stay in the log
    tracebacks = [rec for rec in records if rec.exc_info]
    assert len(tracebacks) == 1, [rec.getMessage() for rec in records]
    assert r.json()["error"]["message"].split("ref ")[1].rstrip(")") in tracebacks[0].getMessage()
