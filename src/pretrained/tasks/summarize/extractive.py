"""The extractive core: embed units, segment them into topics, score and pick them (MMR).
Reusable over any units (sentences, transcript segments)."""

from __future__ import annotations

import re
import time
from typing import Any

from ...errors import EmptyInputError
from ..chunking import Span
from .cleaning import candidates
from .content import informativeness
from .options import MAX_EMBEDDED, Progress, SummarizeOptions, target_length
from .scoring import (
    INFO_WEIGHT,
    PARAGRAPH_INFO_WEIGHT,
    normalize,
    paragraph_segments,
    relevance,
    with_content,
)

# ---------------------------------------------------------------- extractive core (reusable)
_WORD = re.compile(r"[^\W\d_]{3,}")


def preselect(units: list[Span], limit: int = MAX_EMBEDDED) -> list[int]:
    """Bound the embedding work on very long documents: cut the document into `limit / 8`
    contiguous blocks and keep, in each, the 8 units whose words are most typical of that
    block and rare in the rest of the document (block term frequency × inverse document
    frequency). Every part of the document keeps candidates, so coverage survives.
    → kept indices in order. Linear in the number of words."""
    import math
    from collections import Counter

    n = len(units)
    if n <= limit:
        return list(range(n))
    words = [set(_WORD.findall(u.text.lower())) for u in units]
    df = Counter(w for ws in words for w in ws)
    idf = {w: math.log(n / c) for w, c in df.items()}
    per_block = 8
    blocks = max(1, limit // per_block)
    size = math.ceil(n / blocks)
    kept: list[int] = []
    for start in range(0, n, size):
        end = min(n, start + size)
        tf = Counter(w for ws in words[start:end] for w in ws)
        scores = []
        for i in range(start, end):
            if not words[i]:
                scores.append((0.0, i))
                continue
            weight = sum(tf[w] * idf[w] for w in words[i]) / math.sqrt(len(words[i]))
            scores.append((weight + (1.0 if i == start else 0.0), i))
        scores.sort(reverse=True)
        kept.extend(i for _, i in scores[:per_block])
    return sorted(kept)


def embed_units(texts: list[str], embedder: Any, batch_size: int = 32):
    """Normalized vectors, one per unit (batched: one forward pass per batch)."""
    return embedder.encode(texts, batch_size=batch_size, normalize=True)


def topic_segments(
    vectors, n_segments: int | None = None, *, min_size: int = 3, window: int | None = None
):
    """Split a sequence of unit vectors into topic segments (TextTiling over embeddings):
    boundaries go where the similarity between the `window` units before and after a gap has
    its deepest valleys. → list of (start, end) index pairs covering every unit, in order.

    n_segments=None picks the valleys deeper than mean − std/2 (like TextTiling)."""
    import numpy as np

    n = len(vectors)
    if window is None:  # about a quarter of the expected segment: long texts, wider windows
        window = max(3, n // (4 * n_segments)) if n_segments else 3
        if n_segments:
            min_size = max(min_size, n // (3 * n_segments))
    if n < 2 * min_size:
        return [(0, n)] if n else []
    gaps = []
    for g in range(1, n):
        left = normalize(vectors[max(0, g - window) : g].mean(axis=0))
        right = normalize(vectors[g : g + window].mean(axis=0))
        gaps.append(float(left @ right))
    sims = np.asarray(gaps)
    depth = np.zeros_like(sims)
    for i, s in enumerate(sims):
        depth[i] = (sims[: i + 1].max() - s) + (sims[i:].max() - s)
    order = np.argsort(-depth)
    if n_segments is None:
        threshold = depth.mean() - depth.std() / 2
        order = [i for i in order if depth[i] > max(threshold, 0)]
        wanted = n
    else:
        wanted = max(1, n_segments) - 1
    cuts: list[int] = []
    for i in order:
        if len(cuts) >= wanted:
            break
        cut = int(i) + 1  # boundary before unit `cut`
        if cut < min_size or n - cut < min_size:
            continue
        if all(abs(cut - c) >= min_size for c in cuts):
            cuts.append(cut)
    bounds = [0, *sorted(cuts), n]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def select_mmr(
    vectors,
    scores,
    lengths: list[int],
    *,
    max_words: int | None = None,
    max_sentences: int | None = None,
    diversity: float = 0.3,
    groups: list[int] | None = None,
    minor=None,
) -> list[int]:
    """Maximal marginal relevance under a budget: repeatedly take the unit with the best
    (1 − diversity)·relevance − diversity·(max similarity to what is already taken), scaled by
    1/√length when the budget is in words (short informative sentences stretch a word budget
    further). With `groups` (a topic segment per unit), a segment already represented counts
    half until every segment has one unit: coverage first. With `minor` (a bool per unit:
    fillers, fragments), those are never taken after the first pick, and coverage is strict:
    every segment gets a unit before any gets a second. → chosen indices in order."""
    import numpy as np

    n = len(scores)
    if n == 0:
        return []
    if max_words is None and max_sentences is None:
        max_sentences = 3
    rel = np.asarray(scores, dtype=np.float64)
    spread = rel.max() - rel.min()
    rel = (rel - rel.min()) / spread if spread > 0 else np.ones(n)
    sizes = np.asarray(lengths, dtype=np.float64).clip(min=1)
    cost = np.sqrt(sizes / np.median(sizes)) if max_words is not None else np.ones(n)
    best_sim = np.full(n, 0.0)
    group_ids = np.asarray(groups) if groups is not None else None
    n_groups = len(set(groups)) if groups is not None else 0
    covered: set[int] = set()
    chosen: list[int] = []
    available = np.ones(n, dtype=bool)
    used = 0
    while available.any():
        if max_sentences is not None and len(chosen) >= max_sentences:
            break
        if max_words is not None:
            available &= sizes <= max_words - used
            if not available.any():
                break
        weight = np.ones(n)
        eligible = available.copy()
        if minor is not None and chosen:  # fillers and fragments only when nothing else is
            eligible &= ~minor
        if group_ids is not None and len(covered) < n_groups:
            weight[np.isin(group_ids, list(covered))] = 0.5
            if minor is not None:  # strict: every segment gets a unit before any gets two
                first = eligible & ~np.isin(group_ids, list(covered))
                eligible = first if first.any() else eligible
        if not eligible.any():
            break
        gain = ((1 - diversity) * rel * weight - diversity * best_sim) / cost
        gain[~eligible] = -np.inf
        pick = int(np.argmax(gain))
        chosen.append(pick)
        if group_ids is not None:
            covered.add(int(group_ids[pick]))
        available[pick] = False
        used += int(sizes[pick])
        best_sim = np.maximum(best_sim, vectors @ vectors[pick])
    if not chosen:  # the budget is smaller than any sentence: take the best one anyway
        chosen = [int(np.argmax(rel))]
    return sorted(chosen)


SEGMENT_MIN_UNITS = 80  # shorter texts (news articles, emails) are one topic with a lead


def _segmented(n_units: int, n_pick: int) -> bool:
    """Long multi-topic documents get topic segments (coverage); short ones a global lead."""
    return n_units >= max(SEGMENT_MIN_UNITS, 4 * n_pick)


def expected_picks(
    lengths: list[int], max_words: int | None, max_sentences: int | None, informative=None
) -> int:
    """How many units a summary of this length takes: the budget over the typical length of
    the units it would pick (the more informative half, when their scores are given)."""
    if max_sentences is not None:
        return max_sentences
    if informative is not None and len(informative) == len(lengths) and lengths:
        cut = sorted(informative)[len(informative) // 2]
        lengths = [n for n, score in zip(lengths, informative, strict=True) if score >= cut]
    typical = sorted(lengths)[len(lengths) // 2] if lengths else 15
    return max(1, (max_words or 60) // max(typical, 1))


def choose_segments(units: list[Span], vectors, max_words, max_sentences):
    """Paragraphs when the text is written in real paragraphs; topic segments (TextTiling over
    the embeddings) for long unbroken text; otherwise one segment with a lead."""
    by_paragraph = paragraph_segments(units)
    if by_paragraph:
        return by_paragraph
    info = informativeness([u.text for u in units])
    n_pick = expected_picks([u.words for u in units], max_words, max_sentences, info)
    if _segmented(len(units), n_pick):
        return topic_segments(vectors, n_pick, min_size=3)
    return None


MINOR_SHARE = 0.4  # the least informative share of a long text's units
MINOR_MIN_UNITS = 20  # shorter texts: every unit may be picked


def minor_units(info):
    """Fillers and fragments: the least informative MINOR_SHARE of a long text's units (and
    any unit that says nothing), picked only when nothing else fits the budget."""
    import numpy as np

    info = np.asarray(info)
    if len(info) < MINOR_MIN_UNITS:
        return info <= 0
    return info <= np.percentile(info, 100 * MINOR_SHARE)


def extract(
    texts: list[str],
    *,
    max_words: int | None = None,
    max_sentences: int | None = None,
    focus: str | None = None,
    embedder: Any = None,
    vectors=None,
    diversity: float = 0.3,
    position_weight: float = 1.0,
    segments: list[tuple[int, int]] | None = None,
    paragraph_starts: list[bool] | None = None,
    content_weight: float = INFO_WEIGHT,
) -> tuple[list[int], Any]:
    """The extractive pipeline over units you already have (sentences, transcript segments):
    → (chosen indices in order, relevance scores). Pass `vectors` to skip embedding. Over
    several topic segments, `content_weight` of a unit's score is what it says
    (`content.informativeness`) and fillers and fragments are picked last."""
    if embedder is None:
        from ..embed import get_embedder

        embedder = get_embedder()
    if vectors is None:
        vectors = embed_units(texts, embedder)
    info = informativeness(texts)
    if segments is None:
        n_pick = expected_picks([len(t.split()) for t in texts], max_words, max_sentences, info)
        segments = (
            topic_segments(vectors, n_pick, min_size=3) if _segmented(len(texts), n_pick) else None
        )
    focus_vector = embed_units([focus], embedder)[0] if focus else None
    scores = relevance(
        vectors,
        segments=segments,
        focus_vector=focus_vector,
        position_weight=position_weight,
        paragraph_starts=paragraph_starts,
    )
    # what a unit says matters in long multi-topic text (talks, reports: fillers, asides);
    # a single-topic text (a news story) keeps its lead and centrality
    if not segments or len(segments) < 2:
        content_weight = 0.0
    if content_weight > 0:
        scores = with_content(scores, info, content_weight)
    lengths = [len(t.split()) for t in texts]
    groups = None
    if segments and len(segments) > 1:
        groups = [g for g, (a, b) in enumerate(segments) for _ in range(a, b)]
    chosen = select_mmr(
        vectors,
        scores,
        lengths,
        max_words=max_words,
        max_sentences=max_sentences,
        diversity=diversity,
        groups=groups,
        minor=minor_units(info) if content_weight > 0 else None,
    )
    return chosen, scores


# ---------------------------------------------------------------- extractive summary
def run_extractive(text: str, options: SummarizeOptions, embedder: Any, progress: Progress | None):
    began = time.perf_counter()
    units = candidates(text, clean=options.clean)
    if not units:
        raise EmptyInputError(
            "no sentences to summarize", hint="pass a text with at least one full sentence"
        )
    total_units = len(units)
    units = [units[i] for i in preselect(units)]
    split_s = time.perf_counter() - began
    texts = [u.text for u in units]
    max_words, max_sentences = target_length(options, len(text.split()))
    start = time.perf_counter()
    batch = max(8, options.batch_size * 8)
    import numpy as np

    parts = []
    step = batch * 8
    for i in range(0, len(texts), step):
        parts.append(embed_units(texts[i : i + step], embedder, batch))
        if progress:
            progress("embedding sentences", min(i + step, len(texts)), len(texts))
    vectors = np.concatenate(parts).astype(np.float32)
    embed_s = time.perf_counter() - start
    start = time.perf_counter()
    starts = [i == 0 or units[i - 1].paragraph != u.paragraph for i, u in enumerate(units)]
    segments = choose_segments(units, vectors, max_words, max_sentences)
    chosen, scores = extract(
        texts,
        max_words=max_words,
        max_sentences=max_sentences,
        focus=options.focus,
        embedder=embedder,
        vectors=vectors,
        diversity=options.diversity,
        position_weight=options.position_weight,
        segments=segments,
        paragraph_starts=starts if len({u.paragraph for u in units}) > 1 else None,
        # written paragraphs open with their topic sentence: position and centrality lead there
        content_weight=PARAGRAPH_INFO_WEIGHT if paragraph_segments(units) else INFO_WEIGHT,
    )
    select_s = time.perf_counter() - start
    picked = [
        {
            "index": i,
            "start": units[i].start,
            "end": units[i].end,
            "score": round(float(scores[i]), 4),
            "text": units[i].text,
        }
        for i in chosen
    ]
    timings = {"split_s": split_s, "embed_s": embed_s, "select_s": select_s}
    info: dict[str, Any] = {
        "sentences": total_units,
        "candidates": len(units),
        "segments": len(segments or [(0, len(units))]),
    }
    from .topics import chaptered, chapters

    if segments and chaptered(units, segments):
        info["chapters"] = chapters(units, segments, picked)
    return picked, timings, info
