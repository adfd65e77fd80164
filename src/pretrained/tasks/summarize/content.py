"""How much a sentence says: content words specific to one part of the document, names and
numbers — versus fillers and fragments ("So let's try it out.", "Food is a good example.").

A word's specificity is its inverse block frequency: the document is cut into contiguous blocks
and a word found in every block ("okay", "thing", "example" in a talk) weighs nothing, a word
found in one block ("Parquet", "saffron") weighs most. Spoken fillers and discourse words weigh
nothing wherever they are. A sentence's score is the sum of its distinct words' weights (names
and numbers count extra) over √(its length): dense sentences first, long ones not for free;
fragments of a few words are discounted. No model and no downloads.

Chapter headlines come from the same weights: a chapter's key terms, extractive.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from ..grounding import STOPWORDS, content_words

# words that carry no content in speech or in any document (on top of the stopwords)
FILLERS = frozenset(
    """um uh erm hmm mm ah oh okay ok yeah yep yes right alright anyway anyways basically actually
    literally really totally honestly kind sort sorts kinds lot lots bit thing things stuff way
    ways something anything everything nothing someone everyone anybody somebody everybody
    know knew mean means meant guess think thought want wanted let let's go goes going gone
    went come comes coming came look looks looking looked see seen saw show showed showing
    put puts try trying tried take took talk talking talked start started starting maybe
    probably pretty quite sure good great nice cool fine bad little big new old first next last
    today now then time times day example examples question questions point people guys folks
    slide slides minute minutes part kind sorry thanks thank please hey hi hello wow gonna
    wanna gotta yeah okay need needs work works worked use used using able""".split()  # noqa: SIM905
)
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|\d+(?:[.,]\d+)*")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z'’-]*[A-Za-z]")
_NUMBER = re.compile(r"\d|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                     r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|"
                     r"million|billion|percent)\b", re.IGNORECASE)  # fmt: skip
NAME_BONUS = 0.25  # a name or number adds this share of the top word weight
ONCE = 0.4  # weight of a word used once in the whole text
MIN_WORDS = 6  # shorter sentences are fragments: their score is discounted
BLOCKS = 24  # at most this many blocks for the specificity of words


def _terms(text: str) -> list[str]:
    return [w for w in content_words(text) if len(w) > 2 and w not in FILLERS or w.isdigit()]


def term_weights(texts: list[str]) -> dict[str, float]:
    """word → specificity (log of blocks / blocks containing it), over contiguous blocks."""
    n = len(texts)
    if n == 0:
        return {}
    blocks = max(1, min(BLOCKS, n))
    size = math.ceil(n / blocks)
    seen: Counter[str] = Counter()
    uses: Counter[str] = Counter()
    count = 0
    for start in range(0, n, size):
        words = [w for t in texts[start : start + size] for w in _terms(t)]
        uses.update(words)
        seen.update(set(words))
        count += 1
    # a word used once in the whole text is as often incidental ("quickly") as a term
    once = ONCE
    if count == 1:  # one block: every word is as specific as another
        return {w: 1.0 if uses[w] > 1 else once for w in seen}
    return {
        w: (math.log(count / c) + 0.1) * (1.0 if uses[w] > 1 else once) for w, c in seen.items()
    }


def names_and_numbers(text: str) -> int:
    """Capitalized words past the start of a sentence (not "I"), plus numbers."""
    names = {
        m.group()
        for m in _NAME.finditer(text)
        if m.group() not in ("I", "I'm", "I'll", "I've", "I'd")
        and m.group().lower() not in STOPWORDS
        and m.group().lower() not in FILLERS
    }
    return len(names) + min(2, len(_NUMBER.findall(text)))


def informativeness(texts: list[str], weights: dict[str, float] | None = None):
    """→ float32 array, one score ≥ 0 per text: what it says, per √word."""
    import numpy as np

    weights = term_weights(texts) if weights is None else weights
    top = max(weights.values(), default=1.0) or 1.0
    out = np.zeros(len(texts), dtype=np.float32)
    for i, text in enumerate(texts):
        terms = set(_terms(text))
        words = max(1, len(text.split()))
        say = sum(weights.get(w, 0.0) for w in terms) + NAME_BONUS * top * names_and_numbers(text)
        score = say / math.sqrt(max(words, MIN_WORDS))
        if words < MIN_WORDS:
            score *= words / MIN_WORDS
        out[i] = score
    return out


def headline(chapter: list[str], document: list[str], terms: int = 4) -> str:
    """A chapter's key terms as the text spells them ("Parquet · CSV · columnar"): the words
    most repeated in the chapter and rarest in the rest of the document (tf × idf over the
    document's units), names first among equals — words of the chapter, never invented."""
    df: Counter[str] = Counter(w for t in document for w in set(_terms(t)))
    tf: Counter[str] = Counter(w for t in chapter for w in set(_terms(t)))
    spelled: dict[str, str] = {}  # how the chapter writes each word: a name as a name
    for text in chapter:
        for token in _TOKEN.findall(text):
            for w in content_words(token):
                spelled.setdefault(w, token.lower())
        for match in _NAME.finditer(text):  # capitalized past the start of a sentence
            for w in content_words(match.group()):
                spelled[w] = match.group()
    n = max(1, len(document))

    def score(w: str) -> float:
        name = spelled.get(w, w)[:1].isupper()
        return tf[w] ** 1.5 * math.log(1 + n / df[w]) * (1.5 if name else 1.0)

    usable = [w for w in tf if not w.isdigit() and "'" not in w and "’" not in w and len(w) > 3]
    ranked = sorted(usable, key=lambda w: (-score(w), w))
    return " · ".join(spelled.get(w, w) for w in ranked[:terms])
