"""Constrained decoding (models/structured, tasks/structured.py, tasks/tools.py): bad and
impossible constraints refused before decoding, outputs of a random tiny model that always
validate, logprobs, the CTranslate2 hand-off, and the tool-call grammar."""

from __future__ import annotations

import json

import pytest

from pretrained.errors import ConstraintError, ConstraintUnmetError
from pretrained.models.structured import build
from pretrained.tasks import tools

# bounded outputs, so a random model cannot wander past the token limit
SCHEMA = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "minimum": 0, "maximum": 9}},
    "required": ["ok", "n"],
    "additionalProperties": False,
    "x-guidance": {"whitespace_flexible": False},
}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"json_schema": {"type": "strin"}}, "not a valid JSON schema"),
        ({"json_schema": '{"type": '}, "not valid JSON"),
        ({"json_schema": "missing.json"}, "neither JSON nor a file"),
        ({"json_schema": {"type": "integer", "minimum": 5, "maximum": 1}}, "unsatisfiable"),
        ({"json_schema": {"enum": []}}, "cannot constrain"),
        ({"regex": "[a-"}, "does not compile"),
        ({"choice": ["a", ""]}, "non-empty"),
        ({"choice": ["a", "a"]}, "twice"),
        ({"regex": "a", "choice": ["a"]}, "cannot be combined"),
    ],
)
def test_bad_constraints_are_refused_before_any_model_loads(options, message):
    with pytest.raises(ConstraintError) as info:
        build(**options)
    assert message.lower() in info.value.message.lower()


def test_outputs_are_validated():
    constraint = build(json_schema=SCHEMA)
    assert constraint.check_output('{"ok":true,"n":3}') == {"ok": True, "n": 3}
    with pytest.raises(ConstraintUnmetError, match="does not match"):
        constraint.check_output('{"ok":true,"n":30}')
    with pytest.raises(ConstraintUnmetError, match="token limit"):
        constraint.check_output('{"ok":tr', "length")
    assert build(regex="[0-9]{3}").check_output("123") == "123"
    with pytest.raises(ConstraintUnmetError):
        build(choice="yes,no").check_output("maybe")


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    from pretrained.models import load

    return load(str(tiny_llama_dir), engine="transformers")


@pytest.mark.parametrize(
    "options",
    [{"json_schema": SCHEMA}, {"regex": "[0-9]{3}-[a-c]{2}"}, {"choice": "red,green,blue"}],
)
def test_a_random_model_only_says_what_the_constraint_allows(tiny, options):
    from pretrained import generate

    for seed in range(3):  # sampling from random weights: anything the mask lets through
        result = generate(
            "hello", backend=tiny, temperature=1.0, seed=seed, max_new_tokens=40, **options
        )
        build(**options).check_output(result.text)  # validated again here: never a stub
        assert result.engine == "transformers"


def test_logprobs_one_entry_per_token_with_alternatives(tiny):
    from pretrained import generate

    result = generate("hello", backend=tiny, temperature=0, max_new_tokens=6, logprobs=3)
    entries = result.completions[0].logprobs
    assert entries and len(entries) <= result.completions[0].completion_tokens
    assert all(len(e["top_logprobs"]) == 3 and e["logprob"] <= 0 for e in entries)
    assert "".join(e["token"] for e in entries) == result.text
    # greedy: the chosen token is the most likely one (repetition penalty 1)
    greedy = generate(
        "hello", backend=tiny, temperature=0, max_new_tokens=4, logprobs=1, repetition_penalty=1.0
    )
    for e in greedy.completions[0].logprobs:
        assert e["logprob"] == pytest.approx(e["top_logprobs"][0]["logprob"])


def test_ctranslate2_hands_constrained_requests_off_and_says_so(tiny_llama_dir, capsys):
    pytest.importorskip("ctranslate2")
    from pretrained import generate
    from pretrained.models import load

    backend = load(str(tiny_llama_dir), engine="ctranslate2")
    result = generate("hi", backend=backend, choice="yes,no", temperature=0, max_new_tokens=5)
    assert result.text in ("yes", "no") and result.engine == "transformers"
    assert "ctranslate2 engine cannot apply" in capsys.readouterr().err


def test_an_empty_language_is_refused_with_the_tokenizer(tiny):
    from pretrained import generate

    with pytest.raises(ConstraintError, match="never be met"):
        generate("hi", backend=tiny, regex=r"[^\s\S]")


# ---------------------------------------------------------------- tools
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 12}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


@pytest.mark.parametrize(
    ("declared", "choice", "message"),
    [
        ([WEATHER], {"type": "function", "function": {"name": "nope"}}, "not in tools"),
        ([WEATHER], "sometimes", "tool_choice must be"),
        ([{"type": "function", "function": {"name": ""}}], None, "no valid function name"),
        ([WEATHER, WEATHER], None, "two tools"),
        (
            [{"type": "function", "function": {"name": "f", "parameters": {"type": "strin"}}}],
            None,
            "not a valid JSON schema",
        ),
    ],
)
def test_bad_tools_are_refused(declared, choice, message):
    with pytest.raises(ConstraintError, match=message):
        tools.choose(tools.parse_tools(declared), choice)


def test_tool_calls_are_parsed_and_validated():
    declared = tools.parse_tools([WEATHER])
    content, calls = tools.parse(
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>', declared
    )
    assert (
        content is None
        and calls[0].name == "get_weather"
        and calls[0].arguments == {"city": "Oslo"}
    )
    assert json.loads(calls[0].openai()["function"]["arguments"]) == {"city": "Oslo"}
    assert tools.parse("It is sunny.", declared) == ("It is sunny.", [])
    with pytest.raises(ConstraintUnmetError, match="do not validate"):
        tools.parse('<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>', declared)
    with pytest.raises(ConstraintUnmetError, match="cut"):
        tools.parse('<tool_call>{"name": "get_weather"', declared)


def test_a_random_model_under_the_required_tool_grammar_makes_a_valid_call(tiny):
    from pretrained.tasks.generate import GenerateOptions, GenerationStream

    city = {"type": "string", "enum": ["Oslo", "Rome"]}
    short = {**WEATHER, "function": {**WEATHER["function"], "parameters": {
        "type": "object", "properties": {"city": city}, "required": ["city"],
        "additionalProperties": False}}}  # fmt: skip
    declared = tools.parse_tools([short])
    mode, allowed = tools.choose(declared, "required")
    messages = [{"role": "user", "content": "weather in Oslo?"}]
    options = tools.options_for(
        GenerateOptions(temperature=0, max_new_tokens=150), allowed, mode, False
    )
    backend, text, params = tools.prepare(tiny, messages, allowed, mode, options)
    assert "get_weather" in text  # the fallback prompt lists the tool (no tool template)
    # the tiny model reads 256 tokens: decode after a short prompt, under the same grammar
    handle = GenerationStream(backend, "q", "weather?", True, options, params, 0.0)
    reply = "".join(handle)
    content, calls = tools.parse(reply, allowed)
    assert content is None and calls and calls[0].name == "get_weather"


def test_fallback_messages_write_tool_turns_as_text():
    declared = tools.parse_tools([WEATHER])
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
    }
    out = tools.fallback_messages(
        [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "12 C"},
        ],
        declared,
        "auto",
    )
    assert out[0]["role"] == "system" and "get_weather" in out[0]["content"]
    assert out[2]["content"].startswith("<tool_call>") and out[3] == {
        "role": "user",
        "content": "Result of get_weather: 12 C",
    }
