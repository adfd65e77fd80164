"""POST /v1/rerank in the Cohere / Jina shape: `query` + `documents` (strings or {"text": …}),
`top_n`, `return_documents` → `results: [{index, relevance_score, document?}]`, `model`,
`usage`, and which kind of model ranked (`ranker`: cross-encoder or bi-encoder)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ..tasks.rerank import MAX_DOCUMENTS
from . import schemas as s
from .endpoints import backend, call, json_response, server_of

router = APIRouter(prefix="/v1", responses=s.ERRORS)


class RerankDocument(s._Request):
    text: str


class RerankRequest(s._Request):
    model: str | None = None
    query: Annotated[str, Field(min_length=1)]
    documents: Annotated[list[str | RerankDocument], Field(min_length=1, max_length=MAX_DOCUMENTS)]
    top_n: Annotated[int | None, Field(ge=1)] = None
    return_documents: bool = False

    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


class RerankedDocument(BaseModel):
    text: str


class RerankResult(BaseModel):
    index: int
    relevance_score: float
    document: RerankedDocument | None = None


class RerankUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class Ranker(BaseModel):
    kind: str  # cross-encoder | bi-encoder
    engine: str
    truncated: list[int]  # documents longer than the model reads (ranked on their beginning)


class RerankResponse(BaseModel):
    id: str
    object: str
    model: str
    results: list[RerankResult]
    usage: RerankUsage
    ranker: Ranker


@router.post("/rerank", responses={200: {"model": RerankResponse}})
async def rerank(body: RerankRequest, request: Request):
    """Order the documents by relevance to the query, best first (top_n of them)."""
    from ..tasks.rerank import RerankOptions, check_inputs
    from ..tasks.rerank import rerank as run

    server = server_of(request)
    served = server.pool.check("rerank", body.model)
    texts = body.texts()
    options = RerankOptions(top_n=body.top_n, return_documents=body.return_documents).validate()
    check_inputs(body.query, texts, options)  # empty passages: a 400 before any model loads
    engine = await backend(request, "rerank", body.model)
    result = await call(request, lambda: run(body.query, texts, options, backend=engine))
    server.metrics.count_tokens("rerank", result.tokens, 0)

    def build() -> dict[str, Any]:
        return {
            "id": s.new_id("rerank"),
            "object": "rerank",
            "model": served.name,
            "results": [r.to_dict(body.return_documents) for r in result.results],
            "usage": {"prompt_tokens": result.tokens, "total_tokens": result.tokens},
            "ranker": {
                "kind": result.kind,
                "engine": result.engine,
                "truncated": result.truncated,
            },
        }

    return await json_response(request, build)
