"""/v1/embeddings, /v1/classify, /v1/summarize and /v1/audio/transcriptions: shapes, errors,
micro-batching (fake embedder, no weights); the embedded models with real clients in the
integration tests."""

from __future__ import annotations

import asyncio
import base64
import http.server
import threading

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.serve.conftest import FakeEmbedder, LiveServer, make_app
from tests.serve.test_api import assert_error

# the text tasks (embed, classify, summarize) land with the Text issue
pytest.importorskip("pretrained.tasks.summarize", reason="the text tasks are not installed")


@pytest.fixture
def embedder():
    return FakeEmbedder()


@pytest.fixture
def client(embedder):
    with TestClient(make_app(embedder=embedder, batch_wait_ms=1)) as c:
        yield c


def test_embeddings_have_openai_shape(client, embedder):
    body = client.post(
        "/v1/embeddings", json={"model": "minilm-l6", "input": ["a cat", "a dog"]}
    ).json()
    assert body["object"] == "list" and body["model"] == "minilm-l6"
    assert [d["index"] for d in body["data"]] == [0, 1]
    vector = np.array(body["data"][0]["embedding"])
    assert vector.shape == (16,) and abs(np.linalg.norm(vector) - 1) < 1e-5
    assert body["usage"] == {"prompt_tokens": 8, "total_tokens": 8}
    one = client.post("/v1/embeddings", json={"input": "a cat", "encoding_format": "base64"}).json()
    decoded = np.frombuffer(base64.b64decode(one["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, vector, atol=1e-6)


@pytest.mark.parametrize(
    ("payload", "status", "contains"),
    [
        ({"input": []}, 400, "empty list"),
        ({"input": [1, 2, 3]}, 400, "token-id"),
        ({"input": ["ok", "  "]}, 400, "empty string"),
        ({"input": "x", "dimensions": 8}, 400, "dimensions"),
        ({"input": "x", "model": "text-embedding-3-small"}, 404, "not served"),
        ({}, 400, "input"),
    ],
)
def test_bad_embedding_requests(client, payload, status, contains):
    assert_error(client.post("/v1/embeddings", json=payload), status, contains=contains)


def test_classify_with_labels_and_default_sentiment(client):
    body = client.post(
        "/v1/classify",
        json={"input": ["the match ended", "the vote passed"], "labels": ["sports", "politics"]},
    ).json()
    assert body["object"] == "classification" and body["labels"] == ["sports", "politics"]
    assert body["method"] == "zero-shot-embedding"
    assert [d["index"] for d in body["data"]] == [0, 1]
    for item in body["data"]:
        assert set(item["scores"]) == {"sports", "politics"}
        assert abs(sum(item["scores"].values()) - 1) < 1e-3 and item["label"] in item["scores"]
    sentiment = client.post("/v1/classify", json={"input": "I love it"}).json()
    assert set(sentiment["data"][0]["scores"]) == {"positive", "negative"}
    assert_error(
        client.post("/v1/classify", json={"input": "x", "labels": ["only"]}), 400, contains="two"
    )
    assert_error(client.post("/v1/classify", json={"input": ["", "x"]}), 400)


async def _concurrently(url: str, requests: list[tuple[str, dict]]):
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        return await asyncio.gather(*(c.post(path, json=body) for path, body in requests))


@pytest.mark.parametrize("micro_batch", [True, False])
def test_concurrent_requests_share_forward_passes_only_with_micro_batching(micro_batch):
    embedder = FakeEmbedder(delay=0.05)
    app = make_app(embedder=embedder, micro_batch=micro_batch, batch_wait_ms=20)
    requests = [("/v1/embeddings", {"input": f"text number {i}"}) for i in range(16)]
    with LiveServer(app) as server:
        responses = asyncio.run(_concurrently(server.url, requests))
        metrics = httpx.get(server.url + "/metrics").text
    assert [r.status_code for r in responses] == [200] * 16
    for i, r in enumerate(responses):  # each caller gets its own vector back
        expected = FakeEmbedder().encode([f"text number {i}"])[0]
        assert np.allclose(r.json()["data"][0]["embedding"], expected, atol=1e-6)
    if micro_batch:
        assert len(embedder.calls) < 16 and max(embedder.calls) > 1
        assert 'pretrained_batch_items_count{task="embed"}' in metrics
    else:
        assert embedder.calls == [1] * 16


def test_classify_warns_about_a_language_the_model_does_not_read():
    pytest.importorskip("py3langid")
    embedder = FakeEmbedder()
    embedder.model_id = "minilm-l6"  # the registry says it reads English only
    with TestClient(make_app(embedder=embedder, batch_wait_ms=1)) as c:
        body = c.post(
            "/v1/classify",
            json={"input": ["The food was cold.", "Le service était nul, je suis très déçu 😡"]},
        ).json()
    english, french = body["data"]
    assert english["warnings"] == [] and "'fr'" in french["warnings"][0]
    assert body["warnings"] == [f"input 1: {french['warnings'][0]}"]


def test_classify_batches_never_mix_label_sets():
    embedder = FakeEmbedder(delay=0.02)
    app = make_app(embedder=embedder, batch_wait_ms=20)
    requests = [
        ("/v1/classify", {"input": f"text {i}", "labels": ["a", "b"] if i % 2 else ["x", "y", "z"]})
        for i in range(8)
    ]
    with LiveServer(app) as server:
        responses = asyncio.run(_concurrently(server.url, requests))
    for i, r in enumerate(responses):
        assert r.status_code == 200
        assert r.json()["labels"] == (["a", "b"] if i % 2 else ["x", "y", "z"])
        assert r.json()["data"][0]["text"] == f"text {i}"


def test_summarize_text_extractive(client):
    text = (
        "Solar panels turn sunlight into electricity. They are made of silicon cells. "
        "Prices fell sharply over the last decade. Many homes now have panels on the roof. "
        "Storage batteries let homes use solar power at night. Grid operators plan for the change."
    )
    body = client.post(
        "/v1/summarize", json={"text": text, "mode": "extractive", "sentences": 2}
    ).json()
    assert body["object"] == "summary" and body["mode"] == "extractive"
    assert body["model"] == "fake-embedder" and body["served_model"] == "smollm2-135m-instruct"
    picked = [s for s in text.split(". ") if s.rstrip(".") in body["summary"]]
    assert len(picked) == 2


def test_summarize_abstractive_uses_the_served_text_model(client):
    # the source says what the scripted model replies: a reply it does not back is dropped
    text = "Some long text says hello there to my friend. " * 20
    body = client.post("/v1/summarize", json={"text": text, "mode": "abstractive"}).json()
    assert body["mode"] == "abstractive" and body["model"] == "scripted"
    assert body["summary"].startswith("hello there") and body["unsupported"] == []


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({}, 400, None),
        ({"text": "a", "url": "https://example.com"}, 400, None),
        ({"text": "   "}, 400, "empty_input"),
        ({"text": "x", "sentences": 0}, 400, None),
        ({"url": "http://127.0.0.1:9/"}, 400, "unsafe_url"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, 400, "unsafe_url"),
        ({"url": "file:///etc/passwd"}, 400, "unsafe_url"),
    ],
)
def test_bad_summarize_requests(client, payload, status, code):
    assert_error(client.post("/v1/summarize", json=payload), status, code)


class _Page(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = (
            "<html><head><title>Solar</title></head><body><article><h1>Solar power</h1>"
            + "".join(
                f"<p>Solar panels convert sunlight into electricity, fact number {i}. "
                f"Prices of panels fell again in year {2000 + i}.</p>"
                for i in range(8)
            )
            + "</article></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def local_page():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/article"
    server.shutdown()
    server.server_close()


def test_summarize_url_only_reaches_private_hosts_when_allowed(local_page, embedder):
    payload = {"url": local_page, "mode": "extractive", "sentences": 2}
    with TestClient(make_app(embedder=embedder)) as c:
        assert_error(c.post("/v1/summarize", json=payload), 400, "unsafe_url")
    with TestClient(make_app(embedder=embedder, allow_private_urls=True)) as c:
        body = c.post("/v1/summarize", json=payload).json()
    assert "Solar panels" in body["summary"] and body["source"] == local_page


def test_transcription_needs_a_file_and_a_known_format(embedder):
    pytest.importorskip("pretrained.tasks.transcribe", reason="lands with the Transcribe issue")
    with TestClient(make_app(embedder=embedder)) as c:
        assert_error(c.post("/v1/audio/transcriptions", data={"model": "whisper-tiny.en"}), 400)
        r = c.post(
            "/v1/audio/transcriptions",
            files={"file": ("a.wav", b"RIFF", "audio/wav")},
            data={"response_format": "mp3"},
        )
        assert_error(r, 400, contains="response_format")
