"""Topic chapters for long unbroken text (transcripts, unpunctuated speech): each topic segment
that the summary draws on becomes a chapter with a headline made of its key terms — words of
the chapter itself, never invented — and the summary's sentences from it."""

from __future__ import annotations

from typing import Any

from ..chunking import Span
from .content import headline
from .scoring import INFO_WEIGHT, paragraph_segments, relevance, with_content

HEADLINE_TERMS = 4


def chaptered(units: list[Span], segments: list[tuple[int, int]] | None) -> bool:
    """Chapters when the text was cut into topic segments (not into its own paragraphs)."""
    return bool(segments) and len(segments) > 1 and paragraph_segments(units) is None


def chapters(
    units: list[Span], segments: list[tuple[int, int]], picked: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One chapter per topic segment with at least one picked unit, in document order."""
    texts = [u.text for u in units]
    out = []
    for start, end in segments:
        inside = [p for p in picked if start <= p["index"] < end]
        if not inside:
            continue
        out.append(
            {
                "headline": headline(texts[start:end], texts, HEADLINE_TERMS),
                "start": units[start].start,
                "end": units[end - 1].end,
                "sentences": inside,
            }
        )
    return out


def chapter_title(texts: list[str], vectors, document: list[str]) -> str:
    """A chapter's best line, extractive: central to the chapter and saying the most (what
    its words say against the whole `document`), so not a filler ("So let's try it out.")."""
    import numpy as np

    from .content import informativeness, term_weights

    if len(texts) == 1:
        return texts[0]
    info = informativeness(texts, term_weights(document))
    scores = with_content(relevance(vectors, position_weight=0.3), info, INFO_WEIGHT)
    return texts[int(np.argmax(scores))]
