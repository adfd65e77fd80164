import pytest

import pretrained
from pretrained.errors import EmptyInputError, InvalidOptionError
from pretrained.models.backends.base import StopWatcher, cut_at_stop
from pretrained.models.backends.scripted import ScriptedTextBackend
from pretrained.tasks.generate import (
    GenerateOptions,
    GenerateResult,
    generate,
    generate_many,
    stream,
)


@pytest.mark.parametrize(
    "knobs",
    [
        {"temperature": -1},
        {"temperature": float("nan")},
        {"temperature": "hot"},
        {"max_new_tokens": 0},
        {"top_p": 0},
        {"top_p": 1.5},
        {"top_k": -2},
        {"repetition_penalty": 0},
        {"num_return_sequences": 0},
        {"seed": -5},
        {"num_return_sequences": 2, "temperature": 0},
        {"stop": [""]},
        {"batch_size": 0},
    ],
)
def test_bad_knobs_are_usage_errors(knobs):
    with pytest.raises(InvalidOptionError) as info:
        GenerateOptions.from_kwargs(**knobs)
    assert info.value.exit_code == 2 and info.value.hint.startswith(("e.g.", "set"))


def test_unknown_knob():
    with pytest.raises(InvalidOptionError, match="unknown generation option"):
        GenerateOptions.from_kwargs(temprature=0.5)


def test_empty_prompt_is_an_input_error():
    with pytest.raises(EmptyInputError):
        generate("   ", backend=ScriptedTextBackend())
    with pytest.raises(EmptyInputError):
        generate_many([], backend=ScriptedTextBackend())


def test_cut_at_stop_and_stop_watcher_never_leak_a_partial_stop():
    assert cut_at_stop("abc END def", ["END"]) == ("abc ", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)
    watcher = StopWatcher(["</end>"])
    shown = "".join(watcher.feed(p) for p in ["Hello ", "wor", "ld </", "en", "d> more"])
    assert shown == "Hello world " and watcher.stopped
    watcher = StopWatcher(["</end>"])
    shown = "".join(watcher.feed(p) for p in ["a <", "/x"]) + watcher.flush()
    assert shown == "a </x"


def test_stop_sequences_scripted_generate_and_stream():
    backend = ScriptedTextBackend("one two three STOP four five")
    options = GenerateOptions(temperature=0, stop=("STOP",))
    result = generate("hi", options=options, backend=backend)
    assert result.text == "one two three " and result.completions[0].finish_reason == "stop"
    handle = stream("hi", options=options, backend=backend)
    assert "".join(handle) == "one two three "
    assert handle.result.completions[0].finish_reason == "stop"


def test_length_finish_reason_and_chat_template_flag():
    backend = ScriptedTextBackend("a b c d e f")
    result = generate(
        "hi", options=GenerateOptions(temperature=0, max_new_tokens=3), backend=backend
    )
    assert result.completions[0].finish_reason == "length" and result.chat_template
    assert backend.prompts[-1] == "<user>hi</user><assistant>"
    generate(
        "hi",
        options=GenerateOptions(temperature=0, raw=True, system="ignored when raw"),
        backend=backend,
    )
    assert backend.prompts[-1] == "hi"
    generate("hi", options=GenerateOptions(temperature=0, system="Be brief."), backend=backend)
    assert backend.prompts[-1].startswith("<system>Be brief.</system>")


def test_sampling_without_seed_reports_the_seed_it_used():
    result = generate("hi", options=GenerateOptions(temperature=0.7), backend=ScriptedTextBackend())
    assert isinstance(result.options["seed"], int)


def test_result_to_dict_has_usage_and_timings():
    d = generate(
        "hi there", options=GenerateOptions(temperature=0), backend=ScriptedTextBackend("x y")
    ).to_dict()
    assert (
        d["usage"]["completion_tokens"] == 2
        and d["usage"]["total_tokens"] == d["usage"]["prompt_tokens"] + 2
    )
    assert {"load_s", "first_token_s", "total_s"} <= set(d["timings"])
    assert d["options"] == {"max_new_tokens": 128, "temperature": 0, "repetition_penalty": 1.1}


# ---------------------------------------------------------------- real (tiny) models
def test_greedy_is_deterministic_and_base_models_get_no_template(tiny_gpt2_dir):
    a = pretrained.generate("A coconut", str(tiny_gpt2_dir), temperature=0, max_new_tokens=8)
    b = pretrained.generate("A coconut", str(tiny_gpt2_dir), temperature=0, max_new_tokens=8)
    assert a.text == b.text and a.completion_tokens == 8 and not a.chat_template
    assert a.prompt_tokens == len(pretrained.tokenize("A coconut", str(tiny_gpt2_dir)).ids)


def test_seeded_sampling_is_reproducible(tiny_llama_dir):
    kw = dict(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=10, seed=123)
    a = pretrained.generate("Hello", str(tiny_llama_dir), **kw)
    b = pretrained.generate("Hello", str(tiny_llama_dir), **kw)
    assert a.text == b.text and a.chat_template
    assert a.options["seed"] == 123


def test_num_return_sequences(tiny_gpt2_dir):
    r = pretrained.generate(
        "Hello",
        str(tiny_gpt2_dir),
        temperature=1.0,
        num_return_sequences=3,
        max_new_tokens=6,
        seed=1,
    )
    assert len(r.completions) == 3 and len(set(r.texts)) > 1


def test_batch_matches_one_by_one_with_left_padding(tiny_gpt2_dir, tiny_llama_dir):
    prompts = ["Hello", "A coconut is a fruit that grows", "Quote by Oscar"]
    for model in (str(tiny_gpt2_dir), str(tiny_llama_dir)):
        batched = pretrained.generate_many(prompts, model, temperature=0, max_new_tokens=6)
        single = [pretrained.generate(p, model, temperature=0, max_new_tokens=6) for p in prompts]
        assert [r.text for r in batched] == [r.text for r in single]
        assert [r.prompt_tokens for r in batched] == [r.prompt_tokens for r in single]


def test_stream_equals_generate_and_stop_cuts(tiny_gpt2_dir):
    full = pretrained.generate("A coconut", str(tiny_gpt2_dir), temperature=0, max_new_tokens=12)
    handle = pretrained.stream("A coconut", str(tiny_gpt2_dir), temperature=0, max_new_tokens=12)
    assert "".join(handle) == full.text
    assert handle.result.completion_tokens == 12
    stop = full.text.strip().split()[1]
    cut = pretrained.generate(
        "A coconut", str(tiny_gpt2_dir), temperature=0, max_new_tokens=12, stop=[stop]
    )
    assert stop not in cut.text and full.text.startswith(cut.text)
    assert cut.completions[0].finish_reason == "stop"


def test_eos_ends_generation_with_stop_reason(tiny_llama_dir):
    backend = pretrained.load(str(tiny_llama_dir), engine="transformers")
    eos = backend.tokenizer.eos_token_id
    completion = backend._completion(
        [10, 11, eos, 0, 0], pretrained.GenerateOptions(temperature=0).sampling()
    )
    assert completion.finish_reason == "stop" and completion.completion_tokens == 3


def test_stream_can_be_cancelled(tiny_gpt2_dir):
    handle = pretrained.stream("Hello", str(tiny_gpt2_dir), temperature=0, max_new_tokens=100)
    pieces = iter(handle)
    next(pieces)
    handle.close()
    assert handle.cancel.is_set()


def test_generate_is_one_prompt_and_generate_many_a_list():
    from pretrained.tasks.generate import generate_many

    backend = ScriptedTextBackend("hi there")
    one = generate("hi", options=GenerateOptions(temperature=0), backend=backend)
    many = generate_many(["a", "b"], options=GenerateOptions(temperature=0), backend=backend)
    assert isinstance(one, GenerateResult) and [type(r) for r in many] == [GenerateResult] * 2
    with pytest.raises(InvalidOptionError, match="list of prompts"):
        generate_many("a", backend=backend)
    with pytest.raises(InvalidOptionError, match="one prompt"):
        generate(["a", "b"], backend=backend)
