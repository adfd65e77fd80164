import json

import pytest

import pretrained
from pretrained.errors import EmptyInputError, InvalidOptionError
from pretrained.models.backends.scripted import ScriptedTextBackend
from pretrained.tasks.chat import ChatSession, check_messages, fit_context
from pretrained.tasks.generate import GenerateOptions


def test_session_keeps_history_and_system_prompt(tmp_path):
    backend = ScriptedTextBackend(lambda prompt, params: f"reply {prompt.count('<user>')}")
    session = ChatSession(backend, GenerateOptions(temperature=0), system="Be nice.")
    for text in ("hi", "again"):
        handle = session.send(text)
        session.record_reply("".join(handle))
    assert [m["role"] for m in session.history()] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert session.history()[-1]["content"] == "reply 2"
    assert backend.prompts[-1].startswith("<system>Be nice.</system><user>hi</user>")
    saved = json.loads(session.save(tmp_path / "c.json").read_text())
    assert saved["messages"][0] == {"role": "system", "content": "Be nice."}
    session.reset()
    session.set_system(None)
    assert session.history() == []
    with pytest.raises(EmptyInputError):
        session.send("  ")


def test_message_validation():
    with pytest.raises(EmptyInputError):
        check_messages([])
    with pytest.raises(InvalidOptionError):
        check_messages([{"role": "robot", "content": "x"}])
    with pytest.raises(EmptyInputError):
        check_messages([{"role": "system", "content": "x"}])


def test_old_turns_are_dropped_to_fit_the_context():
    backend = ScriptedTextBackend(context_length=30)
    messages = [{"role": "system", "content": "sys"}]
    for i in range(20):
        messages += [
            {"role": "user", "content": f"question {i} " * 3},
            {"role": "assistant", "content": "answer"},
        ]
    messages.append({"role": "user", "content": "last"})
    kept = fit_context(backend, messages, reserve=10)
    assert kept[0]["role"] == "system" and kept[-1]["content"] == "last"
    assert len(kept) < len(messages)
    assert backend.count_tokens(backend.render_chat(kept), False) + 10 <= 30


def test_chat_on_a_model_without_template_uses_the_fallback(tiny_gpt2_dir):
    result = pretrained.chat(
        [{"role": "user", "content": "Hello"}], str(tiny_gpt2_dir), temperature=0, max_new_tokens=5
    )
    assert "User:" not in result.text
    backend = pretrained.load(str(tiny_gpt2_dir))
    assert backend.render_chat([{"role": "user", "content": "Hi"}]).endswith("User: Hi\nAssistant:")


def test_chat_with_template(tiny_llama_dir):
    result = pretrained.chat(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        str(tiny_llama_dir),
        temperature=0,
        max_new_tokens=5,
    )
    assert result.completion_tokens <= 5
    backend = pretrained.load(str(tiny_llama_dir))
    rendered = backend.render_chat([{"role": "user", "content": "Hi"}])
    assert rendered.endswith("<|im_start|>assistant\n")
