"""Rows → token ids + labels, the one place that decides what the model is trained to predict.

Three formats:
  text        a `{field}` template rendered per row; loss on every token.
  completion  a prompt template + a completion field; loss on the completion only.
  chat        a `messages` field rendered with the model's chat template; loss on assistant turns.

Two rules hold for all of them (both are classic fine-tuning bugs):
  * EOS is appended to every example and kept in the labels, so the model learns to stop.
  * Padding is masked by *length* in the collator, never by pad id: GPT-2 and SmolLM2 use EOS as
    their pad token, and masking pad ids would mask every EOS too (transformers#23530).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, InvalidOptionError, TemplateFieldError

FORMATS = ("auto", "text", "completion", "chat")
IGNORE = -100  # label value the loss skips


class Template:
    """A `{field}` template. `{{` and `}}` are literal braces."""

    def __init__(self, text: str, option: str = "--template") -> None:
        if not isinstance(text, str) or not text.strip():
            raise InvalidOptionError(
                f"{option} is empty", hint="e.g. --template 'Quote by {author}: {text}'"
            )
        self.text = text
        self.option = option
        self.fields: list[str] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise InvalidOptionError(
                f"{option} {text!r} is not a valid template: {exc}",
                hint="reference fields as {name}; write literal braces as {{ and }}",
            ) from exc
        for _, name, _, _ in parsed:
            if name is None:
                continue
            if not re.fullmatch(r"[A-Za-z_][\w-]*", name):
                raise InvalidOptionError(
                    f"{option} {text!r}: '{{{name}}}' is not a field name",
                    hint="reference fields by name, e.g. {author}; literal braces are {{ and }}",
                )
            if name not in self.fields:
                self.fields.append(name)

    def check(self, available: list[str]) -> None:
        for name in self.fields:
            if name not in available:
                raise TemplateFieldError(
                    f"{self.option} uses the field '{name}', which the data does not have "
                    f"(fields: {', '.join(available) or 'none'})",
                    hint=f"use one of the data's fields, e.g. {{{available[0]}}}"
                    if available
                    else "check the data file",
                )

    def render(self, row: dict[str, Any]) -> str:
        return self.text.format_map({name: _text(row.get(name)) for name in self.fields})

    def prefix(self) -> Template | None:
        """The template up to its last field ('Quote by {author}: {text}' → 'Quote by {author}:'):
        what a prompt looks like when the model is to write the rest. None if nothing precedes it."""
        parsed = list(string.Formatter().parse(self.text))
        last = max((i for i, part in enumerate(parsed) if part[1] is not None), default=None)
        if last is None:
            return None
        head = "".join(
            _escape(lit) + (f"{{{name}}}" if name is not None and i < last else "")
            for i, (lit, name, _, _) in enumerate(parsed[: last + 1])
        ).rstrip()
        return Template(head, self.option) if head.strip() else None


def _escape(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    length: int  # tokens before truncation
    truncated: bool = False

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


@dataclass
class Encoded:
    examples: list[Example] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)  # every row, before truncation
    truncated: int = 0
    dropped_long: int = 0
    empty: int = 0  # rows with nothing to learn (e.g. the prompt alone fills --max-length)


class Encoder:
    """Renders and tokenizes rows for one format; shared by training, evaluation and preflight."""

    def __init__(
        self,
        tokenizer: Any,
        fmt: str,
        *,
        template: str | None = None,
        prompt_template: str | None = None,
        completion_field: str | None = None,
        messages_field: str = "messages",
        max_length: int = 512,
        drop_long: bool = False,
    ) -> None:
        self.tokenizer = tokenizer
        self.format = fmt
        self.template = Template(template) if template else None
        self.prompt_template = (
            Template(prompt_template, "--prompt-template") if prompt_template else None
        )
        self.completion_field = completion_field
        self.messages_field = messages_field
        self.max_length = max_length
        self.drop_long = drop_long
        if tokenizer.eos_token_id is None:
            raise InputError(
                "the model's tokenizer has no EOS token, so it cannot learn where examples end",
                hint="pick a model whose tokenizer defines eos_token",
            )
        self.eos_id = int(tokenizer.eos_token_id)
        if tokenizer.pad_token_id is None:
            # GPT-2 has no pad token. Reusing EOS is safe here because labels are masked by
            # length in the collator, never by pad id.
            tokenizer.pad_token = tokenizer.eos_token
        self.pad_id = int(tokenizer.pad_token_id)

    # ------------------------------------------------------------ checks
    def check_fields(self, available: list[str]) -> None:
        check_fields(
            self.format,
            available,
            template=self.template.text if self.template else None,
            prompt_template=self.prompt_template.text if self.prompt_template else None,
            completion_field=self.completion_field,
            messages_field=self.messages_field,
        )

    # ------------------------------------------------------------ rendering
    def _ids(self, text: str, special: bool) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def _chat_template(self) -> str | None:
        from ..models.backends.base import FALLBACK_CHAT_TEMPLATE

        return None if getattr(self.tokenizer, "chat_template", None) else FALLBACK_CHAT_TEMPLATE

    def _messages(self, row: dict[str, Any], index: int) -> list[dict[str, str]]:
        messages = row.get(self.messages_field)
        ok = isinstance(messages, list) and all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in messages
        )
        if not ok or not messages:
            raise InputError(
                f"row {index}: '{self.messages_field}' must be a list of {{role, content}} messages",
                hint='e.g. {"messages": [{"role": "user", "content": "Hi"}, '
                '{"role": "assistant", "content": "Hello!"}]}',
            )
        return [{"role": m["role"], "content": m["content"]} for m in messages]

    def _render_chat(self, messages: list[dict[str, str]], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages,
            tokenize=False,
            add_generation_prompt=generation_prompt,
            chat_template=self._chat_template(),
        )

    def _encode_chat(self, row: dict[str, Any], index: int) -> tuple[list[int], list[int]]:
        messages = self._messages(row, index)
        full = self._render_chat(messages, False)
        # Assistant turns as character spans: the text rendered up to turn i with a generation
        # prompt is a prefix of the full text (true of ChatML and most templates); the turn runs
        # from there to the end of the text rendered through turn i.
        spans: list[tuple[int, int]] = []
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = self._render_chat(messages[:i], True) if i else ""
            through = self._render_chat(messages[: i + 1], False)
            if not (full.startswith(before) and full.startswith(through)):
                spans = [(0, len(full))]  # the template is not prefix-stable: learn everything
                break
            spans.append((len(before), len(through)))
        enc = self.tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        offsets = enc.get("offset_mapping")
        if not spans or offsets is None:
            labels = list(ids)
        else:
            labels = [
                token if any(a <= start < b for a, b in spans) else IGNORE
                for token, (start, _) in zip(ids, offsets, strict=True)
            ]
        if self.eos_id not in [label for label in labels if label != IGNORE]:
            ids.append(self.eos_id)
            labels.append(self.eos_id)
        return ids, labels

    def encode_row(self, row: dict[str, Any], index: int = 0) -> tuple[list[int], list[int]]:
        """(input_ids, labels) of one row, untruncated, EOS appended and labelled."""
        if self.format == "chat":
            return self._encode_chat(row, index)
        if self.format == "completion":
            assert self.prompt_template is not None
            prompt = self._ids(self.prompt_template.render(row), True)
            # Tokenized apart from the prompt, exactly as at inference time (prompt alone, then
            # the model continues); the prompt tokens get no loss.
            completion = self._ids(_text(row.get(self.completion_field)), False) + [self.eos_id]
            return prompt + completion, [IGNORE] * len(prompt) + completion
        assert self.template is not None
        ids = self._ids(self.template.render(row), True)
        if not ids or ids[-1] != self.eos_id:
            ids.append(self.eos_id)
        return ids, list(ids)

    def encode(self, rows: list[dict[str, Any]]) -> Encoded:
        out = Encoded()
        for index, row in enumerate(rows):
            ids, labels = self.encode_row(row, index)
            out.lengths.append(len(ids))
            truncated = len(ids) > self.max_length
            if truncated:
                if self.drop_long:
                    out.dropped_long += 1
                    continue
                out.truncated += 1
                ids, labels = ids[: self.max_length], labels[: self.max_length]
            example = Example(ids, labels, out.lengths[-1], truncated)
            if example.trained_tokens == 0:
                out.empty += 1
                continue
            out.examples.append(example)
        return out

    # ------------------------------------------------------------ prompts for samples
    def sample_prompt(self, row: dict[str, Any], index: int = 0) -> str | None:
        """The prompt part of a row, for generating samples before/after training."""
        if self.format == "completion":
            assert self.prompt_template is not None
            return self.prompt_template.render(row)
        if self.format == "chat":
            messages = self._messages(row, index)
            last = max(
                (i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None
            )
            if not last:
                return None
            return self._render_chat(messages[:last], True)
        assert self.template is not None
        head = self.template.prefix()
        return head.render(row) if head else None


class Collator:
    """Right-pads a batch. The attention mask and the -100 labels come from each example's
    *length*, so an EOS inside the labels stays trained even when pad id == EOS id."""

    def __init__(self, pad_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_id = pad_id
        self.multiple = pad_to_multiple_of

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        if self.multiple:
            width = -(-width // self.multiple) * self.multiple
        n = len(features)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        labels = torch.full((n, width), IGNORE, dtype=torch.long)
        for i, f in enumerate(features):
            length = len(f["input_ids"])
            input_ids[i, :length] = torch.tensor(f["input_ids"], dtype=torch.long)
            attention[i, :length] = 1
            labels[i, :length] = torch.tensor(f["labels"], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


class ExampleDataset:
    """A list of examples as the dicts the Trainer and the collator read."""

    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        e = self.examples[i]
        return {"input_ids": e.input_ids, "labels": e.labels}


def check_fields(
    fmt: str,
    available: list[str],
    *,
    template: str | None = None,
    prompt_template: str | None = None,
    completion_field: str | None = None,
    messages_field: str = "messages",
) -> None:
    """Every field the format reads exists in the data (checked before any model is loaded)."""
    if fmt == "text":
        Template(template or "").check(available)
    elif fmt == "completion":
        Template(prompt_template or "", "--prompt-template").check(available)
        if completion_field not in available:
            raise TemplateFieldError(
                f"--completion-field '{completion_field}' is not in the data "
                f"(fields: {', '.join(available)})"
            )
    elif messages_field not in available:
        raise TemplateFieldError(
            f"--format chat reads the field '{messages_field}', which the data does not have "
            f"(fields: {', '.join(available)})",
            hint="name the field holding the [{role, content}, …] list with --messages-field",
        )


def choose_format(
    fmt: str,
    *,
    template: str | None,
    prompt_template: str | None,
    fields: list[str],
    messages_field: str,
) -> str:
    """auto: --prompt-template → completion; a messages field and no template → chat; else text."""
    if fmt not in FORMATS:
        raise InvalidOptionError(
            f"unknown --format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}"
        )
    if fmt != "auto":
        return fmt
    if prompt_template:
        return "completion"
    if not template and messages_field in fields:
        return "chat"
    return "text"


def default_template(fields: list[str]) -> str:
    if "text" in fields:
        return "{text}"
    raise TemplateFieldError(
        f"no --template given and the data has no 'text' field (fields: {', '.join(fields)})",
        hint="pass --template with the fields to train on, e.g. --template '"
        + " ".join(f"{{{f}}}" for f in fields[:2])
        + "'",
    )
