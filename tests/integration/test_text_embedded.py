"""The text capability on the real embedded models (MiniLM, SmolLM2), offline."""

import re
from importlib.resources import files

import pytest

from pretrained.tasks.summarize import SummarizeOptions, summarize
from tests.helpers import assert_one_line_error
from tests.textkit import ARTICLE_HTML, make_pdf

pytestmark = pytest.mark.integration

KEYWORDS = ["glockenspiel", "narwhal", "saffron", "axolotl", "zeppelin", "obsidian", "tardigrade",
            "theremin", "fjord", "origami", "sextant", "kombucha", "bonsai", "monsoon", "papyrus",
            "lichen", "trebuchet", "sundial", "quinoa", "abacus"]  # fmt: skip


def almanac() -> str:
    return (files("pretrained") / "data" / "almanac.md").read_text()


def test_long_document_summary_covers_what_truncation_misses():
    """20 unrelated short texts with a distinctive keyword each: a 200-word summary covers
    ≥ 16 keywords, where the first 1,024 tokens of the same document cover at most 4."""
    from pretrained.models import load_embedder

    texts = [s.strip() for s in re.split(r"^## .*$", almanac(), flags=re.M)[1:]]
    assert len(texts) == 20
    for keyword, text in zip(KEYWORDS, texts, strict=True):  # each keyword belongs to one text
        assert keyword in text.lower()
        assert sum(keyword in t.lower() for t in texts) == 1
    document = "\n\n".join(texts)

    spans = load_embedder().token_offsets(document)
    first = document[: spans[1023][1]]  # the first 1,024 tokens
    truncated = [k for k in KEYWORDS if k in first.lower()]
    assert len(truncated) <= 4, truncated

    result = summarize(document, SummarizeOptions(mode="extractive", words=200))
    covered = [k for k in KEYWORDS if k in result.summary.lower()]
    assert result.output_words <= 200
    assert len(covered) >= 16, (covered, result.summary)


def test_classify_i_love_it_is_positive(cli):
    result = cli("classify", "I love it", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["label"] == "positive" and data["model"] == "minilm-l6"
    assert data["method"] == "zero-shot-embedding" and "labels by minilm-l6" in result.stderr
    negative = cli("classify", "This is awful, it broke after one day.", "--json").json()
    assert negative["label"] == "negative"


def test_sentiment_on_plain_english_held_out_sentences():
    """Issue 13: ≥ 38 of the 40 held-out sentences (benchmarks/data/sentiment_heldout.jsonl,
    written for this and never tuned on) with the offline default."""
    import json
    from pathlib import Path

    from pretrained.tasks.classify import classify

    path = Path(__file__).parents[2] / "benchmarks" / "data" / "sentiment_heldout.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    result = classify([r["text"] for r in rows])
    right = sum(i.label == r["label"] for i, r in zip(result.items, rows, strict=True))
    assert len(rows) == 40 and right >= 38, right
    assert not result.warnings  # English throughout: no language warning


def test_classify_warns_about_a_language_minilm_does_not_read(cli):
    result = cli("classify", "Le service était nul, je suis très déçu 😡", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert "'fr'" in data["warnings"][0] and "reads en only" in data["warnings"][0]
    assert "warning: the text looks like language 'fr'" in result.stderr


def test_summarize_txt_md_html_pdf_files(cli, tmp_path):
    body = (
        "The city council approved a new cycling plan on Tuesday. The plan adds forty kilometres "
        "of protected bike lanes over three years. Officials expect cycling trips to double. "
        "Shop owners worried about parking, but a survey found most customers arrive on foot. "
        "Construction of the first lanes starts in March near the central station."
    )
    (tmp_path / "news.txt").write_text(body)
    (tmp_path / "news.md").write_text("# Cycling plan\n\n" + body)
    (tmp_path / "page.html").write_text(ARTICLE_HTML)
    (tmp_path / "news.pdf").write_bytes(make_pdf(re.findall(r"[^.]+\.", body), "Cycling plan"))
    for name in ("news.txt", "news.md", "page.html", "news.pdf"):
        result = cli("summarize", str(tmp_path / name), "--sentences", "2", "--json")
        assert result.exit_code == 0, (name, result.stderr)
        data = result.json()
        assert data["mode"] == "extractive" and data["model"] == "minilm-l6"
        assert len(data["sentences"]) == 2 and data["summary"], name
    assert "coconut crab" in cli("summarize", str(tmp_path / "page.html")).stdout.lower()


def test_bundled_document_both_modes(cli, tmp_path):
    path = files("pretrained") / "data" / "almanac.md"
    extractive = cli("summarize", str(path), "--words", "120", "--json").json()
    assert extractive["mode"] == "extractive" and extractive["output_words"] <= 120
    # abstractive on three essays, with small chunks so map-reduce runs in reasonable CPU time
    excerpt = tmp_path / "excerpt.md"
    excerpt.write_text("\n\n".join(almanac().split("\n## ")[1:4]))
    abstractive = cli(
        "summarize", str(excerpt), "--mode", "abstractive", "--words", "40",
        "--chunk-tokens", "300", "--json",
    ).json()  # fmt: skip
    assert abstractive["mode"] == "abstractive" and abstractive["model"] == "smollm2-135m-instruct"
    assert abstractive["chunks"] > 1 and abstractive["levels"][0]["stage"] == "map"
    assert all(t <= 300 for t in abstractive["levels"][0]["tokens"])
    assert abstractive["levels"][-1]["stage"] == "final"
    assert len(abstractive["summary"].split()) > 5


def test_ask_with_a_context_file_cites_it(cli, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text(
        "Our office moved in 2024.\n"
        "The new office of Acme Corp is in Lisbon, Portugal, near the river.\n"
        "The team has twelve people and a dog called Biscuit.\n"
    )
    result = cli("ask", "Where is the new office of Acme Corp?", "--context", str(notes), "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["found"] and data["citations"]
    assert data["citations"][0]["source"].endswith("notes.txt")
    assert re.search(r"\[\d\]", data["answer"])
    missing = cli(
        "ask", "What is the boiling point of tungsten?", "--context", str(notes), "--json"
    ).json()
    assert not missing["found"] and "not found in the context" in missing["answer"]


def test_the_demo_question_is_answered_right_on_this_cpu(cli):
    """`make demo` asks this of the almanac; the sentence that answers it also names India,
    Greece and Spain, which word overlap supports as well. Whatever the embedded model writes on
    this machine's engine, what is shown holds Iran: its own right answer or the quoted sentence."""
    path = files("pretrained") / "data" / "almanac.md"
    question = "Which country grows most of the world's saffron?"
    data = cli("ask", question, "--context", str(path), "--json").json()
    assert data["found"] and "Iran" in data["answer"], data
    if not data["quoted"]:
        assert not re.search(r"India|Greece|Spain", data["answer"]), data


def test_unknown_wiki_page_offline_is_a_network_error(cli, monkeypatch):
    monkeypatch.setenv("PRETRAINED_WIKI_API", "http://127.0.0.1:9/{lang}/w/api.php")
    assert_one_line_error(cli("summarize", "wiki:Anything"), 1, "could not fetch")
