import pytest

from pretrained.errors import InvalidOptionError, TemplateFieldError
from pretrained.train.template import (
    IGNORE,
    Collator,
    Encoder,
    Template,
    choose_format,
    default_template,
)


@pytest.fixture(scope="module")
def gpt2_tok(tiny_gpt2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_gpt2_dir)


@pytest.fixture(scope="module")
def llama_tok(tiny_llama_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama_dir)


ROW = {"text": "Be yourself.", "author": "Oscar Wilde", "tags": ["life", "self"], "source": None}


def test_template_renders_fields_lists_and_missing_values():
    t = Template("Quote by {author}: {text} [{tags}] {source}|{{literal}}")
    assert t.fields == ["author", "text", "tags", "source"]
    assert t.render(ROW) == "Quote by Oscar Wilde: Be yourself. [life, self] |{literal}"


def test_missing_field_names_the_field_and_the_fields_that_exist():
    with pytest.raises(TemplateFieldError) as info:
        Template("Quote by {author}: {quote}").check(["text", "author", "tags"])
    assert "'quote'" in info.value.message
    assert "fields: text, author, tags" in info.value.message


@pytest.mark.parametrize("bad", ["{}", "{0}", "{a.b}", "{x[0]}", "unclosed {", "  "])
def test_bad_templates_are_usage_errors(bad):
    with pytest.raises(InvalidOptionError):
        Template(bad)


def test_prefix_is_the_template_up_to_its_last_field():
    assert Template("Quote by {author}: {text}").prefix().render(ROW) == "Quote by Oscar Wilde:"
    assert Template("{text}").prefix() is None
    assert Template("Q {{x}} {author}: {text}").prefix().render(ROW) == "Q {x} Oscar Wilde:"


def test_format_choice_and_default_template():
    kw = {"template": None, "prompt_template": None, "messages_field": "messages"}
    assert choose_format("auto", fields=["text"], **kw) == "text"
    assert choose_format("auto", fields=["messages"], **kw) == "chat"
    assert choose_format("auto", fields=["q"], **{**kw, "prompt_template": "{q}"}) == "completion"
    with pytest.raises(InvalidOptionError):
        choose_format("sft", fields=["text"], **kw)
    assert default_template(["author", "text"]) == "{text}"
    with pytest.raises(TemplateFieldError) as info:
        default_template(["author", "quote"])
    assert "--template" in info.value.hint


def test_text_examples_end_with_eos_in_the_labels_even_when_pad_is_eos(gpt2_tok):
    # GPT-2 has no pad token; the encoder reuses EOS, which is what makes pad-id masking a trap
    assert gpt2_tok.pad_token is None or gpt2_tok.pad_token_id == gpt2_tok.eos_token_id
    enc = Encoder(gpt2_tok, "text", template="Quote by {author}: {text}")
    assert enc.pad_id == enc.eos_id == gpt2_tok.eos_token_id
    out = enc.encode([ROW, {"text": "Hi.", "author": "A"}])
    assert [e.input_ids[-1] for e in out.examples] == [enc.eos_id, enc.eos_id]
    assert all(e.labels == e.input_ids for e in out.examples)
    batch = Collator(enc.pad_id)(
        [{"input_ids": e.input_ids, "labels": e.labels} for e in out.examples]
    )
    short = len(out.examples[1].input_ids)
    width = batch["input_ids"].shape[1]
    assert width > short
    # the padding is EOS-valued, masked by length; the real EOS at the end stays a target
    assert batch["input_ids"][1, short:].tolist() == [enc.eos_id] * (width - short)
    assert batch["labels"][1, short - 1].item() == enc.eos_id
    assert batch["labels"][1, short:].tolist() == [IGNORE] * (width - short)
    assert batch["attention_mask"][1].tolist() == [1] * short + [0] * (width - short)
    assert batch["labels"][0, -1].item() == enc.eos_id


def test_eos_is_not_doubled_when_the_text_already_ends_with_it(gpt2_tok):
    enc = Encoder(gpt2_tok, "text", template="{text}")
    ids, _ = enc.encode_row({"text": "Hello world." + gpt2_tok.eos_token})
    assert ids[-1] == enc.eos_id and ids[-2] != enc.eos_id


def test_completion_format_trains_on_the_completion_only(gpt2_tok):
    enc = Encoder(
        gpt2_tok, "completion", prompt_template="Quote by {author}:", completion_field="text"
    )
    ids, labels = enc.encode_row(ROW)
    prompt = gpt2_tok("Quote by Oscar Wilde:")["input_ids"]
    assert ids[: len(prompt)] == prompt
    assert labels[: len(prompt)] == [IGNORE] * len(prompt)
    assert labels[len(prompt) :] == ids[len(prompt) :] and labels[-1] == enc.eos_id
    assert enc.sample_prompt(ROW) == "Quote by Oscar Wilde:"


def test_chat_format_trains_on_assistant_turns_only(llama_tok):
    enc = Encoder(llama_tok, "chat")
    row = {
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi there"},
        ]
    }
    ids, labels = enc.encode_row(row)
    trained = llama_tok.decode([t for t in labels if t != IGNORE])
    assert trained.startswith("Hi there") and "<|im_end|>" in trained
    assert "Hello" not in trained and "user" not in trained
    assert enc.eos_id in [t for t in labels if t != IGNORE]
    prompt = enc.sample_prompt(row)
    assert prompt.endswith("<|im_start|>assistant\n") and "Hi there" not in prompt


def test_chat_rows_must_hold_messages(llama_tok):
    from pretrained.errors import InputError

    enc = Encoder(llama_tok, "chat")
    with pytest.raises(InputError) as info:
        enc.encode([{"messages": "hello"}])
    assert "row 0" in info.value.message
    with pytest.raises(TemplateFieldError):
        enc.check_fields(["text"])


def test_truncation_and_drop_long_are_counted(gpt2_tok):
    rows = [ROW, {"text": "word " * 80, "author": "X"}]
    cut = Encoder(gpt2_tok, "text", template="{text}", max_length=16).encode(rows)
    assert cut.truncated == 1 and len(cut.examples) == 2
    assert cut.examples[1].truncated and len(cut.examples[1].input_ids) == 16
    assert cut.lengths[1] > 16
    dropped = Encoder(gpt2_tok, "text", template="{text}", max_length=16, drop_long=True).encode(
        rows
    )
    assert dropped.dropped_long == 1 and len(dropped.examples) == 1
