"""Structure on /v1/chat/completions: `response_format` (json_object, json_schema), `tools` +
`tool_choice` (auto, none, required, a named function) with `tool_calls` in the reply and in
streams, and `logprobs` / `top_logprobs` — OpenAI's shapes. The constraint and tool logic
lives in tasks/structured.py, tasks/tools.py and models/structured; this module maps the
request onto them and the results back (docs/structured.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import Request

from ..errors import ConstraintError, InvalidOptionError
from . import schemas as s
from .endpoints import (
    _collect,
    backend,
    call,
    event_stream,
    json_response,
    server_of,
    sse,
    stream_events,
)


def wanted(body: s.ChatRequest) -> bool:
    fmt = (body.response_format or {}).get("type", "text")
    return bool(
        fmt != "text"
        or body.tools
        or body.logprobs
        or body.top_logprobs is not None
        or body.tool_choice not in (None, "none", "auto")
        or any(m.role == "tool" or m.tool_calls for m in body.messages)
    )


def _format_options(body: s.ChatRequest) -> dict[str, Any]:
    """The GenerateOptions fields of response_format and logprobs."""
    extra: dict[str, Any] = {}
    fmt = body.response_format or {}
    kind = fmt.get("type", "text")
    if kind == "json_object":
        extra["json_object"] = True
    elif kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise ConstraintError(
                "response_format json_schema needs a json_schema object with a schema",
                hint='{"type": "json_schema", "json_schema": {"name": "x", "schema": {...}}}',
            )
        extra["json_schema"] = spec["schema"]
    elif kind != "text":
        raise ConstraintError(
            f"response_format type {kind!r} is not supported",
            hint="use text, json_object or json_schema",
        )
    if body.top_logprobs is not None and not body.logprobs:
        raise InvalidOptionError("top_logprobs needs logprobs: true", hint='add "logprobs": true')
    if body.logprobs:
        extra["logprobs"] = body.top_logprobs or 0
    return extra


def _messages(body: s.ChatRequest) -> list[dict[str, Any]]:
    out = []
    for m in body.messages:
        item: dict[str, Any] = {
            "role": "system" if m.role == "developer" else m.role,
            "content": m.text(),
        }
        if m.tool_calls:
            item["tool_calls"] = m.tool_calls
        if m.role == "tool":
            item.update(tool_call_id=m.tool_call_id, name=m.name)
        out.append(item)
    return out


async def chat_completions(body: s.ChatRequest, request: Request, served):
    from ..tasks import chat as chat_task
    from ..tasks import tools as tool_task

    server = server_of(request)
    options = body.options(server.config.max_new_tokens, **_format_options(body))
    messages = _messages(body)
    tools = tool_task.parse_tools(body.tools) if body.tools else []
    mode, allowed = tool_task.choose(tools, body.tool_choice) if tools else ("none", [])
    allowed = [] if mode == "none" else allowed  # none: free text, never parsed as calls
    if not tools and body.tool_choice not in (None, "none", "auto"):
        raise ConstraintError("tool_choice names a tool, but the request declares no tools")
    if body.stream and body.n != 1:
        raise InvalidOptionError("streaming returns one choice", hint='drop "n" or "stream"')
    options = tool_task.options_for(options, allowed, mode, bool(body.parallel_tool_calls))
    plain = tool_task.fallback_messages(messages, [], "none")
    chat_task.check_messages(plain)
    engine = await backend(request, "chat", body.model)
    engine, text, params = await call(
        request, lambda: tool_task.prepare(engine, messages, allowed, mode, options)
    )
    from ..tasks.generate import GenerationStream

    def start() -> GenerationStream:
        return GenerationStream(
            engine, plain[-1]["content"], text, True, options, params, engine.load_seconds
        )

    if body.stream:
        handle = await call(request, start)
        return event_stream(_events(request, body, served, engine, handle, allowed, server))
    results = []
    for _ in range(body.n):
        handle = await call(request, start)
        results.append(await call(request, lambda h=handle: _collect(h), cancel=handle.cancel))
    for result in results:
        server.metrics.count_tokens("chat", result.prompt_tokens, result.completion_tokens)
    return await json_response(request, lambda: _response(results, served.name, allowed, body))


def _response(results: list, model: str, tools: list, body: s.ChatRequest) -> dict[str, Any]:
    from ..tasks.tools import parse

    first = results[0]
    out = s.chat_response(first, model)
    choices = []
    for i, result in enumerate(results):
        completion = result.completions[0]
        content, calls = parse(completion.text, tools) if tools else (completion.text, [])
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = [c.openai() for c in calls]
        choices.append(
            {
                "index": i,
                "message": message,
                "finish_reason": "tool_calls" if calls else completion.finish_reason,
                "logprobs": _logprobs(completion.logprobs),
            }
        )
    out["choices"] = choices
    out["usage"] = s.usage(
        sum(r.prompt_tokens for r in results), sum(r.completion_tokens for r in results)
    )
    return out


def _logprobs(items: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    return None if items is None else {"content": items, "refusal": None}


# ---------------------------------------------------------------- streaming
class ToolDeltas:
    """Text pieces → OpenAI chat deltas: content as it comes, or — once the reply turns out to
    start with <tool_call> — one tool-call delta pair (id + name, then the arguments) per
    call, each emitted when its call is complete and validated."""

    def __init__(self, handle, tools: list) -> None:
        self.handle = handle
        self.cancel = handle.cancel
        self.tools = tools
        self.calls = 0

    @property
    def result(self):
        return self.handle.result

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from ..tasks.tools import CLOSE, OPEN, parse

        buffer, mode = "", None
        for piece in self.handle:
            buffer += piece
            if mode is None:
                head = buffer.lstrip()
                if not head or (OPEN.startswith(head) and self.tools):
                    continue  # cannot tell yet
                mode = "calls" if self.tools and head.startswith(OPEN) else "content"
            if mode == "content":
                yield {"content": buffer}
                buffer = ""
                continue
            while CLOSE in buffer:
                one, _, buffer = buffer.partition(CLOSE)
                _, calls = parse(one.strip() + CLOSE, self.tools)
                for made in calls:
                    yield from self._call_deltas(made.openai())
        if mode is None and buffer:
            yield {"content": buffer}
        elif mode == "calls" and buffer.strip():
            parse(buffer.strip(), self.tools)  # a cut call raises ConstraintUnmetError

    def _call_deltas(self, call: dict[str, Any]) -> Iterable[dict[str, Any]]:
        index, self.calls = self.calls, self.calls + 1
        head = {
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        yield {"tool_calls": [{"index": index, **head}]}
        yield {
            "tool_calls": [
                {"index": index, "function": {"arguments": call["function"]["arguments"]}}
            ]
        }


async def _events(request, body, served, engine, handle, tools, server):
    cid, created = s.new_id("chatcmpl"), s.now()
    deltas = ToolDeltas(handle, tools)

    def chunk(delta: dict, finish: str | None = None, logprobs=None) -> dict:
        return {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": served.name,
            "system_fingerprint": engine.revision,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}
            ],
        }

    def closing(result) -> Iterable[dict]:
        completion = result.completions[0] if result else None
        finish = (
            "tool_calls" if deltas.calls else (completion.finish_reason if completion else "stop")
        )
        yield chunk({}, finish, _logprobs(completion.logprobs) if completion else None)
        if result is not None:
            server.metrics.count_tokens("chat", result.prompt_tokens, result.completion_tokens)
        if body.include_usage and result is not None:
            last = chunk({})
            last["choices"] = []
            last["usage"] = s.usage(result.prompt_tokens, result.completion_tokens)
            yield last

    yield sse(chunk({"role": "assistant", "content": None if tools else ""}))
    async for event in stream_events(request, deltas, chunk, closing):
        yield event
