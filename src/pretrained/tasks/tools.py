"""Tool calling (OpenAI's `tools` + `tool_choice`) on any local chat model.

The conversation is rendered through the model's own chat template with `tools=` when that
template uses tools; otherwise through the documented fallback: a system message listing
the tools (FALLBACK_TOOL_PROMPT) and tool turns written as text. Either way, decoding is
constrained by one grammar (models/structured, llguidance) that allows exactly:

- `auto`: a plain answer (text that does not start with "<"), or tool calls;
- `required` / a named function: tool calls only (of that function);
- `none`: no tools are shown and decoding is free.

A tool call is `<tool_call>{"name": NAME, "arguments": {...}}</tool_call>` (the Hermes / Qwen
format many templates use), with `arguments` constrained by that function's `parameters`
schema; calls are parsed back and validated against it before they are returned.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConstraintError, ConstraintUnmetError, InvalidOptionError
from ..models.backends.base import FALLBACK_CHAT_STOPS, TextBackend
from ..models.structured import Constraint, check, schema_violation
from ..models.structured.constraint import json_lark
from . import structured

OPEN, CLOSE = "<tool_call>", "</tool_call>"
FALLBACK_TOOL_PROMPT = (
    "You can call these tools. Each is described by a JSON schema of its arguments:\n"
    "{tools}\n\n"
    "To call a tool, reply with only\n"
    '<tool_call>{{"name": "TOOL_NAME", "arguments": {{...}}}}</tool_call>\n'
    "{when}"
)
_WHEN = {
    "auto": "Call a tool only when you need its result; otherwise answer in plain text. "
    "When a tool result is given, use it to answer.",
    "required": "You must call a tool now.",
}
MAX_TOOLS = 128


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]

    def openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=lambda: "call_" + uuid.uuid4().hex[:24])

    def openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {
                "name": self.name,
                "arguments": json.dumps(self.arguments, ensure_ascii=False),
            },
        }


# ---------------------------------------------------------------- request → tools and mode
def parse_tools(tools: Any) -> list[Tool]:
    if not isinstance(tools, list) or not tools:
        raise ConstraintError("tools must be a non-empty list of functions")
    if len(tools) > MAX_TOOLS:
        raise ConstraintError(f"at most {MAX_TOOLS} tools per request (got {len(tools)})")
    out: list[Tool] = []
    for i, item in enumerate(tools):
        fn = item.get("function") if isinstance(item, dict) else None
        if not isinstance(item, dict) or item.get("type", "function") != "function" or not fn:
            raise ConstraintError(
                f"tools[{i}] is not a function tool",
                hint='{"type": "function", "function": {"name": ..., "parameters": {...}}}',
            )
        name = fn.get("name")
        if not isinstance(name, str) or not name or len(name) > 64:
            raise ConstraintError(f"tools[{i}] has no valid function name (1-64 characters)")
        if any(t.name == name for t in out):
            raise ConstraintError(
                f"two tools are named {name!r}", hint="give each tool its own name"
            )
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise ConstraintError(f"the parameters of tool {name!r} must be a JSON schema object")
        check(Constraint("json_schema", json.dumps(params), f"the parameters of tool {name!r}"))
        out.append(Tool(name, str(fn.get("description") or ""), params))
    return out


def choose(tools: list[Tool], tool_choice: Any) -> tuple[str, list[Tool]]:
    """→ (mode: auto | none | required, the tools the model may call)."""
    if tool_choice in (None, "auto"):
        return "auto", tools
    if tool_choice in ("none", "required"):
        return tool_choice, tools
    name = None
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
    if not isinstance(name, str):
        raise ConstraintError(
            f"tool_choice must be auto, none, required or a function, not {tool_choice!r}",
            hint='e.g. {"type": "function", "function": {"name": "get_weather"}}',
        )
    chosen = [t for t in tools if t.name == name]
    if not chosen:
        raise ConstraintError(
            f"tool_choice names the function {name!r}, which is not in tools",
            hint=f"declared tools: {', '.join(t.name for t in tools)}",
        )
    return "required", chosen


def grammar(tools: list[Tool], mode: str, parallel: bool = False) -> str:
    """The Lark grammar of the replies `mode` allows (llguidance's dialect, %json for JSON)."""
    shapes = [
        {
            "type": "object",
            "properties": {"name": {"const": t.name}, "arguments": t.parameters},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    schema = shapes[0] if len(shapes) == 1 else {"anyOf": shapes}
    # a call is read by a program, not a person: one optional space between JSON tokens
    schema["x-guidance"] = {"whitespace_pattern": "[ ]?"}
    lines = [
        "calls: call" + (' ("\\n" call)*' if parallel else ""),
        f"call: {json.dumps(OPEN)} {json_lark(schema)} {json.dumps(CLOSE)}",
    ]
    if mode == "auto":
        return "\n".join(["start: calls | answer", "answer: /[^<\\s][\\s\\S]*/", *lines])
    return "\n".join(["start: calls", *lines])


# ---------------------------------------------------------------- messages → prompt
def has_tool_template(backend: TextBackend) -> bool:
    template = getattr(getattr(backend, "tokenizer", None), "chat_template", None)
    return isinstance(template, str) and "tools" in template


def render(backend: TextBackend, messages: list[dict[str, Any]], tools: list[Tool], mode: str):
    """The prompt text: the model's own tool template, or the fallback prompt."""
    if mode != "none" and has_tool_template(backend):
        return _template_render(backend, messages, tools)
    plain = fallback_messages(messages, tools if mode != "none" else [], mode)
    return backend.render_chat(plain)


def _template_render(backend: TextBackend, messages: list[dict[str, Any]], tools: list[Tool]):
    tok = backend.tokenizer  # type: ignore[attr-defined]
    specs = [t.openai() for t in tools]
    if hasattr(tok, "apply_chat_template"):  # transformers
        return tok.apply_chat_template(
            messages, tools=specs, tokenize=False, add_generation_prompt=True
        )
    from ..models.backends.fast_tokenizer import _compile

    return _compile(tok.chat_template).render(
        messages=messages, tools=specs, add_generation_prompt=True, **tok.special_tokens
    )


def fallback_messages(
    messages: list[dict[str, Any]], tools: list[Tool], mode: str
) -> list[dict[str, str]]:
    """Messages any chat template renders: the tools in a system message, assistant tool calls
    as their <tool_call> text, tool results as user turns that say which call they answer."""
    out: list[dict[str, str]] = []
    names: dict[str, str] = {}
    for m in messages:
        role, content = m["role"], m.get("content") or ""
        if role == "assistant" and m.get("tool_calls"):
            calls = []
            for call in m["tool_calls"]:
                fn = call.get("function") or {}
                names[call.get("id", "")] = fn.get("name", "")
                args = fn.get("arguments") or "{}"
                calls.append(
                    f'{OPEN}{{"name": {json.dumps(fn.get("name"))}, "arguments": {args}}}{CLOSE}'
                )
            out.append(
                {
                    "role": "assistant",
                    "content": (content + "\n" if content else "") + "\n".join(calls),
                }
            )
        elif role == "tool":
            name = names.get(m.get("tool_call_id") or "", m.get("name") or "the tool")
            out.append({"role": "user", "content": f"Result of {name}: {content}"})
        else:
            out.append({"role": role, "content": content})
    if tools:
        listing = "\n".join(json.dumps(t.openai()["function"], ensure_ascii=False) for t in tools)
        prompt = FALLBACK_TOOL_PROMPT.format(tools=listing, when=_WHEN[mode])
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": out[0]["content"] + "\n\n" + prompt}
        else:
            out.insert(0, {"role": "system", "content": prompt})
    return out


# ---------------------------------------------------------------- output → calls
def parse(text: str, tools: list[Tool]) -> tuple[str | None, list[ToolCall]]:
    """→ (content, tool calls) of a reply; every call validated against its parameters."""
    stripped = text.strip()
    if not stripped.startswith(OPEN):
        return text, []
    calls = []
    by_name = {t.name: t for t in tools}
    for chunk in stripped.split(OPEN)[1:]:
        body, closed, _ = chunk.partition(CLOSE)
        if not closed:
            raise ConstraintUnmetError("the tool call was cut before it was complete")
        try:
            value = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ConstraintUnmetError(f"the tool call is not valid JSON: {exc}") from None
        tool = by_name.get(value.get("name")) if isinstance(value, dict) else None
        if tool is None:
            raise ConstraintUnmetError(f"the model called an undeclared tool: {body[:80]}")
        problem = schema_violation(value.get("arguments"), tool.parameters)
        if problem:
            raise ConstraintUnmetError(f"the arguments of {tool.name} do not validate: {problem}")
        calls.append(ToolCall(tool.name, value["arguments"]))
    return None, calls


def options_for(options: Any, tools: list[Tool], mode: str, parallel: bool):
    """GenerateOptions with the tool grammar (free decoding for `none`)."""
    if mode == "none":
        return options
    if options.constraint() is not None:
        raise InvalidOptionError(
            "response_format and tools cannot be combined in one request",
            hint="drop response_format, or use tool_choice none",
        )
    return replace(
        options, grammar=grammar(tools, mode, parallel), grammar_name="the tool-call grammar"
    ).validate()


def prepare(backend: TextBackend, messages, tools, mode: str, options):
    """→ (the backend that runs it, prompt text, SamplingParams)."""
    backend = structured.engine(backend, options)
    text = render(backend, messages, tools, mode)
    extra = () if backend.has_chat_template else FALLBACK_CHAT_STOPS
    return backend, text, options.sampling(extra)
