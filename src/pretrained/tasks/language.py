"""Which language a text is in (py3langid: a naive Bayes model over byte n-grams for 97
languages, shipped inside the wheel, no downloads), and a warning when a model does not read it.

Measured on benchmarks/data/language_id.jsonl (30 short sentences in English, French, German,
Spanish, Portuguese and Japanese, many with emoji): 30/30, and no English sentence of the
sentiment sets (120) taken for another language. Very short texts ("ok", "Danke") get low
probabilities and are left alone: a warning needs MIN_PROBABILITY.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

MIN_PROBABILITY = 0.3  # over all 97 languages; foreign sentences measured ≥ 0.37, English ≥ 0.15
_lock = threading.Lock()


@functools.cache
def _identifier() -> Any:
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError:  # the text extra is not installed: no language check
        return None
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> tuple[str, float] | None:
    """(ISO 639-1 code, probability), or None when the language-ID library is missing."""
    identifier = _identifier()
    if identifier is None:
        return None
    with _lock:  # the identifier keeps per-call state
        code, probability = identifier.classify(text)
    return str(code), float(probability)


def unread_language(text: str, reads: tuple[str, ...]) -> tuple[str, float] | None:
    """(code, probability) when `text` is confidently in a language outside `reads`."""
    if not reads or sum(ch.isalpha() for ch in text) < 4:
        return None
    found = detect(text)
    if found is None or found[0] in reads or found[1] < MIN_PROBABILITY:
        return None
    return found


def language_warning(text: str, model: str, reads: tuple[str, ...]) -> str | None:
    """One line for a text in a language `model` does not read, else None."""
    found = unread_language(text, reads)
    if found is None:
        return None
    code, probability = found
    languages = ", ".join(reads)
    return (
        f"the text looks like language '{code}' (p={probability:.2f}) but {model} reads "
        f"{languages} only: its label may be wrong"
    )
