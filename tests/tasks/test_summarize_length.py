"""Abstractive `--words N`: whole sentences, within ±10 % of N (issue 13), on a scripted model."""

import pytest

from pretrained.models.backends.scripted import ScriptedTextBackend
from pretrained.tasks.summarize import SummarizeOptions, summarize
from pretrained.tasks.summarize.length import bounds, choose, complete, fit_words
from tests.textkit import HashingEmbedder

SOURCE = " ".join(
    f"Station {i} on the north ridge recorded {i * 3} millimetres of rain during the storm."
    for i in range(1, 40)
)  # 14 words a sentence


def sentences_of(numbers) -> str:
    return " ".join(
        f"Station {i} on the north ridge recorded {i * 3} millimetres of rain during the storm."
        for i in numbers
    )


def abstractive(reply: str, words: int):
    backend = ScriptedTextBackend(reply, context_length=4096)
    options = SummarizeOptions(mode="abstractive", words=words)
    return summarize(SOURCE, options, backend=backend, embedder=HashingEmbedder())


@pytest.mark.parametrize("words", [30, 60, 100])
def test_a_long_reply_is_cut_on_sentence_boundaries_within_ten_percent(words):
    result = abstractive(sentences_of(range(1, 20)), words)  # 19 sentences, 266 words
    low, high = bounds(words)
    assert low <= result.output_words <= high, (result.output_words, result.summary)
    assert result.summary.endswith("storm.") and not result.unsupported


def test_a_reply_cut_by_the_token_limit_loses_its_unfinished_sentence():
    reply = sentences_of(range(1, 200))  # far longer than the 1.7 × N + 24 tokens allowed
    result = abstractive(reply, 70)  # 1.7 × 70 + 24 = 143 tokens: 10 sentences and a piece
    assert 63 <= result.output_words <= 77 and result.summary.endswith("storm.")
    assert any("cut by its token limit" in w for w in result.warnings)
    assert not any("ends mid-sentence" in w for w in result.warnings)


def test_a_short_reply_is_completed_with_sentences_of_the_source():
    result = abstractive(sentences_of([5]), 60)  # the model wrote 14 words
    assert 54 <= result.output_words <= 66, result.summary
    assert result.summary.startswith(sentences_of([5]))
    assert any("sentence(s) of the source complete the summary" in w for w in result.warnings)
    for sentence in result.summary.split(". "):  # everything is the source's own words
        assert sentence.rstrip(".") in SOURCE


def test_choose_and_complete():
    assert bounds(60) == (54, 66) and bounds(100) == (90, 110)
    assert choose([20, 20, 20], 54, 66) == [0, 1, 2]
    assert choose([50, 30, 30], 54, 66) == [1, 2]  # the greedy pick (50) falls short: knapsack
    assert choose([70], 54, 66) == []
    assert complete(["Done.", "Not done"]) == (["Done."], True)
    assert complete(["Done.", "“Quoted.”"]) == (["Done.", "“Quoted.”"], False)
    text, notes = fit_words("A" + " word" * 80 + ".", 30, lambda budget: [])
    assert text.startswith("A word") and "over --words 30" in notes[0]  # kept, and said so
