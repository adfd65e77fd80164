"""Rerank: passages split from files, inputs checked before a model loads, the bi-encoder on
the embedded MiniLM, a cross-encoder (tiny random BERT with one output) loaded locally and
through the real Hub client from the fake Hub, and `ask`'s retrieval scoring through it."""

from __future__ import annotations

import pytest

from pretrained.errors import EmptyInputError, InvalidOptionError, UnsupportedModelError
from pretrained.tasks.rerank import RerankOptions, check_inputs, rerank, split_passages
from tests.helpers import assert_one_line_error
from tests.serve.conftest import FakeEmbedder

PASSAGES = [
    "The Eiffel Tower is in Paris and was finished in 1889.",
    "Bananas are rich in potassium.",
    "Photosynthesis turns light into chemical energy in plants.",
    "The stock market fell sharply on Monday.",
    "Mount Everest is the highest mountain above sea level.",
]


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory):
    """A tiny random BertForSequenceClassification with one output (a cross-encoder's shape)."""
    from tests import tiny

    return tiny.bert_dir(tmp_path_factory.mktemp("tiny-cross-encoder"), "cross-encoder")


# ------------------------------------------------------------------ splitting and checks
def test_split_lines_blocks_and_auto():
    text = "first line\nsecond line\n\nthird\n  \n"
    assert split_passages(text, "line") == (["first line", "second line", "third"], "line")
    assert split_passages(text, "block") == (["first line second line", "third"], "block")
    assert split_passages(text, "auto")[1] == "block"
    assert split_passages("a\nb\n", "auto") == (["a", "b"], "line")
    assert split_passages("a\r\nb\r\n\r\nc", "block")[0] == ["a b", "c"]


def test_split_refuses_an_unknown_mode_and_an_empty_text():
    with pytest.raises(InvalidOptionError, match="--split"):
        split_passages("a", "paragraph")
    with pytest.raises(EmptyInputError):
        split_passages("\n \n\n", "auto")


@pytest.mark.parametrize(
    "query, documents, options, error",
    [
        ("q", [], RerankOptions(), EmptyInputError),
        ("", ["a"], RerankOptions(), EmptyInputError),
        ("q", ["a", " "], RerankOptions(), EmptyInputError),
        ("q", "not a list", RerankOptions(), InvalidOptionError),
        ("q", ["a"] * 4, RerankOptions(max_documents=3), InvalidOptionError),
    ],
)
def test_bad_inputs_fail_before_a_model_loads(query, documents, options, error):
    with pytest.raises(error):
        check_inputs(query, documents, options)
    with pytest.raises(error):  # no backend and no model: it must fail before loading one
        rerank(query, documents, options, model="/no/such/model")


def test_top_n_below_one_is_refused():
    with pytest.raises(InvalidOptionError, match="top_n"):
        RerankOptions(top_n=0).validate()


# ------------------------------------------------------------------ bi-encoder
def test_bi_encoder_orders_by_cosine_and_keeps_input_order_scores():
    from pretrained.models.backends.rerankers import BiEncoderReranker

    ranker = BiEncoderReranker(FakeEmbedder())
    docs = ["red apples", "green apples and red apples", "blue sky"]
    result = rerank("red apples", docs, RerankOptions(top_n=2), backend=ranker)
    assert result.kind == "bi-encoder" and result.model == "fake-embedder"
    assert [r.index for r in result.results] == [0, 1]
    assert len(result.scores) == 3 and result.scores[0] == pytest.approx(1.0, abs=1e-3)
    assert result.results[0].score >= result.results[1].score > result.scores[2]
    out = result.to_dict()
    assert out["results"][0] == {
        "index": 0,
        "relevance_score": round(result.scores[0], 6),
        "document": {"text": "red apples"},
    }


@pytest.mark.integration
def test_embedded_minilm_puts_the_relevant_passage_first():
    result = rerank("How do plants make energy from sunlight?", PASSAGES)
    assert result.kind == "bi-encoder" and result.model == "minilm-l6"
    assert result.results[0].index == 2
    assert result.results[0].score > result.results[1].score + 0.2


# ------------------------------------------------------------------ cross-encoder
def test_local_cross_encoder_ranks_with_scores_in_0_1(tiny_cross_encoder):
    from pretrained.models import load_reranker

    ranker = load_reranker(str(tiny_cross_encoder))
    assert ranker.kind == "cross-encoder"
    result = rerank("a query", ["one passage", "another passage " * 40], backend=ranker)
    assert result.kind == "cross-encoder"
    assert all(0.0 <= s <= 1.0 for s in result.scores)
    assert result.truncated == [1]  # 40 × 2 words is over the model's 64 positions
    assert sorted(r.index for r in result.results) == [0, 1]


def test_a_classifier_with_three_labels_is_not_a_cross_encoder(tiny_bert_dirs):
    from pretrained.models import load_reranker

    with pytest.raises(UnsupportedModelError, match="1 or 2"):
        load_reranker(str(tiny_bert_dirs["nli"]))


def test_a_model_without_a_classification_head_is_refused_with_a_rerank_hint(tiny_bert_dirs):
    from pretrained.models import load_reranker

    with pytest.raises(UnsupportedModelError) as info:
        load_reranker(str(tiny_bert_dirs["mlm"]))
    assert "cross-encoder" in info.value.hint


def test_registry_cross_encoder_loads_through_the_hub_client(
    fake_hub, tiny_cross_encoder, tmp_path, monkeypatch
):
    import huggingface_hub.constants

    from pretrained.models import load_reranker, unload_all
    from pretrained.tasks import rerank as task

    # a cache of this test's own: the tiny model must not become every later test's default
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    fake_hub.add_folder("cross-encoder/ms-marco-MiniLM-L-6-v2", tiny_cross_encoder)
    assert not task.cross_encoder_cached()
    assert task.choose_model(None) == "minilm-l6"
    unload_all()
    ranker = load_reranker("ms-marco-minilm-l6")
    assert ranker.kind == "cross-encoder" and ranker.model_id == "ms-marco-minilm-l6"
    assert any("model.safetensors" in path for _, path in fake_hub.requests)
    # downloaded once, it is what rerank takes by default
    assert task.cross_encoder_cached()
    assert task.choose_model(None) == "ms-marco-minilm-l6"
    unload_all()


# ------------------------------------------------------------------ ask's retrieval
class Recording:
    """A ranker that records its calls and scores passages naming potassium 1, others 0."""

    kind, engine, model_id, max_tokens = "cross-encoder", "test", "recording", 512

    def __init__(self):
        self.calls = []

    def score(self, query, passages):
        self.calls.append((query, list(passages)))
        return [1.0 if "potassium" in p else 0.0 for p in passages], [3] * len(passages)


def test_retrieval_scores_sentences_through_the_given_ranker():
    from pretrained.sources import from_text
    from pretrained.tasks.retrieval import Corpus, search

    embedder = FakeEmbedder()
    corpus = Corpus([from_text("\n\n".join(PASSAGES))], embedder, chunk_tokens=16)
    ranker = Recording()
    question = "What is rich in potassium?"
    passages, sentences = search(question, corpus, None, embedder, 2, ranker=ranker)
    assert ranker.calls and ranker.calls[0][0] == question
    assert "potassium" in sentences[0].text and "potassium" in passages[0].text


def test_ask_takes_a_reranker_and_a_bad_one_fails_first(cli, tmp_path):
    from pretrained.models.backends.scripted import ScriptedTextBackend
    from pretrained.sources import from_text
    from pretrained.tasks.ask import ask

    ranker = Recording()
    ask(
        "What is rich in potassium?",
        [from_text("\n\n".join(PASSAGES))],
        backend=ScriptedTextBackend("Bananas are rich in potassium [1]."),
        embedder=FakeEmbedder(),
        reranker=ranker,
    )
    assert ranker.calls
    context = tmp_path / "notes.txt"
    context.write_text("\n\n".join(PASSAGES))
    result = cli("ask", "q?", "--context", context, "--reranker", str(tmp_path / "missing"))
    assert_one_line_error(result, 1, "no model")


# ------------------------------------------------------------------ CLI
@pytest.mark.integration
def test_cli_ranks_a_file_and_says_which_kind_ranked(cli, tmp_path):
    path = tmp_path / "passages.txt"
    path.write_text("\n".join(PASSAGES) + "\n")
    result = cli("rerank", "How do plants make energy from sunlight?", "--file", path, "-n", "2")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and "Photosynthesis" in lines[0]
    assert "bi-encoder" in result.stderr and "split by line" in result.stderr
    data = cli("rerank", "sunlight", "--file", path, "--json").json()
    assert data["kind"] == "bi-encoder" and len(data["results"]) == 5 and data["split"] == "line"


def test_cli_bad_inputs_are_one_line_errors(cli, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\n")
    assert_one_line_error(cli("rerank", "q", "--file", tmp_path / "missing.txt"), 1, "not found")
    assert_one_line_error(cli("rerank", "q", "--file", empty), 1, "no text")
    assert_one_line_error(cli("rerank", "q", "--file", blank), 1)
    ok = tmp_path / "ok.txt"
    ok.write_text("a\nb\n")
    assert_one_line_error(cli("rerank", "q", "--file", ok, "--top-n", "0"), 2, "top_n")
    assert_one_line_error(cli("rerank", "q", "--file", ok, "--split", "para"), 2, "--split")
    assert_one_line_error(cli("rerank", " ", "--file", ok), 1, "query")
    many = tmp_path / "many.txt"
    many.write_text("\n".join(f"passage {i}" for i in range(1001)))
    assert_one_line_error(cli("rerank", "q", "--file", many), 2, "limit")
