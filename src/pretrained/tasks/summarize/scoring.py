"""How much a unit (a sentence or a window of speech) is worth to a summary: centrality and
position (`relevance`), what it says (`with_content`), and the paragraph segments of texts
written in paragraphs. Both the extractive selection and the topic chapters score with these."""

from __future__ import annotations

from ..chunking import Span


def normalize(vector):
    import numpy as np

    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def relevance(
    vectors,
    *,
    segments: list[tuple[int, int]] | None = None,
    focus_vector=None,
    position_weight: float = 1.0,
    paragraph_starts: list[bool] | None = None,
):
    """Score every unit: centrality to the document and to its own segment, a position prior
    (early in the document for a single-topic text, early in its segment for long ones), and
    similarity to a focus question when given. Higher is better."""
    import numpy as np

    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    doc = normalize(vectors.mean(axis=0))
    central = vectors @ doc
    segments = segments or [(0, n)]
    local = np.zeros(n, dtype=np.float32)
    position = np.zeros(n, dtype=np.float32)
    single = len(segments) == 1
    for start, end in segments:
        centroid = normalize(vectors[start:end].mean(axis=0))
        local[start:end] = vectors[start:end] @ centroid
        ranks = np.arange(end - start, dtype=np.float32)
        # a lead prior: 1 for the first unit, decaying over the first few; within segments,
        # the topic sentence of a section plays the role of a news lead
        position[start:end] = 1.0 / np.sqrt(1.0 + ranks) if single else np.exp(-ranks / 2.0)
    if paragraph_starts is not None:
        position = np.maximum(position, 0.5 * np.asarray(paragraph_starts, dtype=np.float32))
    if single:
        score = 0.5 * central + 0.5 * local + LEAD_WEIGHT * position_weight * position
    else:
        score = 0.25 * central + 0.75 * local + 0.2 * position_weight * position
    if focus_vector is not None:
        score = score + 1.0 * (vectors @ focus_vector)
    return score.astype(np.float32)


def paragraph_segments(units: list[Span]) -> list[tuple[int, int]] | None:
    """Short texts written in real paragraphs (≥ 2, of ≥ 3 sentences on average) are
    segmented by paragraph; one-sentence-per-paragraph news copy stays one segment."""
    bounds = [0] + [i for i in range(1, len(units)) if units[i].paragraph != units[i - 1].paragraph]
    if len(bounds) < 2 or len(units) / len(bounds) < 3:
        return None
    ends = bounds[1:] + [len(units)]
    return list(zip(bounds, ends, strict=True))


# The lead prior of a single-topic text (a news story), against its centrality. 0.7 (it was
# 0.35) measured best on 200 CNN/DailyMail test articles, short and long ones alike; a √length
# cost per sentence and content weighting gained more on those but lost 2–6 ROUGE-1 on the
# longer validation articles, so neither is used here (benchmarks/data/README.md).
LEAD_WEIGHT = 0.7

INFO_WEIGHT = 0.7  # share of a unit's score that is what it says (the rest: how central it is)

PARAGRAPH_INFO_WEIGHT = 0.3  # the same, in a text written in paragraphs


def with_content(scores, info, weight: float = INFO_WEIGHT):
    """Blend relevance with informativeness, both scaled to [0, 1] (informativeness by its
    90th percentile, so a few very dense units do not flatten the rest)."""
    import numpy as np

    rel = np.asarray(scores, dtype=np.float64)
    spread = rel.max() - rel.min() if len(rel) else 0.0
    rel = (rel - rel.min()) / spread if spread > 0 else np.ones_like(rel)
    high = float(np.percentile(info, 90)) if len(info) else 0.0
    said = np.clip(np.asarray(info, dtype=np.float64) / high, 0, 1.5) if high > 0 else 0 * rel
    return ((1 - weight) * rel + weight * said).astype(np.float32)
