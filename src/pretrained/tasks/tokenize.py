"""Tokenizers made visible: ids, pieces, offsets, special tokens, decoding, comparison."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import runlog
from ..errors import EmptyInputError, InvalidOptionError
from ..models.registry import TEXT_GENERATION, resolve

SPECIAL_NAMES = (
    "bos_token",
    "eos_token",
    "pad_token",
    "unk_token",
    "sep_token",
    "cls_token",
    "mask_token",
)


@dataclass
class Token:
    id: int
    piece: str  # the vocabulary entry (e.g. 'Ġcoc' for GPT-2 style byte-level BPE)
    text: str  # what it decodes to on its own
    start: int | None  # character offsets into the input (None for added special tokens)
    end: int | None
    special: bool


@dataclass
class TokenizeResult:
    model: str
    revision: str | None
    text: str
    tokens: list[Token]
    special_tokens: dict[str, dict[str, Any]]
    vocab_size: int
    add_special_tokens: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]

    @property
    def count(self) -> int:
        return len(self.tokens)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "revision": self.revision,
            "text": self.text,
            "count": self.count,
            "ids": self.ids,
            "tokens": [asdict(t) for t in self.tokens],
            "special_tokens": self.special_tokens,
            "vocab_size": self.vocab_size,
            "add_special_tokens": self.add_special_tokens,
        }


@dataclass
class DecodeResult:
    model: str
    ids: list[int]
    text: str
    pieces: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.lru_cache(maxsize=4)
def _load(model: str | None, revision: str | None, trust_remote_code: bool):
    from ..models.loading import load_tokenizer

    resolved = resolve(model, task=TEXT_GENERATION, revision=revision)
    tokenizer, prepared = load_tokenizer(resolved, trust_remote_code=trust_remote_code)
    return tokenizer, resolved, prepared.revision


def load(model: str | None = None, revision: str | None = None, trust_remote_code: bool = False):
    """(tokenizer, display name, revision) — tokenizer files only, never the weights."""
    tokenizer, resolved, rev = _load(model, revision, trust_remote_code)
    return tokenizer, resolved.alias or resolved.id, rev


def special_tokens(tokenizer) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in SPECIAL_NAMES:
        token = getattr(tokenizer, name, None)
        if token is not None:
            out[name.removesuffix("_token")] = {
                "token": str(token),
                "id": tokenizer.convert_tokens_to_ids(str(token)),
            }
    return out


def tokenize(
    text: str,
    model: str | None = None,
    *,
    revision: str | None = None,
    add_special_tokens: bool = True,
    trust_remote_code: bool = False,
) -> TokenizeResult:
    if not isinstance(text, str) or text == "":
        raise EmptyInputError(
            "there is no text to tokenize", hint='e.g. pretrained tokenize "coconut"'
        )
    tokenizer, name, rev = load(model, revision, trust_remote_code)
    try:
        enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
    except (NotImplementedError, ValueError):  # slow (Python) tokenizers have no offsets
        enc = tokenizer(text, add_special_tokens=add_special_tokens)
        offsets = [None] * len(enc["input_ids"])
    ids = list(enc["input_ids"])
    pieces = tokenizer.convert_ids_to_tokens(ids)
    special_ids = set(tokenizer.all_special_ids)
    tokens = []
    for token_id, piece, span in zip(ids, pieces, offsets, strict=True):
        is_special = token_id in special_ids
        start, end = span if span is not None else (None, None)
        if is_special and start == end:
            start = end = None
        tokens.append(
            Token(token_id, str(piece), tokenizer.decode([token_id]), start, end, is_special)
        )
    runlog.annotate(task="tokenize", model=name, revision=rev, prompt_tokens=len(ids))
    return TokenizeResult(
        name, rev, text, tokens, special_tokens(tokenizer), len(tokenizer), add_special_tokens
    )


def parse_ids(value: str) -> list[int]:
    """'1,2, 3' or '1 2 3' → [1, 2, 3]."""
    parts = [p for p in value.replace(",", " ").split() if p]
    try:
        ids = [int(p) for p in parts]
    except ValueError as exc:
        raise InvalidOptionError(
            f"--decode takes token ids, got {value!r}", hint="e.g. --decode 1,2,3"
        ) from exc
    if not ids or any(i < 0 for i in ids):
        raise InvalidOptionError(
            f"--decode takes non-negative token ids, got {value!r}", hint="e.g. --decode 1,2,3"
        )
    return ids


def decode(
    ids: list[int],
    model: str | None = None,
    *,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> DecodeResult:
    tokenizer, name, _ = load(model, revision, trust_remote_code)
    size = len(tokenizer)
    bad = [i for i in ids if i >= size]
    if bad:
        raise InvalidOptionError(
            f"token id(s) {', '.join(map(str, bad))} are outside the vocabulary of {name} (size {size})",
            hint=f"ids go from 0 to {size - 1}",
        )
    runlog.annotate(task="tokenize", model=name)
    return DecodeResult(
        name, ids, tokenizer.decode(ids), [str(p) for p in tokenizer.convert_ids_to_tokens(ids)]
    )
