"""POST /v1/rerank: the Cohere / Jina shape on the embedded MiniLM (bi-encoder), and bad
requests answered with a typed 400, never a 500."""

from __future__ import annotations

import pytest

from tests.tasks.test_rerank import PASSAGES

KEY = "sk-rerank"
QUERY = "How do plants make energy from sunlight?"


@pytest.fixture(scope="module")
def client():
    """The app serving only rerank, on its default model (the embedded MiniLM)."""
    from fastapi.testclient import TestClient

    from pretrained.serve import ServeConfig, create_app

    app = create_app(ServeConfig(tasks=("rerank",), api_keys=(KEY,), ui=False))
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {KEY}"
        yield c


@pytest.mark.integration
def test_five_passages_relevant_first_in_cohere_shape(client):
    r = client.post(
        "/v1/rerank",
        json={"model": "minilm-l6", "query": QUERY, "documents": PASSAGES, "top_n": 3},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "minilm-l6"
    assert [x["index"] for x in body["results"]][:1] == [2]
    assert len(body["results"]) == 3
    scores = [x["relevance_score"] for x in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert "document" not in body["results"][0]  # return_documents defaults to false (Cohere)
    assert body["usage"]["total_tokens"] > 0
    assert body["ranker"]["kind"] == "bi-encoder"


@pytest.mark.integration
def test_documents_as_objects_and_returned(client):
    documents = [{"text": p} for p in PASSAGES]
    body = client.post(
        "/v1/rerank", json={"query": QUERY, "documents": documents, "return_documents": True}
    ).json()
    assert len(body["results"]) == 5
    assert body["results"][0]["document"] == {"text": PASSAGES[2]}
    assert sorted(x["index"] for x in body["results"]) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "payload, where",
    [
        ({"query": QUERY, "documents": []}, "documents"),
        ({"query": QUERY, "documents": PASSAGES, "top_n": 0}, "top_n"),
        ({"query": QUERY, "documents": ["p"] * 1001}, "documents"),
        ({"query": QUERY, "documents": ["fine", "  "]}, "passage 1"),
        ({"query": "", "documents": PASSAGES}, "query"),
        ({"documents": PASSAGES}, "query"),
        ({"query": QUERY, "documents": [{"title": "no text"}]}, "documents"),
        ({"query": QUERY, "documents": PASSAGES, "model": "someone/else"}, "not served"),
    ],
)
def test_bad_requests_are_typed_4xx(client, payload, where):
    r = client.post("/v1/rerank", json=payload)
    assert r.status_code in (400, 404, 422), r.text
    error = r.json()["error"]
    assert where in error["message"] or where in str(error.get("param")), error
    assert error["type"] == "invalid_request_error"


def test_the_key_is_required(client):
    r = client.post(
        "/v1/rerank",
        json={"query": QUERY, "documents": PASSAGES},
        headers={"Authorization": "Bearer wrong"},
    )
    assert r.status_code == 401


def test_rerank_is_in_the_openapi_schema(client):
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/rerank"]["post"]
    assert operation["security"] == [{"bearer": []}]
    assert "400" in operation["responses"]
