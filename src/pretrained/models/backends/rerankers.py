"""Rerank engines: score how well each passage answers a query.

- `CrossEncoderReranker`: a sequence-classification model that reads the query and the passage
  together (cross-encoder/ms-marco-MiniLM-L-6-v2 and the like) — the better ranker. Its logit
  goes through a sigmoid (one label, as sentence-transformers' CrossEncoder does) or the softmax
  probability of the last label (two labels: not relevant / relevant), so scores lie in 0..1.
- `BiEncoderReranker`: any embedding backend (the embedded all-MiniLM-L6-v2 on the torch-free
  engine by default): the cosine of the query's and the passage's vectors, −1..1.

Both count tokens with the model's own tokenizer and say how many passages were longer than the
model reads (cut, never silently).
"""

from __future__ import annotations

from typing import Any

from ...errors import UnsupportedModelError
from .base import check_cancelled


class BiEncoderReranker:
    kind = "bi-encoder"

    def __init__(self, embedder: Any, encoded: dict[str, Any] | None = None) -> None:
        """`encoded`: query text → its vector, for queries the caller has embedded already."""
        self.embedder = embedder
        self.encoded = encoded or {}
        self.model_id = getattr(embedder, "model_id", type(embedder).__name__)
        self.engine = getattr(embedder, "engine", "unknown")
        self.max_tokens = getattr(embedder, "max_tokens", None)
        self.load_seconds = getattr(embedder, "load_seconds", 0.0)

    def score(self, query: str, passages: list[str], *, batch_size: int = 32):
        """→ (cosine per passage, token count per passage incl. special tokens)."""
        import numpy as np

        known = self.encoded.get(query)
        q = np.array(self.embedder.encode([query])[0] if known is None else known, np.float32)
        q /= max(float(np.linalg.norm(q)), 1e-12)
        vectors = np.asarray(
            self.embedder.encode(list(passages), batch_size=batch_size), dtype=np.float32
        )
        norms = np.maximum(np.linalg.norm(vectors, axis=1), 1e-12)
        scores = (vectors @ q) / norms
        count = getattr(self.embedder, "count_tokens", None)  # every real engine has one
        counts = count(list(passages)) if count else [0] * len(passages)
        return [float(x) for x in scores], counts


class CrossEncoderReranker:
    kind = "cross-encoder"
    engine = "transformers"

    def __init__(self, classifier: Any) -> None:
        labels = len(classifier.labels)
        if labels not in (1, 2):
            raise UnsupportedModelError(
                f"{classifier.model_id} has {labels} output labels; a cross-encoder has 1 or 2",
                hint="pass a rerank model such as cross-encoder/ms-marco-MiniLM-L-6-v2, "
                "or an embedding model (bi-encoder) such as minilm-l6",
            )
        self.classifier = classifier
        self.model_id = classifier.model_id
        self.max_tokens = classifier.max_tokens
        self.load_seconds = classifier.load_seconds

    def score(self, query: str, passages: list[str], *, batch_size: int = 16):
        """→ (relevance 0..1 per passage, token count of each (query, passage) pair)."""
        import torch

        tokenizer, model = self.classifier.tokenizer, self.classifier.model
        scores: list[float] = []
        counts: list[int] = []
        for start in range(0, len(passages), batch_size):
            check_cancelled()
            part = list(passages[start : start + batch_size])
            queries = [query] * len(part)
            ids = tokenizer(queries, part, truncation=False, verbose=False)["input_ids"]
            counts += [len(x) for x in ids]
            enc = tokenizer(
                queries,
                part,
                truncation="longest_first",
                max_length=self.max_tokens,
                padding=True,
                return_tensors="pt",
            ).to(model.device)
            with torch.inference_mode():
                logits = model(**enc).logits.float()
            if logits.shape[-1] == 1:
                values = torch.sigmoid(logits[:, 0])
            else:
                values = torch.softmax(logits, dim=-1)[:, -1]
            scores += [float(x) for x in values.cpu()]
        return scores, counts


def load_cross_encoder(resolved, **options: Any) -> CrossEncoderReranker:
    """A Hub / local sequence-classification checkpoint, loaded safely by the classify loader
    (safetensors only unless trust_pickle), as a cross-encoder."""
    from .classifiers import load_sequence_classifier

    try:
        classifier = load_sequence_classifier(resolved, **options)
    except UnsupportedModelError as exc:
        raise UnsupportedModelError(
            f"{exc.message}: it cannot rerank as a cross-encoder",
            hint="pass a cross-encoder (ms-marco-minilm-l6) or an embedding model (minilm-l6, "
            "or a local sentence-transformers folder) to rank as a bi-encoder",
        ) from exc
    return CrossEncoderReranker(classifier)
