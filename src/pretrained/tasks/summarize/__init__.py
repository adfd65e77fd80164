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
engines speed this up too. What the model writes is checked against the source
(`source_check`): sentences the source does not back are dropped and listed.

Modules: `options` (options, result, length targets), `cleaning` (boilerplate, candidate
sentences), `extractive` (the reusable core), `abstractive` (map-reduce), `source_check`,
`pipeline` (the entry point).

Pieces other tasks reuse (transcript chapters): `embed_units`, `topic_segments`, `relevance`,
`select_mmr`, `extract`, `candidates`, `clean_boilerplate`. For timed segments:

    vectors = embed_units(texts, embedder)                  # one row per transcript segment
    for start, end in topic_segments(vectors, n_chapters):  # chapter boundaries
        picked, _ = extract(texts[start:end], max_sentences=2, vectors=vectors[start:end],
                            embedder=embedder)              # key lines of the chapter
        # timecode = segments[start].start; summary = " ".join(texts[start + i] for i in picked)
"""

from .cleaning import candidates, clean_boilerplate, clean_sentences, is_noise
from .extractive import (
    choose_segments,
    embed_units,
    expected_picks,
    extract,
    paragraph_segments,
    preselect,
    relevance,
    select_mmr,
    topic_segments,
)
from .options import (
    DEFAULT_CHUNK_TOKENS,
    MAX_EMBEDDED,
    MAX_UNIT_WORDS,
    MODES,
    PART_WORDS,
    SummarizeOptions,
    SummaryResult,
    target_length,
)
from .pipeline import choose_mode, summarize
from .source_check import MIN_SUPPORT, check_against_source

__all__ = [
    "DEFAULT_CHUNK_TOKENS",
    "MAX_EMBEDDED",
    "MAX_UNIT_WORDS",
    "MIN_SUPPORT",
    "MODES",
    "PART_WORDS",
    "SummarizeOptions",
    "SummaryResult",
    "candidates",
    "check_against_source",
    "choose_mode",
    "choose_segments",
    "clean_boilerplate",
    "clean_sentences",
    "embed_units",
    "expected_picks",
    "extract",
    "is_noise",
    "paragraph_segments",
    "preselect",
    "relevance",
    "select_mmr",
    "summarize",
    "target_length",
    "topic_segments",
]
