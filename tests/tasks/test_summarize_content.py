"""Summaries that inform (issue 13): content-bearing sentences over fillers and fragments, the
whole document's topics covered, chapters with extractive headlines for long unbroken text."""

import re

from pretrained.tasks.summarize import SummarizeOptions, summarize
from pretrained.tasks.summarize.cleaning import candidates
from pretrained.tasks.summarize.content import headline, informativeness
from tests.textkit import HashingEmbedder

FILLERS = ["So let's try it out.", "Okay, so, yeah, that's a good example.", "Right, anyway.",
           "I think you know what I mean.", "Let me show you.", "So that's the idea, really."]  # fmt: skip
TOPICS = {
    "volcano": ["The volcano Etna erupted at dawn and lava reached the coast road near Catania.",
                "Ash from the volcano closed Catania airport for 36 hours.",
                "Geologists measured sulphur dioxide from the volcano at 9,000 tonnes a day."],
    "violin": ["The violin was built in Cremona in 1716 by Antonio Stradivari.",
               "Its maker used spruce for the violin top and maple for the back.",
               "Collectors paid 15 million dollars for the violin at auction."],
    "glacier": ["The Rhone glacier retreated 1.2 kilometres in ten years.",
                "Meltwater from the glacier fills a lake that did not exist in 1990.",
                "Scientists drill the glacier for ice cores 800 metres deep."],
    "bakery": ["The bakery on Mill Street bakes 400 sourdough loaves before six each morning.",
               "Its baker feeds the sourdough starter with rye flour from a local mill.",
               "The bakery sells the day-old sourdough to a food bank at half price."],
}  # fmt: skip


def talk(rounds: int = 12) -> str:
    """A long talk: each topic in turn, its sentences among fillers, repeated with variations."""
    out = []
    for name, lines in TOPICS.items():
        for r in range(rounds):
            out.append(lines[r % 3].replace(".", f" in round {r}.") if r >= 3 else lines[r % 3])
            out.append(FILLERS[(r + len(name)) % len(FILLERS)])
    return " ".join(out)


def test_content_words_names_and_numbers_outweigh_fillers():
    texts = [*TOPICS["volcano"], *TOPICS["bakery"], *FILLERS] * 3
    info = informativeness(texts)
    score = dict(zip(texts, info, strict=True))
    assert min(score[t] for t in TOPICS["volcano"]) > max(score[f] for f in FILLERS)
    assert score["Right, anyway."] == 0  # nothing but fillers


def test_long_talk_summary_covers_every_topic_without_fillers():
    text = talk()
    result = summarize(
        text, SummarizeOptions(mode="extractive", words=120), embedder=HashingEmbedder()
    )
    picked = [s["text"] for s in result.sentences]
    assert not [p for p in picked if p in FILLERS], picked
    for name, lines in TOPICS.items():
        keys = {w for line in lines for w in re.findall(r"[a-z]{6,}", line.lower())}
        assert any(k in result.summary.lower() for k in keys), name
    assert result.output_words <= 120


def test_long_unbroken_text_gets_chapters_with_headlines_from_its_own_words():
    text = talk()
    result = summarize(
        text, SummarizeOptions(mode="extractive", words=120), embedder=HashingEmbedder()
    )
    assert len(result.chapters) >= 2
    words = set(re.findall(r"[\w'-]+", text.lower()))
    for chapter in result.chapters:
        terms = chapter["headline"].split(" · ")
        assert terms and all(t.lower() in words for t in terms)  # extractive, never invented
        assert chapter["sentences"] and chapter["start"] < chapter["end"]
    assert [s for c in result.chapters for s in c["sentences"]] == result.sentences
    md, plain = result.to_markdown(), result.to_text()
    assert f"## {result.chapters[0]['headline']}" in md
    assert plain.startswith(result.chapters[0]["headline"] + "\n")
    assert result.to_dict()["chapters"] == result.chapters


def test_headline_prefers_the_chapter_terms():
    document = [*TOPICS["volcano"], *TOPICS["violin"], *FILLERS]
    title = headline(TOPICS["violin"], document, terms=3)
    assert "violin" in title.lower() and "volcano" not in title.lower()


def test_unpunctuated_speech_is_cut_into_short_windows():
    text = re.sub(r"[^\w\s'-]", " ", talk(24)).lower()  # 2,000 words: 100 windows
    units = candidates(text)
    assert units and max(u.words for u in units) <= 20
    result = summarize(
        text, SummarizeOptions(mode="extractive", words=100), embedder=HashingEmbedder()
    )
    assert result.chapters and result.output_words <= 100


def test_a_short_article_keeps_its_lead_and_gets_no_chapters():
    text = " ".join(TOPICS["volcano"] + TOPICS["glacier"])
    result = summarize(
        text, SummarizeOptions(mode="extractive", sentences=2), embedder=HashingEmbedder()
    )
    assert result.chapters == [] and result.sentences[0]["index"] == 0


def test_a_transcript_chapter_is_titled_by_a_line_that_says_something():
    from pretrained.tasks.summarize.topics import chapter_title

    lines = ["So let's try it out.", *TOPICS["bakery"], "Okay, so, yeah, that's a good example."]
    document = [*lines, *TOPICS["violin"], *FILLERS]
    vectors = HashingEmbedder().encode(lines)
    assert chapter_title(lines, vectors, document) in TOPICS["bakery"]
