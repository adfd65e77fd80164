"""Prompt lists: one prompt per line, or JSONL with a prompt field."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import EmptyInputError, UnreadableInputError
from .files import read_text_file

PROMPT_FIELDS = ("prompt", "text", "input", "question")


def parse_prompts(text: str, name: str = "input") -> list[str]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise EmptyInputError(
            f"'{name}' has no prompts",
            hint='write one prompt per line, or JSONL with a "prompt" field',
        )
    jsonl = name.endswith(".jsonl") or lines[0].lstrip().startswith(("{", '"'))
    if not jsonl:
        return [line.rstrip("\r") for line in lines]
    prompts = []
    for number, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UnreadableInputError(
                f"{name} line {number} is not valid JSON ({exc.msg})",
                hint="write one JSON object per line, or plain text with one prompt per line",
            ) from exc
        if isinstance(item, str):
            prompts.append(item)
            continue
        field = next(
            (f for f in PROMPT_FIELDS if isinstance(item, dict) and isinstance(item.get(f), str)),
            None,
        )
        if field is None:
            keys = ", ".join(item) if isinstance(item, dict) else type(item).__name__
            raise UnreadableInputError(
                f"{name} line {number} has no prompt field (found: {keys})",
                hint=f"give each line one of the fields: {', '.join(PROMPT_FIELDS)}",
            )
        prompts.append(item[field])
    return prompts


def read_prompt_file(path: str | Path) -> list[str]:
    return parse_prompts(read_text_file(path), str(path))
