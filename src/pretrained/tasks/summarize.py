"""Summarize a whole document, however long — never by silently cutting it.

Extractive (default on CPU): split into sentences (no downloads), drop boilerplate, embed every
candidate with a sentence-embedding model (the embedded MiniLM), score each by how central it is
to the document and to its own topic segment plus a position prior (and a --focus question), then
pick sentences with MMR (relevance minus redundancy) until the length budget is met.

Abstractive: a chat model (default the embedded SmolLM2) or a seq2seq model (BART/T5/Pegasus).
The text is packed into chunks measured by the model's own tokenizer (map), the partial
summaries are combined (reduce) — recursively, at most `max_depth` levels; when a reduce step
still does not fit, its input is compressed extractively first. Every chunk, level and token
count is reported (`levels`, `--verbose`). Generation goes through `tasks.generate` so faster
engines speed this up too.

Pieces other tasks reuse (transcript chapters): `embed_units`, `topic_segments`, `relevance`,
`select_mmr`, `extract`, `candidates`, `clean_boilerplate`. For timed segments:

    vectors = embed_units(texts, embedder)                  # one row per transcript segment
    for start, end in topic_segments(vectors, n_chapters):  # chapter boundaries
        picked, _ = extract(texts[start:end], max_sentences=2, vectors=vectors[start:end],
                            embedder=embedder)              # key lines of the chapter
        # timecode = segments[start].start; summary = " ".join(texts[start + i] for i in picked)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .. import runs
from ..errors import EmptyInputError, InvalidOptionError
from .chunking import Span, pack, split_long, split_sentences

MODES = ("auto", "extractive", "abstractive")
DEFAULT_CHUNK_TOKENS = 1536  # decoder LMs: smaller chunks = better small-model summaries
PART_WORDS = (40, 80)  # length range of each partial (map/reduce) summary
MAX_UNIT_WORDS = 60  # longer "sentences" (tables, transcripts) are cut into word windows
MAX_EMBEDDED = 1200  # longer documents: a lexical pre-selection keeps this many candidates

Progress = Callable[[str, int, int], None]  # (stage, done, total)


# ---------------------------------------------------------------- options and result
@dataclass(frozen=True)
class SummarizeOptions:
    mode: str = "auto"
    sentences: int | None = None
    words: int | None = None
    ratio: float | None = None
    focus: str | None = None
    model: str | None = None  # abstractive: chat or seq2seq model (default: embedded SmolLM2)
    embedding_model: str | None = None  # extractive: sentence-embedding model (default MiniLM)
    chunk_tokens: int | None = None  # abstractive: most tokens of input per model call
    max_depth: int = 3  # abstractive: most reduce levels before extractive pre-compression
    batch_size: int = 4  # abstractive: chunks per generate call; extractive: ×8 sentences
    diversity: float = 0.3  # MMR: 0 = pure relevance, 1 = pure novelty
    position_weight: float = 1.0  # 0 switches the position prior off
    clean: bool = True  # remove boilerplate (bylines, "Click here", share prompts …)
    temperature: float = 0.0
    repetition_penalty: float = 1.15

    def validate(self) -> SummarizeOptions:
        def bad(flag: str, value: Any, rule: str, example: str) -> InvalidOptionError:
            return InvalidOptionError(
                f"{flag} must be {rule} (got {value!r})", hint=f"e.g. {flag} {example}"
            )

        if self.mode not in MODES:
            raise InvalidOptionError(
                f"unknown mode '{self.mode}'", hint=f"use one of: {', '.join(MODES)}"
            )
        given = [x for x in (self.sentences, self.words, self.ratio) if x is not None]
        if len(given) > 1:
            raise InvalidOptionError(
                "give only one of --sentences, --words, --ratio",
                hint="e.g. --words 150",
            )
        if self.sentences is not None and (
            not isinstance(self.sentences, int) or self.sentences < 1
        ):
            raise bad("--sentences", self.sentences, "a whole number ≥ 1", "5")
        if self.words is not None and (not isinstance(self.words, int) or self.words < 5):
            raise bad("--words", self.words, "a whole number ≥ 5", "150")
        if self.ratio is not None and (
            not isinstance(self.ratio, (int, float)) or not 0 < self.ratio < 1
        ):
            raise bad("--ratio", self.ratio, "between 0 and 1", "0.1")
        if self.chunk_tokens is not None and (
            not isinstance(self.chunk_tokens, int) or self.chunk_tokens < 64
        ):
            raise bad("--chunk-tokens", self.chunk_tokens, "a whole number ≥ 64", "1024")
        if not isinstance(self.max_depth, int) or not 1 <= self.max_depth <= 10:
            raise bad("--max-depth", self.max_depth, "between 1 and 10", "3")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise bad("--batch-size", self.batch_size, "a whole number ≥ 1", "4")
        if not 0 <= self.diversity <= 1:
            raise bad("--diversity", self.diversity, "between 0 and 1", "0.3")
        if self.position_weight < 0:
            raise bad("--position-weight", self.position_weight, "≥ 0", "1.0")
        if self.focus is not None and not self.focus.strip():
            raise bad("--focus", self.focus, "a question or topic", '"the costs"')
        return self


@dataclass
class SummaryResult:
    summary: str
    mode: str
    model: str
    method: str
    reason: str = ""  # why this mode (auto)
    title: str | None = None
    source: str | None = None
    input_words: int = 0
    input_tokens: int | None = None
    output_words: int = 0
    chunks: int = 0
    depth: int = 0
    levels: list[dict[str, Any]] = field(default_factory=list)
    sentences: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    engine: str | None = None  # abstractive: the text engine that ran the model
    # abstractive: the model's sentences the source does not back (dropped from `summary`)
    unsupported: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "mode": self.mode,
            "model": self.model,
            "engine": self.engine,
            "method": self.method,
            "reason": self.reason,
            "title": self.title,
            "source": self.source,
            "input_words": self.input_words,
            "input_tokens": self.input_tokens,
            "output_words": self.output_words,
            "chunks": self.chunks,
            "depth": self.depth,
            "levels": self.levels,
            "sentences": self.sentences,
            "warnings": self.warnings,
            "timings": self.timings,
            "unsupported": self.unsupported,
        }

    def to_markdown(self) -> str:
        lines = [f"# {self.title or 'Summary'}", ""]
        if self.source:
            lines += [f"*Source: {self.source}*", ""]
        if self.mode == "extractive" and self.sentences:
            lines += [f"- {s['text']}" for s in self.sentences]
        else:
            lines.append(self.summary)
        lines += ["", f"*{self.mode} summary by {self.model} · {self.output_words} words*"]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- cleaning and candidates
_BYLINE = re.compile(
    r"^\s*(?:By \. [^\n]{1,200}? \. )?(?:(?:PUBLISHED|UPDATED): \. [^\n]{1,60}? \. (?:\| \. )?)+"
    r"|^\s*By \. [^\n]{1,120}? \. (?=[A-Z])"
    r"|Last updated at [^\n]{1,60}? \. "
)
_NOISE = re.compile(
    r"^\W*(?:click here|scroll down|read more|share this|share on|follow (?:us|@|\w+ on twitter)"
    r"|advertisement\b|sign up|subscribe|copyright|©|all rights reserved|image (?:copyright|caption)"
    r"|photo(?:graph)?s?:|pictures?:|see also:|related:|watch:|video:|comments?\b|cookie"
    r"|accept (?:all )?cookies|skip to|jump to|back to top|loading)",
    re.IGNORECASE,
)
_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
# fenced code blocks and table rows are not prose: no sentence should come from them
_MD_CODE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
_MD_TABLE = re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.MULTILINE)


def _blank(match: re.Match) -> str:
    # newlines are kept so paragraphs (and line numbers) stay where they were
    return re.sub(r"[^\n]", " ", match.group(0))


def _link_text(match: re.Match) -> str:
    # keep the link's words, blank the syntax, same length so offsets still point home
    inner = match.group(1) if not match.group(0).startswith("!") else ""
    return " " + inner + " " * (len(match.group(0)) - len(inner) - 1)


def clean_boilerplate(text: str) -> str:
    """Blank out bylines/publication stamps and Markdown link syntax, keeping every other
    character at its offset (so sentence offsets still point into the original text)."""
    text = _BYLINE.sub(_blank, text)
    text = _MD_CODE.sub(_blank, text)
    text = _MD_TABLE.sub(_blank, text)
    return _MD_LINK.sub(_link_text, text)


def is_noise(sentence: str) -> bool:
    """Share prompts, cookie banners, Markdown headings, lines without words."""
    return (
        bool(_NOISE.match(sentence))
        or sentence.startswith("#")
        or not re.search(r"[^\W\d_]{2}", sentence)
    )


def candidates(text: str, *, clean: bool = True, min_words: int = 4) -> list[Span]:
    """Sentences worth considering for an extract, with offsets into `text`."""
    source = clean_boilerplate(text) if clean else text
    spans = [s for s in split_sentences(source) if not (clean and is_noise(s.text))]
    kept = [s for s in spans if s.words >= min_words] or spans
    out: list[Span] = []
    for span in kept:
        out.extend(split_long(span, MAX_UNIT_WORDS))
    return out


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


def _normalize(vector):
    import numpy as np

    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def topic_segments(vectors, n_segments: int | None = None, *, min_size: int = 3, window: int = 3):
    """Split a sequence of unit vectors into topic segments (TextTiling over embeddings):
    boundaries go where the similarity between the `window` units before and after a gap has
    its deepest valleys. → list of (start, end) index pairs covering every unit, in order.

    n_segments=None picks the valleys deeper than mean − std/2 (like TextTiling)."""
    import numpy as np

    n = len(vectors)
    if n < 2 * min_size:
        return [(0, n)] if n else []
    gaps = []
    for g in range(1, n):
        left = _normalize(vectors[max(0, g - window) : g].mean(axis=0))
        right = _normalize(vectors[g : g + window].mean(axis=0))
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
    doc = _normalize(vectors.mean(axis=0))
    central = vectors @ doc
    segments = segments or [(0, n)]
    local = np.zeros(n, dtype=np.float32)
    position = np.zeros(n, dtype=np.float32)
    single = len(segments) == 1
    for start, end in segments:
        centroid = _normalize(vectors[start:end].mean(axis=0))
        local[start:end] = vectors[start:end] @ centroid
        ranks = np.arange(end - start, dtype=np.float32)
        # a lead prior: 1 for the first unit, decaying over the first few; within segments,
        # the topic sentence of a section plays the role of a news lead
        position[start:end] = 1.0 / np.sqrt(1.0 + ranks) if single else np.exp(-ranks / 2.0)
    if paragraph_starts is not None:
        position = np.maximum(position, 0.5 * np.asarray(paragraph_starts, dtype=np.float32))
    if single:
        score = 0.5 * central + 0.5 * local + 0.35 * position_weight * position
    else:
        score = 0.25 * central + 0.75 * local + 0.2 * position_weight * position
    if focus_vector is not None:
        score = score + 1.0 * (vectors @ focus_vector)
    return score.astype(np.float32)


def select_mmr(
    vectors,
    scores,
    lengths: list[int],
    *,
    max_words: int | None = None,
    max_sentences: int | None = None,
    diversity: float = 0.3,
    groups: list[int] | None = None,
) -> list[int]:
    """Maximal marginal relevance under a budget: repeatedly take the unit with the best
    (1 − diversity)·relevance − diversity·(max similarity to what is already taken), scaled by
    1/√length when the budget is in words (short informative sentences stretch a word budget
    further). With `groups` (a topic segment per unit), a segment already represented counts
    half until every segment has one unit: coverage first. → chosen indices in order."""
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
        if group_ids is not None and len(covered) < n_groups:
            weight[np.isin(group_ids, list(covered))] = 0.5
        gain = ((1 - diversity) * rel * weight - diversity * best_sim) / cost
        gain[~available] = -np.inf
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


def paragraph_segments(units: list[Span]) -> list[tuple[int, int]] | None:
    """Short texts written in real paragraphs (≥ 2, of ≥ 3 sentences on average) are
    segmented by paragraph; one-sentence-per-paragraph news copy stays one segment."""
    bounds = [0] + [i for i in range(1, len(units)) if units[i].paragraph != units[i - 1].paragraph]
    if len(bounds) < 2 or len(units) / len(bounds) < 3:
        return None
    ends = bounds[1:] + [len(units)]
    return list(zip(bounds, ends, strict=True))


def expected_picks(lengths: list[int], max_words: int | None, max_sentences: int | None) -> int:
    if max_sentences is not None:
        return max_sentences
    typical = sorted(lengths)[len(lengths) // 2] if lengths else 15
    return max(1, (max_words or 60) // max(typical, 1))


def choose_segments(units: list[Span], vectors, max_words, max_sentences):
    """Paragraphs when the text is written in real paragraphs; topic segments (TextTiling over
    the embeddings) for long unbroken text; otherwise one segment with a lead."""
    by_paragraph = paragraph_segments(units)
    if by_paragraph:
        return by_paragraph
    n_pick = expected_picks([u.words for u in units], max_words, max_sentences)
    if _segmented(len(units), n_pick):
        return topic_segments(vectors, n_pick, min_size=3)
    return None


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
) -> tuple[list[int], Any]:
    """The extractive pipeline over units you already have (sentences, transcript segments):
    → (chosen indices in order, relevance scores). Pass `vectors` to skip embedding."""
    if embedder is None:
        from .embed import get_embedder

        embedder = get_embedder()
    if vectors is None:
        vectors = embed_units(texts, embedder)
    if segments is None:
        n_pick = expected_picks([len(t.split()) for t in texts], max_words, max_sentences)
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
    )
    return chosen, scores


# ---------------------------------------------------------------- length targets
def target_length(options: SummarizeOptions, input_words: int) -> tuple[int | None, int | None]:
    """→ (max_words, max_sentences). Default: about 10 % of the text, 50 to 250 words."""
    if options.sentences is not None:
        return None, options.sentences
    if options.words is not None:
        return options.words, None
    if options.ratio is not None:
        return max(10, round(input_words * options.ratio)), None
    return int(min(250, max(50, round(input_words * 0.1)))), None


# ---------------------------------------------------------------- extractive summary
def _extractive(text: str, options: SummarizeOptions, embedder: Any, progress: Progress | None):
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
    info = {
        "sentences": total_units,
        "candidates": len(units),
        "segments": len(segments or [(0, len(units))]),
    }
    return picked, timings, info


# ---------------------------------------------------------------- abstractive summary
_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|okay|certainly)[,!.]?\s*)?(?:here(?:'s| is) (?:a |the |an )?"
    r"(?:concise |short |brief |combined |final )*summary[^:\n]*:|summary\s*:)\s*",
    re.IGNORECASE,
)


def _tidy(text: str) -> str:
    return _PREAMBLE.sub("", text.strip()).strip()


def _counter(backend: Any) -> Callable[[list[str]], list[int]]:
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is not None and callable(tokenizer):
        return lambda texts: [
            len(ids)
            for ids in tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        ]
    return lambda texts: [backend.count_tokens(t, add_special_tokens=False) for t in texts]


class _Prompter:
    """Builds the model input for a piece of text, and knows how many tokens the instructions
    around it cost, so chunks are packed to what is left of the context window."""

    def __init__(self, backend: Any, options: SummarizeOptions) -> None:
        self.backend = backend
        self.options = options
        self.seq2seq = bool(getattr(backend, "is_encoder_decoder", False))
        self.chat = backend.has_chat_template and not self.seq2seq
        self.prefix = getattr(backend, "task_prefix", "") if self.seq2seq else ""

    def instruction(self, length: str) -> str:
        focus = f" Focus on: {self.options.focus}." if self.options.focus else ""
        return f"Write a summary of this text {length}. Keep names, numbers and facts.{focus}"

    def prompt(self, text: str, length: str) -> str:
        """Small chat models follow an instruction placed after the text best; the reduce step
        gets the same plain request (asking to "combine partial summaries" confuses them)."""
        if self.seq2seq:
            return self.prefix + text
        if self.chat:
            return f"Text:\n{text}\n\n{self.instruction(length)}"
        return f"{text}\n\nTL;DR:"

    def rendered(self, prompt: str) -> str:
        """What the engine actually reads (the chat template around the prompt)."""
        if self.chat:
            return self.backend.render_chat([{"role": "user", "content": prompt}])
        return prompt

    def overhead(self, count: Callable[[list[str]], list[int]], length: str) -> int:
        empty = self.rendered(self.prompt("", length))
        return count([empty])[0] + 8  # + a little for the joins and special tokens


def _length_phrase(max_words: int | None, max_sentences: int | None) -> str:
    if max_sentences is not None:
        return f"in {max_sentences} sentence{'s' if max_sentences > 1 else ''}"
    return f"in about {max_words} words"


def _new_tokens(max_words: int | None, max_sentences: int | None) -> int:
    if max_sentences is not None:
        return 40 * max_sentences + 24
    return int(1.7 * (max_words or 100)) + 24


def _first_sentences(text: str, n: int) -> str:
    spans = split_sentences(text)
    return " ".join(s.text for s in spans[:n]) if len(spans) > n else text


class _Abstractive:
    def __init__(self, backend, options: SummarizeOptions, embedder_fn, progress) -> None:
        self.backend = backend
        self.options = options
        self.embedder_fn = embedder_fn
        self.progress = progress
        self.count = _counter(backend)
        self.prompter = _Prompter(backend, options)
        self.levels: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.prompt_tokens = 0
        self.new_tokens = 0
        self.calls = 0

    def budget(self, new_tokens: int, length: str) -> int:
        context = self.backend.context_length or 1024
        reserve = 0 if self.prompter.seq2seq else new_tokens
        room = context - self.prompter.overhead(self.count, length) - reserve - 16
        chunk = self.options.chunk_tokens or (
            DEFAULT_CHUNK_TOKENS if not self.prompter.seq2seq else room
        )
        budget = min(chunk, room)
        if budget < 64:
            raise InvalidOptionError(
                f"{self.backend.model_id} has a {context}-token context: too small to summarize "
                f"with {new_tokens} new tokens",
                hint="ask for a shorter summary (--words 60) or use a model with a longer context",
            )
        return budget

    def generate(self, prompts: list[str], new_tokens: int, stage: str) -> list[str]:
        from .generate import GenerateOptions, generate

        if self.prompter.seq2seq:  # the decoder has its own position limit
            new_tokens = min(new_tokens, (self.backend.context_length or 1024) - 2)

        options = GenerateOptions(
            max_new_tokens=new_tokens,
            temperature=self.options.temperature,
            repetition_penalty=self.options.repetition_penalty,
            batch_size=self.options.batch_size,
            seed=0 if self.options.temperature > 0 else None,
            raw=not self.prompter.chat,
        )
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if self.progress:
                self.progress(stage, done, len(prompts))

        if self.progress:
            self.progress(stage, 0, len(prompts))
        results = generate(prompts, options=options, backend=self.backend, on_progress=advance)
        out = []
        for r in results:
            self.calls += 1
            self.prompt_tokens += r.prompt_tokens
            self.new_tokens += r.completion_tokens
            if r.completions[0].finish_reason == "length":
                self.warnings.append(
                    f"a {stage} output reached its {new_tokens}-token limit and ends mid-sentence"
                )
            out.append(_tidy(r.text))
        return out

    def pack(self, text: str, budget: int) -> list[str]:
        units = split_sentences(text) or [Span(text, 0, len(text))]
        return [c.text for c in pack(units, self.count, budget)]

    def compress(self, text: str, budget: int) -> str:
        """Extractive pre-compression of text that must fit `budget` tokens."""
        units = candidates(text, clean=False, min_words=1)
        words = max(20, int(budget / 1.6))
        embedder = self.embedder_fn()
        texts = [u.text for u in units]
        vectors = embed_units(texts, embedder)
        while True:
            chosen, _ = extract(
                texts, max_words=words, embedder=embedder, vectors=vectors, position_weight=0.3
            )
            short = " ".join(texts[i] for i in chosen)
            if self.count([short])[0] <= budget:
                return short
            if words <= 20:
                break
            words = int(words * 0.8)
        # Degenerate intermediate text (no sentences, no spaces): keep the longest prefix of the
        # extract that fits, and say so.
        low, high = 0, len(short)
        while low < high:
            mid = (low + high + 1) // 2
            if self.count([short[:mid]])[0] <= budget:
                low = mid
            else:
                high = mid - 1
        self.warnings.append(
            f"intermediate summaries had no sentence structure: {len(short) - low} of "
            f"{len(short)} characters of them were cut to fit the context"
        )
        return short[:low]

    def squeeze(self, joined: str, tokens: int, budget: int, level: int) -> str:
        squeezed = self.compress(joined, budget)
        self.levels.append(
            {
                "level": level,
                "stage": "extractive pre-compression",
                "chunks": 1,
                "tokens": [tokens],
                "to_tokens": self.count([squeezed])[0],
            }
        )
        return squeezed

    def run(self, text: str, max_words: int | None, max_sentences: int | None) -> str:
        final_length = _length_phrase(max_words, max_sentences)
        final_tokens = _new_tokens(max_words, max_sentences)
        budget = self.budget(max(final_tokens, _new_tokens(PART_WORDS[1], None)), final_length)
        total_tokens = self.count([text])[0]
        if total_tokens <= budget:
            self.levels.append(
                {"level": 0, "stage": "single", "chunks": 1, "tokens": [total_tokens]}
            )
            prompt = self.prompter.prompt(text, final_length)
            return self.generate([prompt], final_tokens, "summarizing")[0]

        chunks = self.pack(text, budget)
        sizes = self.count(chunks)
        # partial summaries: together about twice the final length, 40 to 80 words each
        wanted = 2 * (max_words or 25 * (max_sentences or 3)) // len(chunks)
        part_words = max(PART_WORDS[0], min(PART_WORDS[1], wanted))
        part_length = _length_phrase(part_words, None)
        part_tokens = _new_tokens(part_words, None)
        self.levels.append({"level": 0, "stage": "map", "chunks": len(chunks), "tokens": sizes})
        prompts = [self.prompter.prompt(c, part_length) for c in chunks]
        partials = self.generate(prompts, part_tokens, "map: chunks")
        level = 0
        while True:
            joined = "\n\n".join(p for p in partials if p)
            joined_tokens = self.count([joined])[0]
            if joined_tokens <= budget:
                break
            level += 1
            groups = self.pack(joined, budget) if level <= self.options.max_depth else []
            # depth exhausted, or no progress (the partials do not shrink): compress extractively
            if level > self.options.max_depth or len(groups) >= len(partials):
                joined = self.squeeze(joined, joined_tokens, budget, level)
                break
            self.levels.append(
                {
                    "level": level,
                    "stage": "reduce",
                    "chunks": len(groups),
                    "tokens": self.count(groups),
                }
            )
            prompts = [self.prompter.prompt(g, part_length) for g in groups]
            partials = self.generate(prompts, part_tokens, f"reduce level {level}")
        self.levels.append(
            {"level": level + 1, "stage": "final", "chunks": 1, "tokens": [self.count([joined])[0]]}
        )
        prompt = self.prompter.prompt(joined, final_length)
        return self.generate([prompt], final_tokens, "final summary")[0]


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

    from .grounding import content_words

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


# ---------------------------------------------------------------- entry point
def choose_mode(options: SummarizeOptions) -> tuple[str, str]:
    """auto → abstractive on a GPU or when a generative --model is given; else extractive."""
    if options.mode != "auto":
        return options.mode, f"--mode {options.mode}"
    if options.model:
        return "abstractive", f"--model {options.model} given"
    try:
        from ..models.loading import cuda_available

        if cuda_available():
            return "abstractive", "a CUDA GPU is available"
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    return (
        "extractive",
        "CPU: extractive takes seconds (--mode abstractive for a model-written summary)",
    )


def summarize(
    text_or_document: Any,
    options: SummarizeOptions | None = None,
    *,
    backend: Any = None,
    embedder: Any = None,
    on_progress: Progress | None = None,
    **load_options: Any,
) -> SummaryResult:
    """Summarize a text (str) or a `sources.Document`. See the module docstring."""
    began = time.perf_counter()
    options = (options or SummarizeOptions()).validate()
    if isinstance(text_or_document, str):
        text, title, source = text_or_document, None, None
    else:
        document = text_or_document
        text, title, source = document.text, document.title, document.location
    if not isinstance(text, str) or not text.strip():
        raise EmptyInputError("nothing to summarize: the text is empty")
    if backend is not None and options.mode == "auto":
        options = replace(options, mode="abstractive")
    mode, reason = choose_mode(options)
    input_words = len(text.split())
    max_words, max_sentences = target_length(options, input_words)

    def get_embedder():
        nonlocal embedder
        if embedder is None:
            from .embed import get_embedder as load

            device = load_options.get("device")
            embedder = load(None, options.embedding_model, device=device)
        return embedder

    if mode == "extractive":
        engine = get_embedder()
        picked, timings, info = _extractive(text, options, engine, on_progress)
        summary = " ".join(p["text"] for p in picked)
        result = SummaryResult(
            summary=summary,
            mode="extractive",
            model=engine.model_id,
            method="sentence embeddings → topic segments → relevance (centrality + position"
            + (" + focus" if options.focus else "")
            + ") → MMR",
            reason=reason,
            title=title,
            source=source,
            input_words=input_words,
            output_words=len(summary.split()),
            chunks=info["segments"],
            sentences=picked,
            timings={k: round(v, 3) for k, v in timings.items()},
        )
        result.levels = [{"stage": "extractive", **info}]
        runs.annotate(
            task="summarize", model=engine.model_id, device=engine.device, mode="extractive"
        )
    else:
        if backend is None:
            from ..models import load

            backend = load(options.model, task="summarize", **load_options)
        start = time.perf_counter()
        worker = _Abstractive(backend, options, get_embedder, on_progress)
        summary = worker.run(text, max_words, max_sentences)
        if max_sentences is not None:
            summary = _first_sentences(summary, max_sentences)
        summary, unsupported = check_against_source(summary, text)
        if unsupported:
            worker.warnings.append(
                f"{len(unsupported)} generated sentence(s) dropped: the source does not back "
                "them (--json lists them)"
            )
        if unsupported and not summary.strip():
            worker.warnings.append(
                "nothing the model wrote was backed by the source: this is an extractive "
                "summary instead"
            )
            picked, _, _ = _extractive(
                text, replace(options, mode="extractive"), get_embedder(), on_progress
            )
            summary = " ".join(p["text"] for p in picked)
        depth = max((lv.get("level", 0) for lv in worker.levels), default=0)
        result = SummaryResult(
            summary=summary,
            mode="abstractive",
            model=backend.model_id,
            method="map-reduce over chunks measured by the model's tokenizer"
            if len(worker.levels) > 1
            else "one pass (the text fits the context)",
            reason=reason,
            title=title,
            source=source,
            input_words=input_words,
            input_tokens=worker.count([text])[0] if input_words < 2_000_000 else None,
            output_words=len(summary.split()),
            chunks=worker.levels[0]["chunks"],
            depth=depth,
            levels=worker.levels,
            warnings=worker.warnings,
            timings={
                "generate_s": round(time.perf_counter() - start, 3),
                "model_calls": worker.calls,
                "prompt_tokens": worker.prompt_tokens,
                "new_tokens": worker.new_tokens,
            },
        )
        result.engine = backend.engine
        result.unsupported = unsupported
        if not summary.strip():
            result.warnings.append("the model returned an empty summary")
        runs.annotate(
            task="summarize",
            model=backend.model_id,
            revision=backend.revision,
            device=backend.device,
            engine=backend.engine,
            mode="abstractive",
        )
    result.timings["total_s"] = round(time.perf_counter() - began, 3)
    return result
