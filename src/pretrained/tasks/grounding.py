"""Is a generated sentence backed by its source? Word-level support scores, no model needed.

A claim's *new* content — its content words and numbers that the question did not already
contain — must be found in the passage it cites. "The largest source of saffron is narwhal
tusks [1]" brings "narwhal" and "tusks"; a saffron passage holds neither: support 0. Words
the claim repeats from the question only have to touch the passage (one of them present), so
a claim about the right subject from a passage about something else fails too.

Chosen because it is exact about what matters (names, numbers) and needs no model; an
entailment model would be better but none is available offline. Measured on a held-out set
(benchmarks/data/ask_heldout.md + .jsonl, `pretrained eval ask`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Numbers (1,000 · 3.5 · $197 · 12%), else words; hyphens split ("three-year" → three, year);
# "49ers" stays one word.
_WORD = re.compile(r"\$?\d+(?:[.,:]\d+)*%?(?![^\W_])|[^\W_]+(?:['’][^\W_]+)*")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
    if i >= 2  # "one" is as often a pronoun as a number
} | {
    w: str(10 * i)
    for i, w in enumerate(["thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 3)
}
STOPWORDS = frozenset(
    """a an the and or but if then than so of to in on at by for with from into onto over under
    about after before between during through without within against among is are was were be
    been being am do does did doing done have has had having will would shall should can could
    may might must not no nor yes this that these those there here it its it's they them their
    theirs he him his she her hers we us our you your i me my mine who whom whose which what
    when where why how all any both each few more most other some such only own same too very
    just also as up down out off again further once ever never s t one said says say according
    told tell many much get got make made like well even still yet while because though whether
    answer question context passage passages text source sources called named known""".split()  # noqa: SIM905
)


def _norm(word: str) -> str:
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if w in _NUMBER_WORDS:
        return _NUMBER_WORDS[w]
    if w[:1] == "$" or w[:1].isdigit():
        return w.lstrip("$").replace(",", "")
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def content_words(text: str) -> list[str]:
    """Lower-cased, lightly stemmed content words and numbers of `text`, in order."""
    out = []
    for m in _WORD.finditer(text):
        w = _norm(m.group())
        if m.group().lower() in STOPWORDS:
            continue
        if w and w not in STOPWORDS and (len(w) > 1 or w.isdigit()):
            out.append(w)
    return out


@dataclass
class Support:
    score: float  # 0–1: share of the claim's new words found in the passage
    new: list[str]  # the claim's content words not in the question
    missing: list[str]  # of those, the ones the passage lacks
    on_topic: bool  # the passage holds at least one word the claim shares with the question


def support(claim: str, passage: str, question: str) -> Support:
    asked = set(content_words(question))
    words = content_words(re.sub(r"\[\d{1,2}\]", " ", claim))
    held = set(content_words(passage))
    new = list(dict.fromkeys(w for w in words if w not in asked))
    echoed = {w for w in words if w in asked}
    missing = [w for w in new if w not in held]
    # The passage must be about the question: it holds a word the claim repeats from it, or
    # at least one of the question's words.
    on_topic = not echoed or bool(echoed & held) or bool(asked & held)
    if not new:  # it only repeats the question: it answers nothing
        return Support(0.0, [], [], on_topic)
    score = (len(new) - len(missing)) / len(new)
    return Support(score if on_topic else 0.0, new, missing, on_topic)


_EXPECTS_NUMBER = re.compile(
    r"\b(how (many|much|long|old|far|low|high|big|tall|often)|what (year|age|time|date)|when)\b",
    re.I,
)
_EXPECTS_NAME = re.compile(
    r"\b(who|whom|whose|where|which (town|city|country|team|company|service|board|school)|"
    r"what (name|town|city|country|team|company)|"
    r"what (is|are|was|were) the (largest|biggest|main|leading|top|chief|primary) "
    r"(source|producer|exporter|supplier|maker|grower|consumer|buyer)s?)\b",
    re.I,
)
_CAPITAL = re.compile(r"\b[A-Z][\w'’-]+")
# Words English capitalizes only because they open a sentence: time and discourse adverbs,
# connectives. A capital at a sentence's start is a name unless it is one of these or a stopword.
_OPENERS = frozenset(
    """today yesterday tomorrow tonight now nowadays meanwhile however instead finally
    eventually later earlier first second third next last still perhaps maybe indeed thus
    hence therefore moreover furthermore overall generally usually often sometimes always
    rarely traditionally historically recently currently originally unlike despite although
    whereas until unless since every several another either neither none nothing everything
    something someone everyone anyone""".split()  # noqa: SIM905
)


def expected_type(question: str) -> str | None:
    """ "number" or "name" when the question's wording asks for one, else None."""
    if _EXPECTS_NUMBER.search(question):
        return "number"
    if _EXPECTS_NAME.search(question):
        return "name"
    return None


def has_type(text: str, kind: str | None, question: str) -> bool:
    """Does `text` hold a number / a capitalized name that the question does not?"""
    if kind is None:
        return True
    text = re.sub(r"\[\d{1,2}\]", " ", text)  # citation markers are not numbers
    asked = set(content_words(question))
    if kind == "number":
        return any(w[:1].isdigit() and w not in asked for w in content_words(text))
    return any(
        _norm(m.group()) not in asked
        and _norm(m.group()) not in STOPWORDS
        and m.group().lower() not in _OPENERS
        for m in _CAPITAL.finditer(text)
    )


def coverage(question: str, text: str, weights: dict[str, float] | None = None) -> float:
    """Share of the question's content words (idf-weighted when given) that `text` contains."""
    asked = list(dict.fromkeys(content_words(question)))
    if not asked:
        return 0.0
    held = set(content_words(text))
    w = weights or {}
    total = sum(w.get(a, 1.0) for a in asked)
    return sum(w.get(a, 1.0) for a in asked if a in held) / total if total else 0.0


# A quote must hold at least this share of the question's content words. Measured on the ask
# sets (news digest, three talks): every right quote held ≥ 0.25, and the wrong ones below 0.2
# were a sentence beside the answer ("They were married in 1911 …" for an illness).
QUOTE_MIN_COVERAGE = 0.2


def answers(question: str, sentence: str) -> bool:
    """May `sentence` be quoted as the answer to `question`? It holds what the question asks
    for (a number, a name) and enough of the question's words; else quoting it would pass off
    a neighbouring sentence as the answer."""
    kind = expected_type(question)
    return has_type(sentence, kind, question) and coverage(question, sentence) >= QUOTE_MIN_COVERAGE
