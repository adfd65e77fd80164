"""classify and embed: zero-shot by embeddings (bag-of-words embedder), fine-tuned and NLI heads
(tiny random BERTs loaded through models.load_classifier), batching, options and errors."""

import numpy as np
import pytest

from pretrained.errors import EmptyInputError, InvalidOptionError, UnsupportedModelError, UsageError
from pretrained.models.load_options import LoadOptions
from pretrained.tasks.classify import ClassifyOptions, classify, embed_whole, parse_labels
from pretrained.tasks.embed import EmbedOptions, embed
from tests.textkit import HashingEmbedder, classifier_dir


@pytest.fixture(scope="module")
def sentiment_dir(tmp_path_factory):
    return classifier_dir(tmp_path_factory.mktemp("clf") / "sst2", ["NEGATIVE", "POSITIVE"])


@pytest.fixture(scope="module")
def nli_dir(tmp_path_factory):
    return classifier_dir(
        tmp_path_factory.mktemp("nli") / "mnli", ["contradiction", "neutral", "entailment"]
    )


# ---------------------------------------------------------------- embed
def test_embed_batches_and_reports_tokens():
    engine = HashingEmbedder(max_tokens=6)
    result = embed(["red apple", "green apple pie", "one two three four five"], backend=engine)
    assert result.vectors.shape == (3, 512) and result.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1.0)
    assert result.token_counts == [4, 5, 7] and result.truncated == [2]
    assert engine.calls == [3]  # one encode call for the whole batch
    d = result.to_dict()
    assert d["dims"] == 512 and len(d["vectors"]) == 3 and d["usage"]["prompt_tokens"] == 16
    assert "vectors" not in result.to_dict(vectors=False)


def test_embed_errors():
    with pytest.raises(EmptyInputError):
        embed([], backend=HashingEmbedder())
    with pytest.raises(InvalidOptionError):
        embed([1, 2], backend=HashingEmbedder())
    with pytest.raises(InvalidOptionError):
        embed(["a"], options=EmbedOptions(batch_size=0), backend=HashingEmbedder())


def test_embed_whole_averages_windows_of_long_texts():
    engine = HashingEmbedder(max_tokens=6)
    long = "apple banana cherry date elderberry fig grape honeydew kiwi lemon"
    vectors, counts = embed_whole(engine, [long, "apple"])
    assert counts[0] > engine.max_tokens
    # the averaged vector sees the words from the end of the text too
    tail = engine.encode(["lemon kiwi"])[0]
    assert float(vectors[0] @ tail) > 0.1 and np.isclose(np.linalg.norm(vectors[0]), 1.0)


# ---------------------------------------------------------------- zero-shot by embeddings
def test_zero_shot_labels_by_embedding_similarity():
    engine = HashingEmbedder()
    texts = ["the football match ended with a late goal", "parliament voted on the budget law"]
    result = classify(
        texts,
        labels="sports=football match goal team,politics=parliament vote law budget",
        backend=engine,
    )
    assert [i.label for i in result.items] == ["sports", "politics"]
    assert result.method == "zero-shot-embedding" and result.labels == ["sports", "politics"]
    assert all(abs(sum(i.scores.values()) - 1) < 1e-6 for i in result.items)
    assert "zero-shot by embedding similarity" in result.describe()


def test_default_is_sentiment():
    result = classify("I love it, great and wonderful", backend=HashingEmbedder())
    assert result.labels == ["positive", "negative"] and result.label == "positive"
    assert result.to_dict()["label"] == "positive"


def test_sentiment_compares_with_example_sentences_cached_on_disk():
    from pretrained.tasks import classify as module

    examples = module.sentiment_examples()
    assert set(examples) == {"positive", "negative"}
    assert all(len(v) >= 100 and v[0].startswith("Sentiment: ") for v in examples.values())
    assert "example sentences" in classify("I love it", backend=HashingEmbedder()).describe()

    class Pinned(HashingEmbedder):
        revision = "abc123"

    module._label_cache.clear()
    first = Pinned()
    classify("I love it", backend=first)
    assert first.calls[0] == sum(len(v) for v in examples.values())  # embedded once …
    module._label_cache.clear()
    second = Pinned()
    classify("I love it", backend=second)
    assert second.calls == [1, 1]  # … then read from disk: one probe text, then the text

    class Changed(Pinned):  # same name and revision, other vectors: the file is not trusted
        def _vector(self, text):
            return super()._vector(text[::-1])

    module._label_cache.clear()
    changed = Changed()
    classify("I love it", backend=changed)
    assert changed.calls[:2] == [1, sum(len(v) for v in examples.values())]


def test_text_in_a_language_the_model_does_not_read_gets_a_warning():
    pytest.importorskip("py3langid")

    class English(HashingEmbedder):
        model_id = "minilm-l6"  # the registry says it reads English only

    texts = ["Das Essen war kalt und der Kellner war sehr unfreundlich.", "The food was cold."]
    result = classify(texts, backend=English())
    german, english = result.items
    assert "'de'" in german.warnings[0] and "minilm-l6 reads en only" in german.warnings[0]
    assert english.warnings == [] and english.to_dict()["warnings"] == []
    assert result.to_dict()["warnings"][0].startswith("1 of 2 texts have warnings")
    one = classify(texts[0], backend=English()).to_dict()
    assert one["warnings"] == one["results"][0]["warnings"] and len(one["warnings"]) == 1
    # a model whose languages are not known gets no warning, nor does a two-letter text
    assert classify(texts[0], backend=HashingEmbedder()).warnings == []
    assert classify("ok", backend=English()).warnings == []


def test_label_parsing_and_errors():
    assert parse_labels("a, b ,c") == ["a", "b", "c"]
    for bad in ("a", "a,,b", "a,a"):
        with pytest.raises(InvalidOptionError):
            parse_labels(bad)
    with pytest.raises(EmptyInputError):
        classify("   ", backend=HashingEmbedder())
    with pytest.raises(EmptyInputError):
        classify([], backend=HashingEmbedder())
    with pytest.raises(InvalidOptionError):
        ClassifyOptions(method="magic").validate()
    with pytest.raises(InvalidOptionError):
        ClassifyOptions(template="no placeholder").validate()


def test_batches_call_the_engine_once_per_batch():
    engine = HashingEmbedder()
    texts = [f"text number {i} is fine" for i in range(10)]
    progress = []
    classify(
        texts, backend=engine, options=ClassifyOptions(batch_size=4), on_progress=progress.append
    )
    assert progress == [4, 4, 2]
    # label vectors (one call) + one call per batch of texts
    assert engine.calls[-3:] == [4, 4, 2]


# ---------------------------------------------------------------- classifier heads
def test_sequence_classifier_uses_its_own_labels(sentiment_dir):
    from pretrained.models import load_classifier

    engine = load_classifier(str(sentiment_dir))
    assert engine.labels == ["NEGATIVE", "POSITIVE"] and not engine.is_nli
    long = "the quick brown fox " * 40  # longer than the 64 positions: cut and counted
    result = classify(["I love it", "I hate it", long], model=str(sentiment_dir))
    assert result.method == "sequence-classification" and result.labels == ["NEGATIVE", "POSITIVE"]
    assert {i.label for i in result.items} <= {"NEGATIVE", "POSITIVE"} and result.truncated == 1
    with pytest.raises(UsageError, match="fixed labels"):
        classify("text", labels="a,b", model=str(sentiment_dir))
    with pytest.raises(UsageError, match="not an NLI model"):
        classify("text", model=str(sentiment_dir), options=ClassifyOptions(method="nli"))
    # --engine names an embedding engine: a classification head has none to pick
    with pytest.raises(UsageError, match="picks the embedding engine"):
        classify("text", model=str(sentiment_dir), load_options=LoadOptions(engine="onnx"))
    auto = LoadOptions(engine="auto")
    assert classify("text", model=str(sentiment_dir), load_options=auto).engine == "transformers"


def test_nli_model_gives_zero_shot_labels(nli_dir):
    result = classify(
        ["a text about a thing", "another"], labels="sports,politics,tech", model=str(nli_dir)
    )
    assert result.method == "zero-shot-nli" and result.labels == ["sports", "politics", "tech"]
    assert all(abs(sum(i.scores.values()) - 1) < 1e-5 for i in result.items)
    multi = classify(
        "text",
        labels="sports,politics",
        model=str(nli_dir),
        options=ClassifyOptions(multi_label=True),
    )
    assert multi.multi_label and all(0 <= v <= 1 for v in multi.scores.values())
    default = classify("great stuff", model=str(nli_dir))  # no labels: sentiment via NLI
    assert default.labels == ["positive", "negative"]


def test_a_causal_lm_is_not_a_classifier(tiny_gpt2_dir):
    with pytest.raises(UnsupportedModelError, match="not a sequence-classification model"):
        classify("text", model=str(tiny_gpt2_dir))
