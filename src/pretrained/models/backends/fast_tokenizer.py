"""Tokens and chat templates without importing transformers (or torch).

The fast engines must start in well under a second, and `import transformers` alone costs
more than that on a small CPU. Everything a generating engine needs from a tokenizer folder
saved by transformers is in three files: `tokenizer.json` (read by the `tokenizers` library,
which is what transformers' fast tokenizers wrap), `tokenizer_config.json` (special tokens,
chat template) and `chat_template.jinja` / `generation_config.json` when present.

Chat templates are rendered the way transformers renders them (a sandboxed Jinja environment
with `trim_blocks`/`lstrip_blocks`, `raise_exception`, `strftime_now` and a `tojson` that does
not escape HTML, the special tokens passed as variables); `tests/models/test_fast_engines.py`
checks the output is identical to `tokenizer.apply_chat_template` for every model it tests.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ...errors import UnsupportedModelError
from .base import FALLBACK_CHAT_TEMPLATE

# The files that make up a saved tokenizer (copied next to converted and exported weights).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "added_tokens.json",
    "chat_template.jinja",
    "generation_config.json",
)
_SPECIAL = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token")


def _token_text(value: Any) -> str | None:
    """tokenizer_config stores special tokens as text or as an AddedToken dict."""
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


@functools.lru_cache(maxsize=16)
def _compile(template: str):
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


class FastTokenizer:
    """The subset of a transformers tokenizer that generation needs, on `tokenizers` alone."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        folder = Path(folder)
        if not (folder / "tokenizer.json").exists():
            raise UnsupportedModelError(
                f"'{folder}' has no tokenizer.json, which the fast engines need",
                hint="use --engine transformers for models with only a slow (sentencepiece) tokenizer",
            )
        self.folder = folder
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        config = _read_json(folder / "tokenizer_config.json")
        self.special_tokens = {k: t for k in _SPECIAL if (t := _token_text(config.get(k)))}
        template = config.get("chat_template")
        if (folder / "chat_template.jinja").exists():
            template = (folder / "chat_template.jinja").read_text()
        if isinstance(template, list):  # named templates: use the default one
            named = {t.get("name"): t.get("template") for t in template}
            template = named.get("default")
        self.chat_template: str | None = template or None
        self.clean_up_spaces = bool(config.get("clean_up_tokenization_spaces", False))
        self.eos_ids = self._eos_ids(config)

    # ------------------------------------------------------------ special tokens
    def token_id(self, token: str | None) -> int | None:
        return self.tokenizer.token_to_id(token) if token else None

    def _eos_ids(self, config: dict[str, Any]) -> list[int]:
        """EOS ids the way the transformers engine collects them: generation_config first,
        then the tokenizer's eos token."""
        ids: list[int] = []
        gen = _read_json(self.folder / "generation_config.json").get("eos_token_id")
        for value in [*(gen if isinstance(gen, list) else [gen])] + [
            self.token_id(self.special_tokens.get("eos_token"))
        ]:
            if isinstance(value, int) and value not in ids:
                ids.append(value)
        return ids

    @property
    def pad_id(self) -> int | None:
        pad = self.token_id(self.special_tokens.get("pad_token"))
        return pad if pad is not None else (self.eos_ids[0] if self.eos_ids else None)

    # ------------------------------------------------------------ text ↔ ids
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        text = self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)
        return _clean_up_spaces(text) if self.clean_up_spaces else text

    def tokens(self, ids: list[int]) -> list[str]:
        return [self.tokenizer.id_to_token(i) for i in ids]

    # ------------------------------------------------------------ chat
    @property
    def has_chat_template(self) -> bool:
        return bool(self.chat_template)

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        template = self.chat_template or FALLBACK_CHAT_TEMPLATE
        return _compile(template).render(
            messages=[dict(m) for m in messages],
            tools=None,
            documents=None,
            add_generation_prompt=True,
            **self.special_tokens,
        )


class TokenizerMethods:
    """The chat/token half of the TextBackend protocol, for engines holding a FastTokenizer."""

    tokenizer: FastTokenizer

    @property
    def has_chat_template(self) -> bool:
        return self.tokenizer.has_chat_template

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.render_chat(messages)

    def count_tokens(self, text: str, add_special_tokens: bool = True) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens))


class IncrementalDecoder:
    """Turns a growing list of token ids into text deltas, holding back an incomplete UTF-8
    character (a byte-level BPE token can carry half of one) until the next token completes it."""

    def __init__(self, tokenizer: FastTokenizer) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.text = ""

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):
            return ""
        delta, self.text = text[len(self.text) :], text
        return delta


def _clean_up_spaces(text: str) -> str:
    """transformers' clean_up_tokenization (used when the tokenizer config asks for it)."""
    for a, b in (
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ):
        text = text.replace(a, b)
    return text


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
