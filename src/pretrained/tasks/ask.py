"""Questions answered from your documents, with numbered citations — or "not found in the
context" when retrieval finds nothing relevant, instead of an invented answer.

1. Retrieve (`retrieval.py`): the sources are cut along their structure (headings,
   paragraphs, speaker turns), searched two ways — BM25 over words and cosine over embeddings —
   fused by rank, and the candidates reranked by their best sentence. If no passage reaches
   `min_score` (cosine), the answer is "not found in the context" and no model is asked.
2. Answer: a chat model (the embedded SmolLM2 by default, or any OpenAI-compatible endpoint)
   gets the numbered passages and is asked to cite them as [n]. Passages that do not fit the
   model's context are left out and reported.
3. Check (`grounding.py`): each answer sentence is scored against the passage it cites (or,
   without a marker, the passage that supports it best): the share of its new content words
   and numbers — those not already in the question — that the passage contains (matched by
   lemma). List markers and echoed passage headers are not claims; sentences below
   `min_support` are dropped when the rest still hold what the question asks for. An answer
   that does not hold (unsupported, not what the best sentences say, a bare word) is not
   presented as the answer: the passage sentence that holds its words, else the one that best
   answers the question, is quoted instead, with its citation, and the result says it is
   quoted (`quoted: true`, the model's text kept as `generated`).

Without context or index the question is answered directly.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from .. import runlog
from ..errors import EmptyInputError
from ..models.load_options import LoadOptions
from ..options import option, validate
from .chunking import split_sentences
from .grounding import (
    QUOTE_MIN_COVERAGE,
    SOFT_KINDS,
    answers,
    coverage,
    expected_type,
    has_type,
    rival_names,
    support,
    unit_sentences,
)
from .index import Passage
from .retrieval import Corpus, Sentence, search, source_lowercase

NOT_FOUND = "not found in the context"
SYSTEM = (
    "You answer questions using only the numbered context passages. After each claim, cite "
    "the passage it comes from as [1], [2] … If the passages do not contain the answer, reply "
    f"exactly: {NOT_FOUND}."
)
DIRECT_SYSTEM = "You are a helpful assistant. Answer briefly and accurately."
_MARK = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True)
class AskOptions:
    k: int = option(4, "Passages retrieved.", ge=1, le=50, example=4, flag="-k")
    # cosine similarity below which a passage is not relevant
    min_score: float = option(0.3, "Least relevance of a passage.", ge=-1, le=1, example=0.3)
    max_new_tokens: int = option(200, "Most tokens of an answer.", ge=1, example=200)
    temperature: float = option(0.0, "Randomness; 0 = greedy.", ge=0, example=0)
    chunk_tokens: int = option(200, "Passage size (embedding-model tokens).", ge=16, example=200)
    # share of an answer sentence's new words its passage must hold
    min_support: float = option(
        0.75,
        "Share of an answer's new words its passage must hold.",
        ge=0,
        le=1,
        hint="e.g. --min-support 0.75 (0 accepts any generated answer)",
    )
    # passage sentences quoted when the answer is not supported
    quote_sentences: int = option(1, "Sentences quoted when unsupported.", ge=1, le=5, example=1)

    def validate(self) -> AskOptions:
        return validate(self)


@dataclass
class Citation:
    number: int
    passage: Passage

    def label(self) -> str:
        p = self.passage
        name = p.location or p.source
        where = f" › {p.heading}" if p.heading else ""
        return f"[{self.number}] {name}{where}, line {p.line} (chars {p.start}–{p.end})"

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, **self.passage.to_dict()}


@dataclass
class Claim:
    """One sentence of the generated answer and how well the passage it cites supports it."""

    text: str
    passage: int | None  # citation number it was checked against
    support: float
    missing: list[str]
    # left out of the answer: unsupported while its other sentences hold, or an alternative
    # that a list answer offers after its first item
    dropped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentence": self.text,
            "passage": self.passage,
            "support": round(self.support, 3),
            "missing": self.missing,
            "dropped": self.dropped,
        }


@dataclass
class AskResult:
    question: str
    answer: str
    found: bool
    citations: list[Citation]
    model: str
    engine: str
    retrieved: list[Passage] = field(default_factory=list)
    dropped: int = 0  # relevant passages that did not fit the model's context
    citations_inferred: bool = False
    embedding_model: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    quoted: bool = False  # the answer is a quote of the source, not the model's text
    generated: str | None = None  # the model's own answer (kept when it was not supported)
    claims: list[Claim] = field(default_factory=list)
    support: float | None = None  # the weakest claim's support
    # share of the answer's new words found in the best-ranked sentences (QUOTE_WINDOW)
    agreement: float | None = None
    rivals: bool = False  # a best sentence names someone/something nearer, before the answer
    quote_reason: str | None = None  # why the model's answer was replaced by a quote

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "found": self.found,
            "quoted": self.quoted,
            "support": None if self.support is None else round(self.support, 3),
            "agreement": self.agreement,
            "rivals": self.rivals,
            "quote_reason": self.quote_reason,
            "claims": [c.to_dict() for c in self.claims],
            "generated": self.generated,
            "citations": [c.to_dict() for c in self.citations],
            "citations_inferred": self.citations_inferred,
            "model": self.model,
            "engine": self.engine,
            "embedding_model": self.embedding_model,
            "retrieved": [p.to_dict() for p in self.retrieved],
            "dropped": self.dropped,
            "timings": self.timings,
        }


def retrieve(
    question: str,
    documents: list[Any],
    index: str | None,
    embedder: Any,
    options: AskOptions,
) -> list[Passage]:
    """Top passages over in-memory documents and/or a stored index, best first."""
    corpus = Corpus(documents, embedder, chunk_tokens=options.chunk_tokens) if documents else None
    return search(question, corpus, index, embedder, options.k)[0]


def _context_block(passages: list[Passage]) -> str:
    parts = []
    for i, p in enumerate(passages, 1):
        name = p.heading or p.title or p.location or p.source
        parts.append(f"[{i}] ({name}, line {p.line}) {p.text}")
    return "\n\n".join(parts)


def _fit(backend: Any, passages: list[Passage], question: str, reserve: int) -> list[Passage]:
    """Keep the best passages whose prompt fits the model's context window."""
    limit = getattr(backend, "context_length", None)
    if not limit:
        return passages
    kept = list(passages)
    while kept:
        prompt = _prompt(kept, question)
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        if backend.count_tokens(backend.render_chat(messages), False) + reserve <= limit:
            break
        kept.pop()
    return kept


def _prompt(passages: list[Passage], question: str) -> str:
    return f"Context:\n\n{_context_block(passages)}\n\nQuestion: {question}\nAnswer with citations:"


# What a small model wraps around a claim without claiming anything: a list marker ("1.", "-"),
# the passage header it echoes from the prompt ("(talk, line 69)"), "The answer is:".
_MARKER = r"(?:\d{1,2}[.)]|[-*•])"
_WRAPPING = re.compile(
    rf"^\s*(?:{_MARKER}\s+|\([^()]*\bline \d+\)\s*|the answer is[:,]?\s*)+", re.I
)
_LIST_MARKER = re.compile(rf"\s*{_MARKER}\s*")
_ITEM = re.compile(rf"^\s*{_MARKER}(?:\s|$)", re.M)  # a line that starts a list item


def _claim_text(sentence: str) -> str:
    """A sentence of the answer without its wrapping; "" for a bare list marker."""
    if _LIST_MARKER.fullmatch(sentence):
        return ""
    return _WRAPPING.sub("", sentence).strip()


def _claim_texts(answer: str) -> list[tuple[str, bool]]:
    """The answer's claims, each with whether it is an alternative: a small model that does
    not know lists guesses ("1. 2020  2. 62 hours  3. 75 minutes"), and only its first item
    (with what precedes it) is its answer. A line break ends a sentence too; a sentence
    already said is said once."""
    items = list(_ITEM.finditer(answer))
    cut = items[1].start() if len(items) > 1 else len(answer)
    texts: list[tuple[str, bool]] = []
    for part, alternative in ((answer[:cut], False), (answer[cut:], True)):
        for s in (s for line in part.splitlines() for s in split_sentences(line)):
            text = _claim_text(s.text)
            said = _MARK.sub("", text).strip().casefold()
            if said and not any(said in _MARK.sub("", t).casefold() for t, _ in texts):
                texts.append((text, alternative))
    if all(alternative for _, alternative in texts):  # the first item said nothing
        return [(text, False) for text, _ in texts]
    return texts


def check_claims(answer: str, passages: list[Passage], question: str) -> list[Claim]:
    """Score each answer sentence against the passage it cites; a sentence without a marker
    is checked against the passage that supports it best (and is attributed to it). The
    alternatives of a list answer are scored too, and marked dropped."""
    claims = []
    for text, alternative in _claim_texts(answer) or [(answer, False)]:
        cited = [int(n) for n in _MARK.findall(text) if 1 <= int(n) <= len(passages)]
        pool = cited or list(range(1, len(passages) + 1))
        scored = [(support(text, passages[n - 1].text, question), n) for n in pool]
        if not scored:
            claims.append(Claim(text, None, 0.0, [], alternative))
            continue
        best, n = max(scored, key=lambda t: t[0].score)
        claims.append(Claim(text, n, best.score, best.missing, alternative))
    answer_claims = [c for c in claims if not c.dropped]
    if kind := _missing_kind(answer_claims, question):
        # "How many days…?" answered without a number answers nothing, however well supported.
        for c in answer_claims:
            c.support, c.missing = 0.0, [*c.missing, f"<{kind}>"]
    return claims


def _missing_kind(claims: list[Claim], question: str) -> str | None:
    """The kind the question asks for (a number for "how many"; not a soft kind) when no
    claim holds it, else None."""
    kind = expected_type(question)
    if (
        kind
        and kind not in SOFT_KINDS
        and not any(has_type(c.text, kind, question) for c in claims)
    ):
        return kind
    return None


def _shown(claims: list[Claim], question: str, least: float) -> list[Claim]:
    """The claims presented as the answer: not the alternatives of a list, and of the rest
    the supported ones when some are not and those still say what the question asks for (a
    number for "how many"); the others are marked dropped."""
    answer = [c for c in claims if not c.dropped]
    kept = [c for c in answer if c.support >= least]
    if not kept or len(kept) == len(answer) or _missing_kind(kept, question):
        return answer
    for c in answer:
        c.dropped = c.support < least
    return kept


def _fills_in(
    answer: str,
    unit: str,
    question: str,
    lowercase: frozenset[str],
    weights: dict[str, float] | None,
    least: float,
) -> bool:
    """Does `unit` (a sentence, or a sentence with the next) hold the answer's words where it
    answers: from its first sentence that holds the question's words on ("How many staff?
    Eight." holds "Eight"; "The boat is Marguerite. The sails are Aline's." does not hold
    "Marguerite" for "who made the sails?")."""
    parts = unit_sentences(unit)
    for i, part in enumerate(parts):
        if coverage(question, part, weights) >= QUOTE_MIN_COVERAGE:
            rest = " ".join(parts[i:])
            return support(answer, rest, question).score >= least and answers(
                question, rest, lowercase, weights
            )
    return False


def _quote(sentences: list[Sentence], passages: list[Passage], n: int) -> tuple[str, set[int]]:
    """The passage sentence(s) that best answer the question, quoted with their citation."""
    picked = sentences[:n]
    used = {s.passage + 1 for s in picked}
    body = " ".join(f"\u201c{s.text}\u201d [{s.passage + 1}]" for s in picked)
    return f"Quoted from the source: {body}", used


# Only the best-ranked sentences may be quoted: further down, some sentence of four passages
# always holds a number or a name, and quoting it passes off an unrelated one as the answer.
QUOTE_WINDOW = 3
# An answer of fewer words than this ("2 [1]", "Yusuf.") gives way to the quote.
TERSE = 3


class Asker:
    """Answers many questions over the same sources with one model load and one embedding
    of the documents (`ask --file`, `eval ask`)."""

    def __init__(
        self,
        contexts: list[Any] | None = None,
        *,
        index: str | None = None,
        options: AskOptions | None = None,
        backend: Any = None,
        embedder: Any = None,
        model: str | None = None,
        embedding_model: str | None = None,
        reranker: Any = None,
        load_options: LoadOptions | None = None,
    ) -> None:
        """`reranker`: a rerank model name or backend for the sentence rerank (default: the
        embedder as a bi-encoder). `load_options` load `model`; the embedder and the reranker
        take their device."""
        from ..sources import Document, load_text
        from .embed import get_embedder

        self.options = (options or AskOptions()).validate()
        self.documents = [c if isinstance(c, Document) else load_text(c) for c in contexts or []]
        self.index = index
        self._backend = backend
        self.model = model
        self.load_options = load_options = load_options or LoadOptions()
        self.embedder = None
        self.corpus: Corpus | None = None
        if index:
            from .index import check_index

            check_index(index)  # a bad or missing index fails before any model loads
        if isinstance(reranker, str) and (self.documents or index):
            from ..models import load_reranker

            reranker = load_options.device_only().call(load_reranker, reranker)
        self.ranker = reranker
        if self.documents or index:
            self.embedder = get_embedder(embedder, embedding_model, load_options.device_only())
            if self.documents:
                self.corpus = Corpus(
                    self.documents, self.embedder, chunk_tokens=self.options.chunk_tokens
                )

    @property
    def backend(self) -> Any:
        if self._backend is None:
            from ..models import load

            self._backend = self.load_options.call(load, self.model, task="ask")
        return self._backend

    def __call__(self, question: str) -> AskResult:
        from .chat import chat
        from .generate import GenerateOptions

        if not isinstance(question, str) or not question.strip():
            raise EmptyInputError("the question is empty", hint='pretrained ask "What is …?"')
        options = self.options
        began = time.perf_counter()
        knobs = GenerateOptions(
            max_new_tokens=options.max_new_tokens,
            temperature=options.temperature,
            repetition_penalty=1.1,
        )
        if self.embedder is None:
            engine = self.backend
            reply = chat(
                [
                    {"role": "system", "content": DIRECT_SYSTEM},
                    {"role": "user", "content": question},
                ],
                options=knobs,
                backend=engine,
            )
            return AskResult(
                question,
                reply.text.strip(),
                True,
                [],
                engine.model_id,
                engine.engine,
                timings={"total_s": round(time.perf_counter() - began, 3)},
            )
        embed_engine = self.embedder
        start = time.perf_counter()
        retrieved, sentences = search(
            question, self.corpus, self.index, embed_engine, options.k, ranker=self.ranker
        )
        timings = {"retrieve_s": round(time.perf_counter() - start, 3)}
        relevant = [p for p in retrieved if p.score >= options.min_score]
        if not relevant:
            timings["total_s"] = round(time.perf_counter() - began, 3)
            runlog.annotate(task="ask", model=embed_engine.model_id, found=False)
            return AskResult(
                question,
                f"The answer was {NOT_FOUND} (best match scored "
                f"{max((p.score for p in retrieved), default=0):.2f}, below {options.min_score}).",
                False,
                [],
                "-",
                "-",
                retrieved=retrieved,
                embedding_model=embed_engine.model_id,
                timings=timings,
            )
        # Relevant passages keep their rerank order; the sentences follow them.
        keep = [i for i, p in enumerate(retrieved) if p.score >= options.min_score]
        renumber = {old: new for new, old in enumerate(keep)}
        sentences = [
            Sentence(s.text, renumber[s.passage], s.score)
            for s in sentences
            if s.passage in renumber
        ]
        engine = self.backend
        fitted = _fit(engine, relevant, question, options.max_new_tokens) or relevant[:1]
        sentences = [s for s in sentences if s.passage < len(fitted)]
        reply = chat(
            [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": _prompt(fitted, question)},
            ],
            options=knobs,
            backend=engine,
        )
        answer = reply.text.strip()
        timings["generate_s"] = round(reply.timings.get("total_s") or 0.0, 3)
        not_found = NOT_FOUND in answer.lower()
        result = AskResult(
            question,
            answer,
            not not_found,
            [],
            engine.model_id,
            engine.engine,
            retrieved=retrieved,
            dropped=len(relevant) - len(fitted),
            embedding_model=embed_engine.model_id,
            timings=timings,
        )
        if not not_found and answer:
            self._cite(result, fitted, sentences, question)
        result.timings["total_s"] = round(time.perf_counter() - began, 3)
        runlog.annotate(task="ask", found=result.found, quoted=result.quoted)
        return result

    def _cite(self, result: AskResult, fitted: list, sentences: list, question: str) -> None:
        """Check the answer against the passages it cites: supported → its citations (inferred
        when the model marked none); unsupported → a quote of the best passage sentence."""
        options, answer = self.options, result.answer
        claims = check_claims(answer, fitted, question)
        lowercase = source_lowercase(self.corpus, fitted)
        kind = expected_type(question)
        weights = self.corpus.weights(question) if self.corpus else None
        result.claims = claims
        # the sentences that hold are the answer when others do not (those are marked dropped)
        shown = _shown(claims, question, options.min_support)
        answer = " ".join(c.text for c in shown)  # without list markers and echoed headers
        result.support = min(c.support for c in shown)
        marked = {int(n) for n in _MARK.findall(answer) if 1 <= int(n) <= len(fitted)}
        # The answer must also agree with the best-ranked sentences: its new words are in them.
        # A word found somewhere in a long passage ("Gerald", the sourdough starter, for the
        # shop manager) is support of the word, not of the answer.
        best = " ".join(s.text for s in sentences[:QUOTE_WINDOW])
        result.agreement = round(support(answer, best, question).score, 3) if best else 0.0
        # …and name no one of several: a name picked from a sentence that offers others
        rivals = kind == "name" and any(
            rival_names(answer, s.text, question, lowercase) for s in sentences[:QUOTE_WINDOW]
        )
        result.rivals = bool(rivals)
        terse = len(_MARK.sub(" ", answer).split()) < TERSE
        if result.support < options.min_support:
            why = f"was not supported by the passage it cited (support {result.support:.2f})"
        elif terse:
            # "2" or "Yusuf." is in some passage sentence, in whatever role: the answer says too
            # little to check which
            why = "is a bare word or two: the passages hold it, but not necessarily as the answer"
        elif result.agreement < options.min_support:
            why = f"is not what the best-matching sentences say (agreement {result.agreement:.2f})"
        elif len(support(answer, "", question).new) == 1 and not any(
            _fills_in(answer, s.text, question, lowercase, weights, options.min_support)
            for s in sentences[:QUOTE_WINDOW]
        ):
            # one new word ("… is Marguerite"): the best sentences hold it, but none that
            # answers the question holds it, so it may be there in another role (the boat)
            why = "fills in a word the best-matching sentences hold, but not as the answer"
        elif rivals:
            why = "picked a name that the best-matching sentence puts after a nearer one"
        else:
            why = None
        if why is None:
            numbers = marked or {c.passage for c in shown if c.passage}
            result.citations_inferred = not marked
            if not marked:
                answer = " ".join(f"{c.text} [{c.passage}]" if c.passage else c.text for c in shown)
            result.answer = answer
        elif quotable := [
            s for s in sentences[:QUOTE_WINDOW] if answers(question, s.text, lowercase, weights)
        ]:
            result.generated = result.answer
            result.answer, numbers = _quote(quotable, fitted, options.quote_sentences)
            result.quoted, result.quote_reason = True, why
        else:  # nothing to quote that answers it: refuse rather than pass off a neighbour
            result.generated, result.found, numbers = result.answer, False, set()
            result.answer = (
                f"The answer was {NOT_FOUND}: the model's answer was not backed by the "
                "passages' best-matching sentences, and none of them holds what the question "
                "asks for."
            )
        result.citations = [Citation(n, fitted[n - 1]) for n in sorted(numbers)]


def ask(
    question: str,
    contexts: list[Any] | None = None,
    *,
    index: str | None = None,
    options: AskOptions | None = None,
    backend: Any = None,
    embedder: Any = None,
    model: str | None = None,
    embedding_model: str | None = None,
    reranker: Any = None,
    load_options: LoadOptions | None = None,
) -> AskResult:
    """Answer `question` from `contexts` (sources or Documents) and/or an index, citing them.

    The answer is checked against the passages it cites; one they do not support is replaced
    by a quote of the passage sentence that best answers the question (`result.quoted`)."""
    if not isinstance(question, str) or not question.strip():
        raise EmptyInputError("the question is empty", hint='pretrained ask "What is …?"')
    return Asker(
        contexts,
        index=index,
        options=options,
        backend=backend,
        embedder=embedder,
        model=model,
        embedding_model=embedding_model,
        reranker=reranker,
        load_options=load_options,
    )(question)


def ask_many(questions: list[str], contexts: list[Any] | None = None, **kwargs: Any):
    """Answer each question with one load of the model and one embedding of the sources."""
    asker = Asker(contexts, **kwargs)
    return [asker(q) for q in questions]
