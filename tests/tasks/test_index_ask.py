"""The local index (content-hash skipping, search) and ask (citations, "not found", the
OpenAI-compatible backend against a local fake server through the real `openai` SDK)."""

import pytest

from pretrained.errors import (
    AuthError,
    InputNotFoundError,
    InvalidOptionError,
    ModelNotFoundError,
    UsageError,
)
from pretrained.models.backends.remote import OpenAIChatBackend
from pretrained.models.backends.scripted import ScriptedTextBackend
from pretrained.tasks.ask import NOT_FOUND, AskOptions, ask
from pretrained.tasks.generate import GenerateOptions, generate, stream
from pretrained.tasks.index import VectorIndex, add_to_index, index_path, search_index
from tests.textkit import HashingEmbedder, TextServer, TextSite

FRANCE = (
    "France is a country in Western Europe.\n"
    "The capital of France is Paris, a city on the Seine river.\n"
    "France is famous for its cheese and its wine."
)
CRABS = "The coconut crab is the largest land arthropod. Coconut crabs climb palm trees."


@pytest.fixture
def notes(tmp_path):
    (tmp_path / "france.txt").write_text(FRANCE)
    (tmp_path / "crabs.txt").write_text(CRABS)
    return tmp_path


# ---------------------------------------------------------------- index
def test_index_add_skip_update_and_search(notes, isolated_home):
    engine = HashingEmbedder()
    sources = [str(notes / "france.txt"), str(notes / "crabs.txt")]
    first = add_to_index(sources, "notes", embedder=engine)
    assert len(first.added) == 2 and first.chunks >= 2 and first.total_documents == 2
    assert index_path("notes").parent == isolated_home / "indexes"
    again = add_to_index(sources, "notes", embedder=engine)
    assert len(again.skipped) == 2 and again.chunks == 0  # unchanged: content hash matches
    (notes / "crabs.txt").write_text(CRABS + " They can live for sixty years.")
    changed = add_to_index(sources, "notes", embedder=engine)
    assert changed.updated == [str((notes / "crabs.txt").resolve())] and len(changed.skipped) == 1
    assert changed.total_documents == 2
    hits = search_index("coconut crab palm trees", "notes", k=2, embedder=engine).hits
    assert hits[0].source.endswith("crabs.txt") and hits[0].score > hits[1].score
    assert hits[0].line == 1 and hits[0].text.startswith("The coconut crab")


def test_index_errors(notes):
    engine = HashingEmbedder()
    with pytest.raises(InputNotFoundError, match="no index named 'ghost'"):
        search_index("x", "ghost", embedder=engine)
    with pytest.raises(InvalidOptionError):
        index_path("../escape")
    add_to_index([str(notes / "france.txt")], "one", embedder=engine)
    other = HashingEmbedder()
    other.model_id = "another-model"
    with pytest.raises(UsageError, match="built with hashing-bow"):
        add_to_index([str(notes / "crabs.txt")], "one", embedder=other)
    with VectorIndex("one") as index:
        assert index.count() == (1, 1)


# ---------------------------------------------------------------- ask (local, scripted)
def _citing(prompt, params):
    """Cites the passage that holds "Paris", as a good reader would."""
    import re

    for n, body in re.findall(r"\[(\d+)\] \(([^\[]*)", prompt):
        if "Paris" in body:
            return f"The capital of France is Paris [{n}]."
    return NOT_FOUND


def test_ask_answers_with_numbered_citations(notes):
    backend = ScriptedTextBackend(_citing, context_length=4096)
    result = ask(
        "What is the capital of France?",
        [str(notes / "france.txt"), str(notes / "crabs.txt")],
        backend=backend,
        embedder=HashingEmbedder(),
        options=AskOptions(chunk_tokens=16, min_score=0.1),
    )
    assert result.found and result.answer.startswith("The capital of France is Paris [")
    assert not result.quoted and result.support == 1.0
    assert [c.number for c in result.citations] == [int(result.answer[-3])]
    cited = result.citations[0].passage
    assert "Paris" in FRANCE[cited.start : cited.end] or cited.source.endswith("france.txt")
    assert "line" in result.citations[0].label() and not result.citations_inferred
    prompt = backend.prompts[-1]
    assert "[1]" in prompt and "Question: What is the capital of France?" in prompt


def test_ask_says_not_found_when_nothing_is_relevant(notes):
    backend = ScriptedTextBackend("invented answer", context_length=4096)
    result = ask(
        "How do quantum computers factor integers?",
        [str(notes / "crabs.txt")],
        backend=backend,
        embedder=HashingEmbedder(),
        options=AskOptions(min_score=0.3),
    )
    assert not result.found and NOT_FOUND in result.answer
    assert backend.prompts == []  # the model was not even asked: nothing to invent from


def test_ask_infers_citations_when_the_model_gives_none(notes):
    backend = ScriptedTextBackend("The coconut crab climbs palm trees.", context_length=4096)
    result = ask(
        "What do coconut crabs climb?",
        [str(notes / "crabs.txt")],
        backend=backend,
        embedder=HashingEmbedder(),
        options=AskOptions(min_score=0.1),
    )
    assert result.citations_inferred and result.citations and result.answer.endswith("[1]")


def test_ask_without_context_answers_directly():
    backend = ScriptedTextBackend("Paris.", context_length=4096)
    result = ask("What is the capital of France?", backend=backend)
    assert result.answer == "Paris." and result.citations == [] and result.found


def test_ask_keeps_only_passages_that_fit_the_context(notes):
    long = "\n".join(
        f"Line {i}: Paris is the capital of France and a large city." for i in range(60)
    )
    (notes / "long.txt").write_text(long)
    backend = ScriptedTextBackend(_citing, context_length=400)
    result = ask(
        "capital of France Paris",
        [str(notes / "long.txt")],
        backend=backend,
        embedder=HashingEmbedder(),
        options=AskOptions(k=8, chunk_tokens=60, min_score=0.1, max_new_tokens=50),
    )
    assert result.dropped > 0 and result.found


def test_ask_option_errors():
    for bad in ({"k": 0}, {"min_score": 2}, {"max_new_tokens": 0}, {"chunk_tokens": 4}):
        with pytest.raises(InvalidOptionError):
            AskOptions(**bad).validate()
    with pytest.raises(Exception, match="empty"):
        ask("  ", backend=ScriptedTextBackend())


# ---------------------------------------------------------------- OpenAI-compatible backend
@pytest.fixture
def openai_server(monkeypatch):
    site = TextSite(openai_key="sk-test-123")
    site.openai_reply = lambda messages: (
        "Paris is the capital [1]." if "Paris" in messages[-1]["content"] else "Hello there friend."
    )
    with TextServer(site) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
        yield server


def test_openai_backend_generates_and_streams_through_the_sdk(openai_server):
    backend = OpenAIChatBackend("test-model")
    result = generate("Say hello", options=GenerateOptions(temperature=0), backend=backend)
    assert result.text == "Hello there friend." and result.engine == "openai"
    request = openai_server.site.openai_requests[-1]
    assert request["body"]["model"] == "test-model"
    assert request["body"]["messages"] == [{"role": "user", "content": "Say hello"}]
    assert request["auth"] == "Bearer sk-test-123"
    handle = stream("Say hello", options=GenerateOptions(temperature=0), backend=backend)
    assert "".join(handle) == "Hello there friend." and handle.result.text == "Hello there friend."


def test_ask_with_the_openai_backend(openai_server, notes):
    result = ask(
        "What is the capital of France?",
        [str(notes / "france.txt")],
        backend=OpenAIChatBackend("test-model"),
        embedder=HashingEmbedder(),
        options=AskOptions(min_score=0.1),
    )
    assert result.found and result.citations[0].number == 1 and result.engine == "openai"
    messages = openai_server.site.openai_requests[-1]["body"]["messages"]
    assert messages[0]["role"] == "system" and "[1]" in messages[1]["content"]


def test_openai_backend_errors(openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with pytest.raises(AuthError, match="refused the API key") as info:
        generate("hi", backend=OpenAIChatBackend("test-model"))
    assert "sk-wrong" not in str(info.value) + info.value.hint
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    with pytest.raises(ModelNotFoundError):
        generate("hi", backend=OpenAIChatBackend("missing-model"))
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        OpenAIChatBackend("m")
