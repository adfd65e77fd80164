"""Summarize: extractive core (with a bag-of-words embedder), abstractive map-reduce (scripted
engine and a tiny random BART through models.load), options and errors."""

import re

import numpy as np
import pytest

from pretrained.errors import EmptyInputError, InvalidOptionError
from pretrained.models.backends.scripted import ScriptedTextBackend
from pretrained.tasks.summarize import (
    SummarizeOptions,
    candidates,
    choose_mode,
    clean_boilerplate,
    preselect,
    select_mmr,
    summarize,
    topic_segments,
)
from tests.textkit import HashingEmbedder, bart_dir

TOPICS = {
    "volcano": "The volcano erupted at dawn. Lava from the volcano reached the coast. "
    "Villagers watched the volcano glow all night. Ash from the volcano closed the airport.",
    "violin": "The violin was built in Cremona. Its violin maker used spruce and maple. "
    "A violin like this sounds warm and bright. Collectors paid millions for the violin.",
    "glacier": "The glacier retreated a kilometre in ten years. Meltwater from the glacier "
    "fills the lake. Scientists drill the glacier for ancient ice. The glacier feeds a river.",
}


def doc_of(topics: dict[str, str]) -> str:
    return "\n\n".join(topics.values())


def extractive(text, **kw):
    return summarize(text, SummarizeOptions(mode="extractive", **kw), embedder=HashingEmbedder())


# ---------------------------------------------------------------- extractive
def test_extractive_picks_sentences_in_document_order_with_offsets():
    text = doc_of(TOPICS)
    result = extractive(text, sentences=3)
    assert result.mode == "extractive" and result.model == "hashing-bow"
    assert len(result.sentences) == 3
    starts = [s["start"] for s in result.sentences]
    assert starts == sorted(starts)
    for s in result.sentences:
        assert " ".join(text[s["start"] : s["end"]].split()) == s["text"]
    # redundancy control: three different topics, not three volcano sentences
    topics = {next(k for k in TOPICS if k in s["text"].lower()) for s in result.sentences}
    assert topics == set(TOPICS)


def test_word_budget_is_respected():
    result = extractive(doc_of(TOPICS), words=25)
    assert 0 < result.output_words <= 25


def test_focus_steers_the_extract():
    plain = extractive(doc_of(TOPICS), sentences=1)
    focused = extractive(doc_of(TOPICS), sentences=1, focus="What happened to the glacier ice?")
    assert "glacier" in focused.summary.lower()
    assert plain.summary != focused.summary or "glacier" in plain.summary.lower()


def test_boilerplate_is_removed_but_offsets_survive():
    text = (
        "By . Daily Mail Reporter . PUBLISHED: . 10:41 EST, 2 March 2014 . | . UPDATED: . "
        "11:02 EST, 2 March 2014 . The council approved the new bridge on Monday. "
        "Click here to read more stories like this. Construction of the bridge starts in May."
    )
    cleaned = clean_boilerplate(text)
    assert len(cleaned) == len(text) and "PUBLISHED" not in cleaned
    units = [u.text for u in candidates(text)]
    assert units == [
        "The council approved the new bridge on Monday.",
        "Construction of the bridge starts in May.",
    ]
    assert text[candidates(text)[0].start :].startswith("The council")


def test_markdown_code_and_tables_are_not_sentences():
    text = (
        "# Guide\n\nInstall the tool with pip before anything else.\n\n```bash\n"
        "pip install thing. Then run it. And more.\n```\n\n| a | b |\n|---|---|\n\n"
        "Read the [manual](http://x.y/z) for details on every option."
    )
    units = [u.text for u in candidates(text)]
    assert units == [
        "Install the tool with pip before anything else.",
        "Read the manual for details on every option.",
    ]


def test_topic_segments_find_the_boundaries():
    rng = np.random.default_rng(0)
    blocks = []
    for _ in range(3):
        base = rng.normal(size=16)
        blocks.append(base + 0.1 * rng.normal(size=(6, 16)))
    vectors = np.concatenate(blocks)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert topic_segments(vectors, 3) == [(0, 6), (6, 12), (12, 18)]
    assert topic_segments(vectors[:4], 3) == [(0, 4)]


def test_select_mmr_budget_and_diversity():
    vectors = np.eye(4, dtype=np.float32)
    vectors[1] = vectors[0]  # 0 and 1 are duplicates
    chosen = select_mmr(
        vectors, [1.0, 0.99, 0.5, 0.1], [10, 10, 10, 10], max_sentences=2, diversity=0.5
    )
    assert chosen == [0, 2]
    assert select_mmr(vectors, [1, 1, 1, 1], [10, 10, 10, 10], max_words=25) != []
    assert len(select_mmr(vectors, [1, 1, 1, 1], [10, 10, 10, 10], max_words=25)) == 2
    # nothing fits: still one sentence, never an empty summary
    assert len(select_mmr(vectors, [1, 1, 1, 1], [50, 50, 50, 50], max_words=5)) == 1


def test_preselect_bounds_work_and_keeps_every_part():
    from pretrained.tasks.chunking import split_sentences

    text = " ".join(
        f"Sentence {i} talks about topic{i // 500} and more words here." for i in range(5000)
    )
    units = split_sentences(text)
    kept = preselect(units, limit=400)
    assert len(kept) <= 400 and kept == sorted(kept)
    assert kept[0] < 100 and kept[-1] > 4900


def test_long_document_keyword_coverage_with_bag_of_words():
    words = ["quokka", "zeppelin", "saffron", "obsidian", "tardigrade", "marimba", "fjord",
             "origami", "sextant", "kombucha", "narwhal", "bonsai", "glockenspiel", "monsoon",
             "papyrus", "lichen", "trebuchet", "sundial", "quinoa", "abacus"]  # fmt: skip
    fillers = ["people", "history", "often", "small", "known", "many", "place", "years"]
    texts = []
    for k, w in enumerate(words):
        sentences = [
            f"The {w} is {fillers[(k + i) % 8]} and {fillers[(k + 2 * i) % 8]} in its way number {i}."
            for i in range(12)
        ]
        texts.append(" ".join(sentences))
    result = extractive("\n\n".join(texts), words=200)
    covered = {w for w in words if w in result.summary}
    assert result.output_words <= 200
    assert len(covered) >= 16, covered


def test_length_options_and_errors():
    with pytest.raises(InvalidOptionError, match="only one of"):
        SummarizeOptions(sentences=2, words=50).validate()
    for bad in ({"ratio": 1.5}, {"sentences": 0}, {"words": 2}, {"mode": "magic"},
                {"chunk_tokens": 10}, {"max_depth": 0}, {"focus": "  "}):  # fmt: skip
        with pytest.raises(InvalidOptionError):
            SummarizeOptions(**bad).validate()
    with pytest.raises(EmptyInputError):
        extractive("   \n ")
    with pytest.raises(EmptyInputError):
        extractive("123 456 789")


def test_ratio_sets_the_length():
    text = doc_of(TOPICS) * 3
    short = extractive(text, ratio=0.1)
    longer = extractive(text, ratio=0.4)
    assert short.output_words < longer.output_words


def test_auto_mode():
    assert choose_mode(SummarizeOptions())[0] == "extractive"
    assert choose_mode(SummarizeOptions(model="some/model"))[0] == "abstractive"
    assert choose_mode(SummarizeOptions(mode="abstractive"))[0] == "abstractive"


# ---------------------------------------------------------------- abstractive (scripted)
def _shrinker(prompt, params):
    """Reply with the first eight words of the text after the instruction."""
    body = prompt.split("\n\n", 1)[-1]
    words = re.findall(r"[A-Za-z0-9]+", body)[:8]
    return " ".join(words) + "."


def _long_text(n=60):
    return " ".join(f"Fact {i} says the value of item {i} is {i * 7} units." for i in range(n))


def test_map_reduce_covers_every_sentence_and_reports_levels():
    backend = ScriptedTextBackend(_shrinker, context_length=400)
    text = _long_text(60)
    result = summarize(
        text,
        SummarizeOptions(mode="abstractive", chunk_tokens=120, words=40),
        backend=backend,
        embedder=HashingEmbedder(),
    )
    assert result.mode == "abstractive" and result.chunks > 1
    assert result.levels[0]["stage"] == "map" and result.levels[-1]["stage"] == "final"
    assert all(t <= 120 for level in result.levels for t in level["tokens"])
    map_prompts = backend.prompts[: result.chunks]
    for i in range(60):  # no silent truncation: every sentence went to some chunk
        assert any(f"Fact {i} says" in p for p in map_prompts), i
    assert result.summary and result.timings["model_calls"] == len(backend.prompts)


def test_reduce_depth_is_bounded_with_extractive_precompression():
    # partial summaries as long as their inputs: reduce never fits by itself
    backend = ScriptedTextBackend(lambda p, s: " ".join(["blah"] * 100), context_length=400)
    result = summarize(
        _long_text(80),
        SummarizeOptions(mode="abstractive", chunk_tokens=120, words=40, max_depth=2),
        backend=backend,
        embedder=HashingEmbedder(),
    )
    stages = [level["stage"] for level in result.levels]
    assert "extractive pre-compression" in stages and stages[-1] == "final"
    assert result.depth <= 3
    assert any("limit" in w for w in result.warnings)  # replies hit max_new_tokens: reported


def test_short_text_is_one_pass_and_sentences_are_trimmed():
    backend = ScriptedTextBackend("One. Two. Three. Four.", context_length=400)
    # (the source holds what the reply says: an unbacked reply would be dropped, see below)
    result = summarize(
        "One text: two, three, four.",
        SummarizeOptions(mode="abstractive", sentences=2),
        backend=backend,
    )
    assert result.levels == [{"level": 0, "stage": "single", "chunks": 1, "tokens": [5]}]
    assert result.summary == "One. Two."


def test_context_too_small_is_a_clear_error():
    backend = ScriptedTextBackend("x", context_length=60)
    with pytest.raises(InvalidOptionError, match="context"):
        summarize(_long_text(5), SummarizeOptions(mode="abstractive"), backend=backend)


def test_preamble_is_stripped():
    backend = ScriptedTextBackend("Here is a summary of the text: The point.", context_length=400)
    result = summarize(
        "Some text here makes the point.", SummarizeOptions(mode="abstractive"), backend=backend
    )
    assert result.summary == "The point."


def test_generated_sentences_the_source_does_not_back_are_dropped_and_listed():
    reply = "Fact 3 says the value of item 3 is 21 units. The moon is made of green cheese."
    backend = ScriptedTextBackend(reply, context_length=400)
    result = summarize(
        _long_text(5), SummarizeOptions(mode="abstractive"), backend=backend,
        embedder=HashingEmbedder(),
    )  # fmt: skip
    assert result.summary == "Fact 3 says the value of item 3 is 21 units."
    assert [u["text"] for u in result.unsupported] == ["The moon is made of green cheese."]
    assert result.unsupported[0]["support"] < 0.7 and "cheese" in result.unsupported[0]["missing"]
    assert any("dropped" in w for w in result.warnings)
    assert result.to_dict()["unsupported"] == result.unsupported


def test_a_summary_that_joins_two_unrelated_places_is_not_backed():
    """Every word is somewhere in the source, but no stretch of it says this."""
    text = (
        "The narwhal is a whale of the Arctic with a long tusk. It dives deep to hunt halibut. "
        "Narwhals breathe through cracks in the ice. "
        + "Filler sentences keep the two topics apart here. "
        * 6
        + "The axolotl can regrow lost body parts. It lives in lakes near Mexico City. "
        "Scientists study its regeneration."
    )
    backend = ScriptedTextBackend("The narwhal can regrow lost body parts.", context_length=400)
    result = summarize(
        text, SummarizeOptions(mode="abstractive"), backend=backend, embedder=HashingEmbedder()
    )
    assert [u["text"] for u in result.unsupported] == ["The narwhal can regrow lost body parts."]
    # nothing the model wrote is backed: an extractive summary, said so
    assert result.summary and "narwhal can regrow" not in result.summary
    assert all(s.strip() in text for s in result.summary.split(". ") if s.strip())
    assert any("extractive summary instead" in w for w in result.warnings)
    assert result.extractive_fallback and result.label().startswith("extractive summary (")
    assert result.to_dict()["extractive_fallback"] is True


# ---------------------------------------------------------------- abstractive (tiny BART)
@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory):
    return bart_dir(tmp_path_factory.mktemp("bart") / "tiny-bart", positions=128)


def test_seq2seq_model_loads_and_chunks_by_its_own_tokenizer(tiny_bart):
    from pretrained.models import load
    from pretrained.models.backends.seq2seq import Seq2SeqTextBackend

    backend = load(str(tiny_bart))
    assert isinstance(backend, Seq2SeqTextBackend) and backend.context_length == 128
    result = summarize(
        _long_text(40),
        SummarizeOptions(mode="abstractive", words=20, max_depth=2),
        backend=backend,
        embedder=HashingEmbedder(),
    )
    assert result.chunks > 1
    limit = backend.context_length
    for level in result.levels:  # what the model read always fit its encoder
        if level["stage"] == "extractive pre-compression":
            assert level["to_tokens"] <= limit
        else:
            assert all(t <= limit for t in level["tokens"]), level
    assert result.levels[0]["stage"] == "map"
    assert result.input_tokens == backend.count_tokens(_long_text(40), add_special_tokens=False)


def test_pieces_for_transcript_chapters():
    """What the transcribe task reuses: segments → vectors → chapters → key lines per chapter."""
    from pretrained.tasks.summarize import embed_units, extract

    texts = [s for t in TOPICS.values() for s in t.split(". ")]
    engine = HashingEmbedder()
    vectors = embed_units(texts, engine)
    chapters = topic_segments(vectors, 3, min_size=3)
    assert chapters == [(0, 4), (4, 8), (8, 12)]
    for (start, end), topic in zip(chapters, TOPICS, strict=True):
        picked, scores = extract(
            texts[start:end], max_sentences=1, vectors=vectors[start:end], embedder=engine
        )
        assert len(picked) == 1 and topic in texts[start + picked[0]].lower()
        assert len(scores) == end - start
