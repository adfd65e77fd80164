"""Abstractive output checked against its source: sentences the source does not back."""

from __future__ import annotations

from typing import Any

from ..chunking import split_sentences

# ---------------------------------------------------------------- checked against the source
# A generated sentence is kept when this share of its content words and numbers is found in
# one stretch of the source (SUPPORT_WINDOW consecutive sentences), and none of its
# topic-specific words (found in few of the source's sentences) is missing there while the
# source has it elsewhere: that is a sentence joining two unrelated places ("the narwhal …
# regrows lost body parts", which is the axolotl). Words the source never uses (invented
# names, years) lower the share.
MIN_SUPPORT = 0.7
SUPPORT_WINDOW = 3
SPECIFIC_SHARE = 0.05  # a word in at most this share of the source's sentences (or 2) is specific


def check_against_source(summary: str, source: str) -> tuple[str, list[dict[str, Any]]]:
    """(the summary without its unsupported sentences, the dropped ones with their scores)."""
    from collections import Counter

    from ..grounding import content_words

    units = [set(content_words(u.text)) for u in split_sentences(source)]
    frequency = Counter(w for unit in units for w in unit)
    specific = max(2, int(SPECIFIC_SHARE * len(units)))
    windows = [
        set().union(*units[i : i + SUPPORT_WINDOW])
        for i in range(max(1, len(units) - SUPPORT_WINDOW + 1))
    ] or [set()]
    kept, dropped = [], []
    for sentence in split_sentences(summary):
        words = set(content_words(sentence.text))
        if not words:  # nothing to check ("Yes.", "One."): kept as it is
            kept.append(sentence.text)
            continue
        best = max(windows, key=lambda w: len(words & w))
        score = len(words & best) / len(words)
        elsewhere = sorted(w for w in words - best if 0 < frequency[w] <= specific)
        if score >= MIN_SUPPORT and not elsewhere:
            kept.append(sentence.text)
        else:
            dropped.append(
                {
                    "text": sentence.text,
                    "support": round(score, 3),
                    "missing": sorted(words - best),
                    "from_elsewhere": elsewhere,
                }
            )
    return " ".join(kept), dropped
