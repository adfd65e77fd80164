"""Grounded ask: structured chunks, hybrid retrieval, the support check that turns an
unsupported answer into a quote, ask --file, eval ask. Scripted models, hashing embedder."""

import json

import pytest

from pretrained.models.backends.scripted import ScriptedTextBackend
from pretrained.tasks.ask import Asker, AskOptions, ask
from pretrained.tasks.ask_eval import evaluate_ask
from pretrained.tasks.grounding import answers, content_words, support
from pretrained.tasks.index import sections, structured_chunks
from pretrained.tasks.retrieval import Corpus
from tests.helpers import assert_one_line_error
from tests.textkit import HashingEmbedder

SPICES = """# Spices

## Saffron

Saffron comes from the crocus flower. Each flower holds just three red threads.
Iran grows most of the world's saffron, followed by India and Spain.

## Narwhals

Narwhal tusks were sold in medieval Europe as unicorn horns. A tusk can grow long.

## Install

Run pip install spices to get the guide.
"""


@pytest.fixture
def spices(tmp_path):
    path = tmp_path / "spices.md"
    path.write_text(SPICES)
    return str(path)


def _ask(reply, question, source, **opts):
    backend = ScriptedTextBackend(reply, context_length=4096)
    options = AskOptions(min_score=0.05, chunk_tokens=40, **opts)
    return ask(question, [source], backend=backend, embedder=HashingEmbedder(), options=options)


def test_an_unsupported_answer_is_quoted_from_the_source(spices):
    """The demo's old failure: a fluent answer the cited passage does not say."""
    result = _ask(
        "The country that grows most saffron is narwhal tusks in Europe [1].",
        "Which country grows most saffron?",
        spices,
    )
    assert result.found and result.quoted
    assert result.answer.startswith("Quoted from the source:")
    assert "Iran grows most of the world's saffron" in result.answer
    assert "narwhal" not in result.answer.lower()
    assert result.generated.startswith("The country that grows most saffron is narwhal")
    assert result.support < 0.75 and "narwhal" in result.claims[0].missing
    cited = result.citations[0].passage
    assert "Iran" in cited.text and cited.heading == "Spices › Saffron"
    data = result.to_dict()
    assert data["quoted"] is True and data["claims"][0]["support"] == result.support


def test_a_supported_answer_is_kept_with_its_support_score(spices):
    result = _ask(
        "Iran grows most of the saffron [1].", "What is the largest source of saffron?", spices
    )
    assert not result.quoted and result.answer == "Iran grows most of the saffron [1]."
    assert result.support == 1.0 and result.to_dict()["quoted"] is False


def test_an_answer_without_what_the_question_asks_for_is_not_an_answer(spices):
    result = _ask(
        "Each crocus flower holds red threads [1].",
        "How many threads does each flower hold?",
        spices,
    )
    assert result.quoted and "three red threads" in result.answer


def test_no_quote_that_lacks_what_the_question_asks_for_refuses(spices):
    """A long talk's old failure: an unsupported answer, then a quote of a sentence that does not
    answer (no number for "how much"): that is a refusal, with the model's text kept."""
    result = _ask(
        "Saffron costs 10 dollars a gram [1].", "How much does the saffron crocus cost?", spices
    )
    assert not result.found and not result.quoted and not result.citations
    assert "not found in the context" in result.answer and "10 dollars" not in result.answer
    assert result.generated == "Saffron costs 10 dollars a gram [1]."


def test_a_word_found_in_the_passage_but_not_in_its_best_sentences_is_quoted_over(tmp_path):
    """Supported by the passage is not enough: "Gerald" is in it, but as the starter's name; the
    answer must agree with the sentences that rank best for the question, else they are quoted."""
    notes = tmp_path / "bakery.md"
    notes.write_text(
        "# Bakery\n\nOur sourdough starter is called Gerald and lives in the cold room. "
        "The flour comes from the mill by the river. The ovens run all night. "
        "Loaves cool on racks by the door. Deliveries go out by bike at dawn. "
        "Our shop manager is Samira Haddad, who runs the counter. The bread sells out by noon.\n"
    )

    def run(reply):
        backend = ScriptedTextBackend(reply, context_length=4096)
        options = AskOptions(min_score=0.05, chunk_tokens=200)
        return ask(
            "Who is the shop manager?",
            [str(notes)],
            backend=backend,
            embedder=HashingEmbedder(),
            options=options,
        )

    result = run("The shop manager is Gerald [1].")
    assert len(result.retrieved) == 1 and result.support == 1.0 and result.agreement < 0.75
    assert result.quoted and "Samira Haddad" in result.answer and "Gerald" not in result.answer
    assert result.to_dict()["agreement"] == result.agreement
    assert result.quote_reason.startswith("is not what the best-matching sentences say")
    kept = run("The shop manager is Samira Haddad [1].")
    assert not kept.quoted and kept.agreement == 1.0


def test_one_filled_in_word_must_come_from_a_sentence_that_answers(tmp_path):
    """ "… is Marguerite" restates the question and adds one word, which the best sentences
    hold, but as the boat's name: no sentence that answers the question holds it."""
    notes = tmp_path / "boat.md"
    notes.write_text(
        "# Boat\n\nOur old boat is called Marguerite. "
        "The new sails were made by Aline, a sailmaker in a fishing town.\n"
    )
    backend = ScriptedTextBackend("The new sails were made by Marguerite [1].", context_length=4096)
    options = AskOptions(min_score=0.05, chunk_tokens=200)
    result = ask(
        "Who made the new sails?",
        [str(notes)],
        backend=backend,
        embedder=HashingEmbedder(),
        options=options,
    )
    assert result.support == 1.0 and result.agreement == 1.0
    assert result.quoted and "Aline" in result.answer
    assert result.quote_reason.startswith("fills in a word")


def test_a_supported_name_with_a_nearer_rival_is_quoted(spices):
    """The demo's failure after a ranking change: "India" is in the saffron sentence, so overlap
    supports it, but the sentence says Iran; the sentence is quoted instead."""
    result = _ask("India grows most saffron [1].", "Which country grows most saffron?", spices)
    assert result.support == 1.0 and result.rivals
    assert result.quoted and "Iran grows most of the world's saffron" in result.answer
    assert result.to_dict()["rivals"] is True
    assert result.quote_reason.startswith("picked a name that the best-matching sentence")
    kept = _ask("Iran grows most saffron [1].", "Which country grows most saffron?", spices)
    assert not kept.quoted and not kept.rivals


def test_a_reason_ranks_the_explanation_but_does_not_gate_the_quote():
    question = "Why did they oil the woodwork instead of varnishing it?"
    assert answers(question, "We oiled the woodwork rather than varnishing, because wood breathes.")
    # an explanation without a connective may still be quoted
    assert answers(question, "We oiled the woodwork: oil lets the wood breathe.")


def test_answers_needs_the_asked_type_and_the_question_words():
    question = "How many paid staff does the bakery employ now?"
    assert answers(question, "The bakery now employs eight paid staff.")
    assert not answers(question, "Ah, the question is, how many paid staff do we have now?")
    assert not answers("What illness killed their mother?", "They were married in 1911.")
    # the restated question sets up the answer that follows it; quoted together, they answer
    assert answers(question, "Ah, the question is, how many paid staff do we have now? Eight.")
    assert not answers(question, "The question is how many paid staff we have? Good question.")
    # weighted by rarity: sharing only the words every passage of a bakery talk has is not enough
    staff = "The bakery now employs eight bakers."
    assert answers(question, staff)
    assert not answers(question, staff, weights={"bakery": 0.1, "now": 0.1, "paid": 3, "staff": 3})


def test_a_restated_question_and_its_answer_are_one_unit_to_quote():
    from pretrained.tasks.retrieval import answer_units

    units = answer_units(["So the question is, who built it?", "Jim did.", "Then rain."])
    assert [u for u, _ in units] == [
        "So the question is, who built it?",
        "So the question is, who built it? Jim did.",
        "Jim did.",
        "Jim did. Then rain.",
        "Then rain.",
    ]
    assert [end for _, end in units][1] == "Jim did."


def test_the_quote_is_the_answer_after_the_restated_question(tmp_path):
    """A talk where the question's words are only in the speaker's restatement of it: the
    quote holds the answer that follows, not the restatement alone."""
    from pretrained.sources import load_text
    from pretrained.tasks.retrieval import search

    talk = tmp_path / "talk.txt"
    talk.write_text(
        "We bake bread every night. The ovens run hot. "
        "Ah, the question is, how many paid staff do we have now? Eight, and five full-time. "
        "The flour comes from the mill.\n"
    )
    engine = HashingEmbedder()
    corpus = Corpus([load_text(str(talk))], engine, chunk_tokens=200)
    question = "How many paid staff does the bakery employ now?"
    _, sentences = search(question, corpus, None, engine, 1)
    assert sentences[0].text.endswith("Eight, and five full-time.")
    assert answers(question, sentences[0].text)


def test_a_sentence_repeated_by_overlapping_chunks_is_ranked_once(tmp_path):
    from pretrained.sources import load_text
    from pretrained.tasks.retrieval import search

    talk = tmp_path / "talk.txt"
    talk.write_text(" ".join(f"Loaf {i} cooled on the rack by the door." for i in range(60)))
    engine = HashingEmbedder()
    corpus = Corpus([load_text(str(talk))], engine, chunk_tokens=60)
    assert len(corpus) > 2
    _, sentences = search("Which loaf cooled by the door?", corpus, None, engine, 4)
    texts = [s.text for s in sentences]
    assert len(texts) == len(set(texts))


def test_an_answer_with_no_marker_is_checked_against_the_passage_that_supports_it(spices):
    result = _ask("Iran grows it.", "Which country grows most saffron?", spices)
    assert not result.quoted and result.citations_inferred and result.answer.endswith("]")


def test_still_refuses_when_the_model_says_not_found(spices):
    result = _ask("not found in the context", "What is the largest source of saffron?", spices)
    assert not result.found and not result.quoted


def test_list_markers_and_echoed_headers_are_not_claims(spices):
    """A small model numbers its answer and echoes the prompt's passage header: "1." and
    "(spices, line 5)" say nothing, so they neither fail the check nor reach the answer."""
    result = _ask(
        "1. (spices.md, line 5) The answer is: Iran grows most of the saffron [1].",
        "What is the largest source of saffron?",
        spices,
    )
    assert not result.quoted and result.answer == "Iran grows most of the saffron [1]."
    assert [c.text for c in result.claims] == ["Iran grows most of the saffron [1]."]


def test_an_answer_in_lines_is_checked_line_by_line_and_said_once(spices):
    result = _ask(
        "Iran grows most of the saffron [1].\nIran [1]\n2. Iran grows most of the saffron [1].",
        "What is the largest source of saffron?",
        spices,
    )
    assert result.answer == "Iran grows most of the saffron [1]." and len(result.claims) == 1


def test_only_the_first_item_of_a_list_answer_is_the_answer(spices):
    """A list is a small model guessing: the items after the first are dropped, not shown."""
    result = _ask(
        "1. Iran grows most of the saffron [1].\n2. Spain grows most of the saffron [1].",
        "What is the largest source of saffron?",
        spices,
    )
    assert result.answer == "Iran grows most of the saffron [1]."
    assert [c.dropped for c in result.claims] == [False, True]
    result = _ask("1.\n2. Iran grows most of the saffron [1].", "Who grows saffron?", spices)
    assert result.answer == "Iran grows most of the saffron [1]."


def test_a_bare_word_gives_way_to_the_quote(spices):
    """ "3" may be in a passage in any role: the sentence that says it is shown instead."""
    result = _ask("3 [1]", "How many threads does each crocus flower hold?", spices)
    assert result.quoted and "Each flower holds just three red threads" in result.answer
    assert "bare word" in result.quote_reason and result.generated == "3 [1]"


def test_the_unsupported_sentences_of_an_answer_are_dropped_and_listed(spices):
    result = _ask(
        "Iran grows most of the saffron [1]. It was first farmed by narwhal hunters [2].",
        "What is the largest source of saffron?",
        spices,
    )
    assert not result.quoted and result.answer == "Iran grows most of the saffron [1]."
    dropped = [c.to_dict() for c in result.claims if c.dropped]
    assert len(dropped) == 1 and "hunter" in dropped[0]["missing"]
    assert result.support == 1.0


def test_the_sentences_that_hold_must_still_answer_the_question(spices):
    """Keeping only the supported sentence works when it still holds what is asked: here the
    number is in the unsupported one, so the whole answer goes to the quote."""
    result = _ask(
        "Each crocus flower holds red threads [1]. It holds 12 of them [1].",
        "How many threads does each flower hold?",
        spices,
    )
    assert result.quoted and "three red threads" in result.answer
    assert not any(c.dropped for c in result.claims)


def test_support_matches_a_word_by_its_lemma():
    """ "came" repeats the question's "come", "paid" is the passage's "pay": no new word."""
    question = "Where did the speaker first come across the boat?"
    passage = "I saw her in a boatyard in Brittany. You pay one euro for a boat."
    assert support("The speaker came across it in Brittany", passage, question).score == 1.0
    assert support("They paid one euro", passage, "What did the boat cost?").score == 1.0
    assert support("They paid ten euros", passage, "What did the boat cost?").missing == ["10"]


def test_support_counts_only_words_the_question_did_not_bring():
    question = "How long is Hayne's contract?"
    passage = "Hayne has signed a three year contract with the 49ers."
    assert support("Hayne signed a three-year contract [1]", passage, question).score == 1.0
    assert support("Hayne's contract is long", passage, question).score == 0.0  # echoes only
    assert support("An 18 month contract", passage, question).missing == ["18", "month"]
    assert content_words("ten tons for $1,000") == ["10", "ton", "1000"]


# ---------------------------------------------------------------- structure and retrieval
def test_chunks_follow_markdown_headings():
    parts = sections(SPICES)
    assert [h for _, _, h in parts] == [
        "Spices",
        "Spices › Saffron",
        "Spices › Narwhals",
        "Spices › Install",
    ]
    chunks = structured_chunks(SPICES, HashingEmbedder(), max_tokens=200)
    assert [h for _, h in chunks] == ["Spices › Saffron", "Spices › Narwhals", "Spices › Install"]
    for chunk, _ in chunks:  # a chunk never crosses a heading, nor holds the heading line
        assert "#" not in chunk.text
        assert " ".join(SPICES[chunk.start : chunk.end].split()) == chunk.text


def test_a_transcript_is_cut_at_speaker_turns():
    """Unpunctuated speech: without turns it would be one unit cut into word windows."""
    talk = "ALICE: so we start with the budget and it grew\nBob Lee: then hiring we hired two\n"
    chunks = structured_chunks(talk, HashingEmbedder(), max_tokens=12, overlap=0)
    assert [c.text for c, _ in chunks] == [
        "ALICE: so we start with the budget and it grew",
        "Bob Lee: then hiring we hired two",
    ]


def test_the_heading_finds_the_section_and_bm25_the_rare_word(spices):
    from pretrained.sources import load_text
    from pretrained.tasks.retrieval import search

    engine = HashingEmbedder()
    corpus = Corpus([load_text(spices)], engine, chunk_tokens=40)
    passages, sentences = search("how do I install it?", corpus, None, engine, 1)
    assert passages[0].heading == "Spices › Install" and "pip install" in sentences[0].text
    bm = corpus.bm25("unicorn")
    assert max(range(len(bm)), key=bm.__getitem__) == 1 and sorted(bm)[-2] == 0


def test_many_questions_embed_the_documents_once(spices):
    engine = HashingEmbedder()
    asker = Asker(
        [spices],
        options=AskOptions(min_score=0.05, chunk_tokens=40),
        backend=ScriptedTextBackend("Iran grows most of it [1].", context_length=4096),
        embedder=engine,
    )
    documents_embedded = len(engine.calls)
    for question in ("Who grows saffron?", "What were narwhal tusks sold as?"):
        asker(question)
    # after the one corpus embedding: per question one query + one batch of candidate sentences
    assert documents_embedded == 1 and len(engine.calls) == 1 + 2 * 2


# ---------------------------------------------------------------- CLI: --file, --json, eval ask
@pytest.fixture
def scripted_models(monkeypatch):
    import pretrained.models
    import pretrained.tasks.embed

    backend = ScriptedTextBackend(
        lambda prompt, params: (
            "Iran grows most of the saffron [1]."
            if "saffron" in prompt.split("Question:")[-1]
            else "The largest source is narwhal tusks [1]."
        ),
        context_length=4096,
    )
    engine = HashingEmbedder()
    monkeypatch.setattr(pretrained.models, "load", lambda *a, **k: backend)
    monkeypatch.setattr(pretrained.tasks.embed, "get_embedder", lambda *a, **k: engine)
    return backend


def test_cli_ask_file_answers_each_question_as_a_json_line(cli, spices, tmp_path, scripted_models):
    questions = tmp_path / "q.txt"
    questions.write_text("Which country grows most saffron?\n\nWhat were sold as unicorn horns?\n")
    result = cli("ask", "--file", questions, "--context", spices, "--json", "--min-score", "0.05")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["quoted"] for r in rows] == [False, True]
    assert rows[0]["support"] == 1.0 and rows[1]["support"] < 0.75
    assert "unicorn horns" in rows[1]["answer"] and rows[1]["generated"]


def test_cli_ask_says_plainly_when_the_answer_is_quoted(cli, spices, scripted_models):
    result = cli("ask", "What were sold as unicorn horns?", "-c", spices, "--min-score", "0.05")
    assert result.exit_code == 0 and result.stdout.startswith("Quoted from the source:")
    assert "the answer is quoted from the source" in result.stderr
    assert "was not supported by the passage it cited (support 0." in result.stderr


@pytest.mark.parametrize(
    "args, contains",
    [
        (["ask"], "no question given"),
        (["ask", "Why?", "--file", "q.txt"], "not both"),
        (["ask", "--file", "missing.txt"], "no such questions file"),
        (["ask", "Why?", "--min-support", "2"], "--min-support"),
        (["eval", "ask", "data.jsonl"], "needs the documents"),
    ],
)
def test_cli_ask_bad_inputs(cli, args, contains, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(cli(*args), 2 if contains != "no such questions file" else 1, contains)


def test_eval_ask_reports_accuracy_refusals_and_retrieval_hits(
    cli, spices, tmp_path, scripted_models
):
    data = tmp_path / "qa.jsonl"
    rows = [
        {"question": "Which country grows most saffron?", "answer": ["Iran"]},
        {"question": "What were sold as unicorn horns?", "answer": ["narwhal"]},
        {"question": "Why is the sky blue?", "answer": "unanswerable"},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = cli("eval", "ask", data, "-c", spices, "--min-score", "0.2", "--json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["answerable"] == 2 and report["unanswerable"] == 1
    assert report["correct"] == 2 and report["quoted"] == 1  # the narwhal answer is quoted
    assert report["refusal_rate"] == 1.0 and report["retrieval_hit_rate"] == 1.0
    assert report["rows"][0]["agreement"] == 1.0  # "Iran" is in the best-ranked sentences
    text = cli("eval", "ask", data, "-c", spices, "--min-score", "0.2")
    assert "accuracy" in text.stdout and "retrieval hits" in text.stdout


def test_eval_ask_bad_rows(tmp_path):
    from pretrained.errors import InvalidOptionError

    data = tmp_path / "bad.jsonl"
    data.write_text('{"question": "Why?"}\n')
    with pytest.raises(InvalidOptionError, match="no accepted"):
        evaluate_ask(data, lambda q: None)


def test_cli_ask_says_which_sentences_it_left_out(cli, spices, scripted_models, monkeypatch):
    reply = "Iran grows most of the saffron [1]. It was first farmed by narwhal hunters [2]."
    monkeypatch.setattr(scripted_models, "reply", reply)
    result = cli("ask", "Which country grows most saffron?", "-c", spices, "--min-score", "0.05")
    assert result.exit_code == 0 and result.stdout.startswith("Iran grows most of the saffron [1].")
    assert "hunters" not in result.stdout
    assert "1 sentence(s) of the model's answer were left out" in result.stderr
