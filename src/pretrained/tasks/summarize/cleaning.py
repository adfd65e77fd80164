"""Cleaning a document for extraction: bylines, publication stamps, share prompts, Markdown
syntax, code blocks and tables — and the candidate sentences that are left."""

from __future__ import annotations

import re

from ..chunking import Span, split_long, split_sentences
from .options import MAX_UNIT_WORDS

UNPUNCTUATED_WORDS = 40  # average words per sentence above which a text has no punctuation
SPEECH_UNIT_WORDS = 20  # …and is cut into windows of this many words

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


def clean_sentences(text: str, *, clean: bool = True, min_words: int = 4) -> list[Span]:
    """The article's sentences as the summarizer reads them: boilerplate blanked, noise lines
    and fragments under `min_words` words dropped (all of them kept if nothing is left)."""
    source = clean_boilerplate(text) if clean else text
    spans = [s for s in split_sentences(source) if not (clean and is_noise(s.text))]
    return [s for s in spans if s.words >= min_words] or spans


def candidates(text: str, *, clean: bool = True, min_words: int = 4) -> list[Span]:
    """Sentences worth considering for an extract, with offsets into `text` (long ones cut
    into word windows)."""
    kept = clean_sentences(text, clean=clean, min_words=min_words)
    size = SPEECH_UNIT_WORDS if unpunctuated(kept) else MAX_UNIT_WORDS
    out: list[Span] = []
    for span in kept:
        out.extend(split_long(span, size))
    return out


def unpunctuated(spans: list[Span]) -> bool:
    """Speech without punctuation (a recognizer's raw output): "sentences" of 40+ words on
    average over a text of some length."""
    words = sum(s.words for s in spans)
    return words >= 200 and words / max(1, len(spans)) > UNPUNCTUATED_WORDS
