"""Cutting text into units every text task shares: sentences (with character offsets), and
chunks packed to a token budget measured by a model's own tokenizer.

The sentence splitter is rule-based and needs no downloads: paragraph breaks, end punctuation
followed by a capital/digit/quote, and a list of abbreviations and initials that do not end a
sentence. It is linear in the text length (a 1 MB document splits in well under a second).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Span:
    """A piece of a document: its text and [start, end) character offsets in that document."""

    text: str
    start: int
    end: int
    paragraph: int = 0  # index of the paragraph (blank-line separated block) it belongs to

    @property
    def words(self) -> int:
        return len(self.text.split())


_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "etc", "inc", "ltd",
    "co", "corp", "dept", "univ", "gen", "col", "lt", "sgt", "capt", "cmdr", "adm", "gov",
    "sen", "rep", "rev", "hon", "pres", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "no", "nos", "fig", "figs", "al", "approx", "est", "vol",
    "pp", "p", "ed", "eds", "cf", "ca", "e.g", "i.e", "u.s", "u.k", "u.n", "a.m", "p.m",
    "ph.d", "op", "art", "sec", "ch", "min", "max", "avg",
}  # fmt: skip

# End punctuation, optional closing quotes/brackets, whitespace; the next sentence starts with
# an uppercase letter, a digit, an opening quote or bracket.
_BOUNDARY = re.compile(r"""([.!?…]+)(["'”’)\]]*)(\s+)(?=["'“‘(\[]?[A-Z0-9À-ÖØ-Þ])""")
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,3}[.)]|#{1,6})\s+")


def _paragraphs(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for match in _PARAGRAPH.finditer(text):
        yield start, match.start()
        start = match.end()
    yield start, len(text)


def _lines_as_units(block: str) -> bool:
    """A block of short lines (a list, headings, a table) is split per line, not joined."""
    lines = [line for line in block.split("\n") if line.strip()]
    if len(lines) < 2:
        return False
    bullets = sum(1 for line in lines if _BULLET.match(line))
    if bullets >= len(lines) / 2:
        return True
    # hard-wrapped prose: a line running on into a next line that starts in lower case
    wrapped = any(
        b.lstrip()[:1].islower() and not a.rstrip().endswith((".", "!", "?", ":"))
        for a, b in zip(lines, lines[1:], strict=False)
    )
    return not wrapped and all(len(line.split()) <= 8 for line in lines)


def _is_abbreviation(text: str, end: int) -> bool:
    """Does the word ending at `end` (just before a '.') look like an abbreviation/initial?"""
    start = end
    while start > 0 and (text[start - 1].isalpha() or text[start - 1] == "."):
        start -= 1
    word = text[start:end].lower().strip(".")
    if not word:
        return False
    if len(word) == 1 and text[start].isupper():  # an initial: J. K. Rowling
        return True
    return word in _ABBREVIATIONS


def _split_block(text: str, start: int, end: int, paragraph: int, out: list[Span]) -> None:
    block = text[start:end]
    cursor = 0
    for match in _BOUNDARY.finditer(block):
        if match.group(1) == "." and _is_abbreviation(block, match.start(1)):
            continue
        stop = match.end(2)
        _emit(text, start + cursor, start + stop, paragraph, out)
        cursor = match.end(3)
    _emit(text, start + cursor, end, paragraph, out)


def _emit(text: str, start: int, end: int, paragraph: int, out: list[Span]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        # Wrapped lines (PDF extracts, hard-wrapped text) become one line of text.
        piece = " ".join(text[start:end].split())
        out.append(Span(piece, start, end, paragraph))


def split_sentences(text: str) -> list[Span]:
    """Sentences of `text` with offsets into `text` (whitespace inside is normalized)."""
    out: list[Span] = []
    for number, (p_start, p_end) in enumerate(_paragraphs(text)):
        block = text[p_start:p_end]
        if not block.strip():
            continue
        if _lines_as_units(block):
            offset = p_start
            for line in block.split("\n"):
                if line.strip():
                    _split_block(text, offset, offset + len(line), number, out)
                offset += len(line) + 1
        else:
            _split_block(text, p_start, p_end, number, out)
    return out


def split_long(span: Span, max_words: int) -> list[Span]:
    """Cut a span longer than `max_words` words into word windows (a sentence without
    punctuation — a PDF table, a transcript — must not become one giant unit)."""
    words = list(re.finditer(r"\S+", span.text))
    if len(words) <= max_words:
        return [span]
    # Offsets inside span.text map back to the document only approximately when whitespace
    # was normalized; keep them proportional so citations still land in the right place.
    scale = (span.end - span.start) / max(len(span.text), 1)
    pieces = []
    for i in range(0, len(words), max_words):
        group = words[i : i + max_words]
        a, b = group[0].start(), group[-1].end()
        pieces.append(
            Span(
                span.text[a:b],
                span.start + int(a * scale),
                span.start + int(b * scale),
                span.paragraph,
            )
        )
    return pieces


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    end: int
    tokens: int
    first: int  # index of its first unit
    last: int  # index of its last unit (inclusive)


def pack(
    units: list[Span],
    count: Callable[[list[str]], list[int]],
    budget: int,
    *,
    overlap: int = 0,
    joiner: str = " ",
) -> list[Chunk]:
    """Pack consecutive units into chunks of at most `budget` tokens (as counted by the model's
    own tokenizer, `count`). A unit longer than the budget is cut into word windows first, so
    every character of the input lands in some chunk: nothing is dropped.

    `overlap` repeats the last N units of a chunk at the start of the next (retrieval context).
    """
    if budget < 8:
        raise ValueError(f"token budget too small: {budget}")
    sizes = count([u.text for u in units]) if units else []
    fitted: list[Span] = []
    fitted_sizes: list[int] = []
    for unit, size in zip(units, sizes, strict=True):
        if size <= budget:
            fitted.append(unit)
            fitted_sizes.append(size)
            continue
        words = max(1, int(unit.words * budget / size * 0.9))
        pieces = split_long(unit, words)
        fitted.extend(pieces)
        fitted_sizes.extend(count([p.text for p in pieces]))
    chunks: list[Chunk] = []
    i = 0
    while i < len(fitted):
        j, total = i, 0
        while j < len(fitted) and (j == i or total + fitted_sizes[j] <= budget):
            total += fitted_sizes[j]
            j += 1
        body = fitted[i:j]
        text = joiner.join(u.text for u in body)
        chunks.append(Chunk(text, body[0].start, body[-1].end, total, i, j - 1))
        if j >= len(fitted):
            break
        i = max(j - overlap, i + 1)
    # Token counts of joined pieces are close to, not exactly, the sum: verify and re-split.
    exact = count([c.text for c in chunks]) if chunks else []
    out: list[Chunk] = []
    for chunk, real in zip(chunks, exact, strict=True):
        if real <= budget or chunk.first == chunk.last:
            out.append(Chunk(chunk.text, chunk.start, chunk.end, real, chunk.first, chunk.last))
            continue
        mid = (chunk.first + chunk.last + 1) // 2
        for base, stop in ((chunk.first, mid), (mid, chunk.last + 1)):
            for sub in pack(fitted[base:stop], count, budget, joiner=joiner):
                out.append(
                    Chunk(
                        sub.text, sub.start, sub.end, sub.tokens, sub.first + base, sub.last + base
                    )
                )
    return out


# ---------------------------------------------------------------- chunks for embedding
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
# A speaker turn in a transcript: "ALICE: …", "Dr. Lee: …", "Speaker 2: …" at a line start.
_TURN = re.compile(r"^[ \t]*[A-Z][\w.'-]*(?: [A-Z0-9][\w.'-]*){0,3}:[ \t]", re.MULTILINE)


def sections(text: str) -> list[tuple[int, int, str | None]]:
    """[start, end) spans of `text` cut at Markdown headings, each with its heading path
    ("Guide › Install"); text before the first heading has none."""
    marks = list(_HEADING.finditer(text))
    if not marks:
        return [(0, len(text), None)]
    out: list[tuple[int, int, str | None]] = []
    if marks[0].start() > 0 and text[: marks[0].start()].strip():
        out.append((0, marks[0].start(), None))
    path: list[tuple[int, str]] = []
    for i, m in enumerate(marks):
        level = len(m.group(1))
        path = [(lv, t) for lv, t in path if lv < level] + [(level, m.group(2).strip())]
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.append((m.start(), end, " › ".join(t for _, t in path)))
    return out


def structured_chunks(
    text: str, embedder: Any, *, max_tokens: int | None = None, overlap: int = 1
) -> list[tuple[Chunk, str | None]]:
    """Chunks that follow the document's structure: never across a Markdown heading, a
    paragraph break or a speaker turn starts a new unit, and each chunk carries its heading
    path (searched with the text, so "How do I install it?" finds the Install section)."""
    budget = min(max_tokens or 200, embedder.max_tokens - 2)

    def count(texts: list[str]) -> list[int]:
        return [n - 2 for n in embedder.count_tokens(texts)]  # minus [CLS]/[SEP]

    out: list[tuple[Chunk, str | None]] = []
    for start, end, heading in sections(text):
        units = [
            _shift(u, start + offset)
            for offset, piece in _turns(text[start:end])
            for u in split_sentences(piece)
        ]
        if heading is not None and units and _HEADING.match(units[0].text):
            units = units[1:]  # the heading line itself travels as the chunk's heading
        if not units:
            continue
        for chunk in pack(units, count, budget, overlap=overlap):
            out.append((chunk, heading))
    return out


def _turns(text: str) -> list[tuple[int, str]]:
    """Split a transcript at speaker turns (offset, text); other text comes back whole."""
    starts = [m.start() for m in _TURN.finditer(text)]
    if len(starts) < 2:
        return [(0, text)]
    cuts = ([0] if starts[0] > 0 else []) + starts + [len(text)]
    return [(a, text[a:b]) for a, b in zip(cuts, cuts[1:], strict=False) if text[a:b].strip()]


def _shift(span: Any, offset: int) -> Any:
    if not offset:
        return span
    return type(span)(span.text, span.start + offset, span.end + offset, span.paragraph)


def chunk_text(text: str, embedder: Any, *, max_tokens: int | None = None, overlap: int = 1):
    """Chunks of `text` that the embedding model reads whole (its own tokenizer counts),
    cut along the document's structure (see `structured_chunks`)."""
    return [c for c, _ in structured_chunks(text, embedder, max_tokens=max_tokens, overlap=overlap)]
