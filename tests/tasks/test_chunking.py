import pytest

from pretrained.tasks.chunking import Span, pack, split_long, split_sentences


def test_sentences_with_abbreviations_initials_and_quotes():
    text = (
        'Mr. Smith met Dr. J. K. Rowling at 3 p.m. on Jan. 5 in the U.S. capital! "Was it fun?" '
        "he asked. Prices rose 3.5% in 2020.\n\nA new paragraph. It has two sentences."
    )
    spans = split_sentences(text)
    assert [s.text for s in spans] == [
        "Mr. Smith met Dr. J. K. Rowling at 3 p.m. on Jan. 5 in the U.S. capital!",
        '"Was it fun?" he asked.',
        "Prices rose 3.5% in 2020.",
        "A new paragraph.",
        "It has two sentences.",
    ]
    assert [s.paragraph for s in spans] == [0, 0, 0, 1, 1]
    for s in spans:  # offsets point back into the text
        assert text[s.start : s.end] == s.text


def test_wrapped_lines_join_and_lists_split():
    text = "This sentence is wrapped\nover two lines.\n\n- first item\n- second item\n- third item"
    spans = split_sentences(text)
    assert spans[0].text == "This sentence is wrapped over two lines."
    assert [s.text for s in spans[1:]] == ["- first item", "- second item", "- third item"]


def test_split_long_cuts_a_run_on_unit():
    span = Span(" ".join(f"w{i}" for i in range(25)), 100, 100 + 25 * 4 - 1)
    pieces = split_long(span, 10)
    assert [p.words for p in pieces] == [10, 10, 5]
    assert " ".join(p.text for p in pieces) == span.text
    assert pieces[0].start == 100 and pieces[-1].end <= span.end


def _count(texts):
    return [len(t.split()) for t in texts]


def test_pack_respects_the_budget_and_drops_nothing():
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(40))
    spans = split_sentences(text)
    chunks = pack(spans, _count, 30)
    assert all(c.tokens <= 30 for c in chunks)
    assert " ".join(c.text for c in chunks) == " ".join(s.text for s in spans)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)


def test_pack_cuts_units_longer_than_the_budget():
    spans = [Span("word " * 100, 0, 500), Span("short one.", 501, 511)]
    chunks = pack(spans, _count, 16)
    assert all(c.tokens <= 16 for c in chunks)
    assert sum(len(c.text.split()) for c in chunks) == 102


def test_pack_overlap_repeats_the_last_unit():
    spans = split_sentences(" ".join(f"S{i} one two three." for i in range(6)))
    chunks = pack(spans, _count, 8, overlap=1)
    assert chunks[1].text.startswith(chunks[0].text.split(". ")[-1].rstrip("."))


def test_pack_rejects_a_tiny_budget():
    with pytest.raises(ValueError):
        pack([Span("a b c", 0, 5)], _count, 2)
