"""Length targets for abstractive summaries: `--words N` ends on a sentence boundary and holds
within ±10 % of N.

Small models do not count words. The model is asked for about N words with room to write more;
then whole sentences are kept, in the model's order, so that the total lands in
[0.9·N, 1.1·N]: a sentence cut by the token limit is left out, sentences that would overshoot
are skipped, and when the model wrote too little the summary is completed with sentences of the
source itself (extractive, so nothing unbacked is added; the result says so).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ..chunking import split_sentences

TOLERANCE = 0.10
_ENDS = re.compile(r"[.!?…][\"'”’)\]]*$")


def bounds(words: int) -> tuple[int, int]:
    """The accepted word counts for a target of `words`."""
    return math.ceil(words * (1 - TOLERANCE)), math.floor(words * (1 + TOLERANCE))


def _count(text: str) -> int:
    return len(text.split())


def complete(sentences: list[str]) -> tuple[list[str], bool]:
    """The sentences without a last one that has no end punctuation (cut by a token limit)."""
    if sentences and not _ENDS.search(sentences[-1].strip()):
        return sentences[:-1], True
    return sentences, False


def choose(lengths: list[int], low: int, high: int) -> list[int]:
    """Indices (in order) of sentences whose lengths sum into [low, high] if possible, else
    as close below `high` as possible: the model's first sentences first (greedy), then the
    subset with the largest total ≤ high when the greedy one falls short (a knapsack over
    word counts)."""
    greedy, total = [], 0
    for i, n in enumerate(lengths):
        if total + n <= high:
            greedy.append(i)
            total += n
    if total >= low:
        return greedy
    best: dict[int, list[int]] = {0: []}  # reachable total → earliest subset reaching it
    for i, n in enumerate(lengths):
        for reached, picked in list(best.items()):
            s = reached + n
            if s <= high and s not in best:
                best[s] = [*picked, i]
    top = max(best)
    return best[top] if top > total else greedy


def fit_words(
    summary: str, words: int, source_sentences: Callable[[int], list[str]]
) -> tuple[str, list[str]]:
    """(the summary held to ±10 % of `words` on sentence boundaries, warnings).
    `source_sentences(budget)` → sentences of the source to complete a short summary."""
    low, high = bounds(words)
    sentences = [s.text for s in split_sentences(summary)]
    sentences, cut = complete(sentences)
    warnings = []
    if cut:
        warnings.append("the model's last sentence was cut by its token limit and is left out")
    picked = [sentences[i] for i in choose([_count(s) for s in sentences], low, high)]
    if not picked and sentences:  # every sentence alone is longer than the target allows
        picked = sentences[:1]
        warnings.append(
            f"the model's first sentence alone has {_count(picked[0])} words, over --words "
            f"{words} + 10 %"
        )
    total = sum(_count(s) for s in picked)
    if total < low:  # the model's sentences first, then the source's, in a subset that fits
        wrote = total
        pool = picked + [s for s in source_sentences(high) if s not in picked]
        chosen = [pool[i] for i in choose([_count(s) for s in pool], low, high)]
        added = [s for s in chosen if s not in picked]
        if added and sum(_count(s) for s in chosen) > total:
            picked = [s for s in chosen if s in picked] + added
            warnings.append(
                f"the model wrote {wrote} of {words} words (backed by the source): "
                f"{len(added)} sentence(s) of the source complete the summary"
            )
    return " ".join(picked), warnings


def source_filler(source: str, embedder_fn: Callable[[], Any]) -> Callable[[int], list[str]]:
    """The source's most relevant sentences (extractive), best first, for `fit_words`."""

    def sentences(budget: int) -> list[str]:
        from .cleaning import candidates
        from .extractive import extract

        units = [u.text for u in candidates(source)]
        if not units:
            return []
        chosen, scores = extract(units, max_words=max(budget * 3, 30), embedder=embedder_fn())
        return [units[i] for i in sorted(chosen, key=lambda i: -float(scores[i]))]

    return sentences
