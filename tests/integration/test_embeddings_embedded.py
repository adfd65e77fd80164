"""The embedded all-MiniLM-L6-v2 on the torch-free CPU engines: the same vectors as
sentence-transformers (cosine ≥ 0.999 on a test set) and a CLI whose warm path imports no torch."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models.test_fast_embeddings import run_fresh

pytestmark = pytest.mark.integration

# a test set: short and long, questions, numbers, code, several languages and scripts, emoji,
# empty and whitespace-only texts, texts longer than the 256 tokens the model reads
TEST_SET = [
    "I love it",
    "This is awful, it broke after one day.",
    "",
    "   ",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "The quarterly revenue fell by 3.2% to $4.1bn as shipping costs rose.",
    "def add(a, b):\n    return a + b",
    "SELECT name FROM users WHERE age > 30 ORDER BY name;",
    "Où est la bibliothèque ? Je cherche un livre sur les volcans.",
    "Das Wetter ist heute schön, wir gehen in den Park.",
    "東京は日本の首都です。",
    "Москва — столица России.",
    "I can't believe it's not butter!!! 🙂🙂",
    "The mitochondria is the powerhouse of the cell.",
    "A coconut is a fruit. Coconuts grow on palm trees near the sea.",
    "Machine learning models learn patterns from data and generalize to new inputs.",
    "Be yourself; everyone else is already taken. — Oscar Wilde",
    "The quick brown fox jumps over the lazy dog.",
    "Refunds are processed within 5–7 business days after we receive the item.",
    "error: no index named 'notes'\nhint: build it first",
    "UPPER CASE SHOUTING ABOUT THE WEATHER",
    "https://example.com/path?query=1&x=2",
    "The committee approved the budget after a long debate on healthcare spending.",
    "She plays the theremin in a small jazz band on Fridays.",
    " ".join(f"Sentence {i} talks about engines, caches and models." for i in range(80)),
    "word " * 600,
    "Neural networks; transformers; attention is all you need. " * 12,
]


@pytest.mark.parametrize("engine", ["ctranslate2", "onnx"])
def test_the_embedded_model_matches_sentence_transformers(engine):
    from sentence_transformers import SentenceTransformer

    from pretrained.models import load_embedder
    from pretrained.models.registry import resolve

    ours = load_embedder(engine=engine)
    assert ours.engine == engine and ours.dims == 384 and ours.max_tokens == 256
    reference = SentenceTransformer(str(resolve("minilm-l6").path), device="cpu").encode(
        TEST_SET, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    got = ours.encode(TEST_SET, batch_size=8)
    cosine = (got * reference).sum(1)  # both unit vectors
    assert cosine.min() >= 0.999, (engine, float(cosine.min()), int(cosine.argmin()))
    assert np.abs(got - reference).max() < 1e-4
    # the default on a CPU is the measured winner
    assert load_embedder().engine == "ctranslate2"


def test_warm_cli_imports_no_torch(tmp_path):
    from pretrained.models import load_embedder
    from pretrained.tasks.run import list_tasks

    load_embedder()  # the first use converts (and may import torch): not what is measured
    list_tasks()
    doc = tmp_path / "pets.txt"
    doc.write_text(
        "Cats are small furry animals. They like to sleep in the sun.\n\n"
        "Dogs are loyal companions. They like long walks in the park.\n\n"
        "The weather was nice today, so everybody went outside.\n"
    )
    results, heavy = run_fresh(
        [
            (["classify", "I love it", "--json"], None),
            (["classify", "-", "--labels", "sports,politics", "--json"], "The match ended 2-1."),
            (["embed", "--text", "hello world", "--json"], None),
            (["embed", str(doc), "--index", "pets"], None),
            (["similar", "which animal sleeps in the sun?", "--index", "pets", "--json"], None),
            # retrieval only: nothing clears --min-score, so no text model is asked
            (["ask", "Which animals sleep?", "-i", "pets", "--min-score", "0.99", "--json"], None),
            (["summarize", str(doc), "--mode", "extractive", "--json"], None),
            (["run", "--list"], None),
        ]
    )
    for result in results:
        assert result.exit_code == 0, result.stderr
    assert heavy == [], f"the warm path imported {heavy}"
    classified = results[0].json()
    assert classified["label"] == "positive" and classified["engine"] == "ctranslate2"
    assert results[1].json()["label"] == "sports"
    assert "Cats" in results[4].json()["hits"][0]["text"]
    assert results[5].json()["retrieved"][0]["score"] > 0.3  # retrieval ran, on the index
