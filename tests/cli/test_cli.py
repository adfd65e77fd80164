"""The CLI end to end (in-process), including every error a user can make."""

import json

import pytest

from pretrained import runlog
from tests import tiny
from tests.helpers import assert_one_line_error


def test_help_and_version(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("generate", "chat", "tokenize", "models", "doctor", "logs"):
        assert command in result.stdout
    assert cli("--version").stdout.startswith("pretrained ")


def test_generate_json(cli, tiny_llama_dir):
    result = cli(
        "generate",
        "Hello",
        "--model",
        tiny_llama_dir,
        "--temperature",
        "0",
        "--max-new-tokens",
        "5",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["model"] == str(tiny_llama_dir) and data["options"]["temperature"] == 0
    assert data["usage"]["completion_tokens"] <= 5 and data["chat_template"] is True
    assert set(data["timings"]) >= {"load_s", "first_token_s", "total_s"}
    again = cli(
        "generate", "Hello", "--model", tiny_llama_dir, "-t", "0", "-n", "5", "--json"
    ).json()
    assert again["text"] == data["text"]


def test_generate_prints_model_and_knobs(cli, tiny_gpt2_dir):
    result = cli(
        "generate",
        "Hello",
        "-m",
        tiny_gpt2_dir,
        "-t",
        "0.5",
        "--seed",
        "3",
        "-n",
        "4",
        "--no-stream",
    )
    assert result.exit_code == 0
    assert f"model: {tiny_gpt2_dir} (local)" in result.stderr
    assert "knobs: max_new_tokens=4 temperature=0.5" in result.stderr and "seed=3" in result.stderr
    assert result.stdout.strip()


def test_generate_from_stdin_and_files(cli, tiny_gpt2_dir, tmp_path):
    assert (
        cli(
            "generate", "-", "-m", tiny_gpt2_dir, "-t", "0", "-n", "3", "--json", input="Hello\n"
        ).json()["prompt"]
        == "Hello"
    )
    lines = tmp_path / "p.txt"
    lines.write_text("Hello\n\nA coconut\n")
    out = cli("generate", "--file", lines, "-m", tiny_gpt2_dir, "-t", "0", "-n", "3", "--json")
    assert [json.loads(x)["prompt"] for x in out.stdout.splitlines()] == ["Hello", "A coconut"]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "Hello"}\n{"text": "Quote by"}\n')
    out = cli("generate", "--file", jsonl, "-m", tiny_gpt2_dir, "-t", "0", "-n", "3")
    assert out.exit_code == 0 and len(out.stdout.strip().splitlines()) == 2


def test_generate_streams_when_asked(cli, tiny_gpt2_dir):
    streamed = cli("generate", "Hello", "-m", tiny_gpt2_dir, "-t", "0", "-n", "6", "--stream")
    plain = cli("generate", "Hello", "-m", tiny_gpt2_dir, "-t", "0", "-n", "6", "--no-stream")
    assert streamed.stdout == plain.stdout


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        (["--temperature", "-1"], "--temperature"),
        (["--temperature", "abc"], "temperature"),
        (["--max-new-tokens", "0"], "--max-new-tokens"),
        (["--top-p", "2"], "--top-p"),
        (["--num-return-sequences", "2", "--temperature", "0"], "num-return-sequences"),
        (["--bogus"], "no such option"),
        (["--device", "tpu"], "device"),
    ],
)
def test_usage_errors_exit_2(cli, tiny_gpt2_dir, args, contains):
    assert_one_line_error(cli("generate", "x", "-m", tiny_gpt2_dir, *args), 2, contains)


def test_temperature_error_without_any_model_loading(cli):
    assert_one_line_error(cli("generate", "x", "--temperature", "-1"), 2, "temperature")


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        (["generate", "", "-t", "0"], "prompt is empty"),
        (["generate", "x", "--model", "./nowhere"], "no model at"),
        (["generate", "x", "--model", "smollm"], "unknown model"),
        (["generate", "x", "--model", "org/not-cached"], "not in the local cache"),
        (["generate", "x", "--quantize", "4bit"], "CUDA"),
        (["generate", "x", "--device", "cuda"], "CUDA"),
        (["generate", "--file", "/no/such/file.txt"], "file not found"),
        (["tokenize", "", "-m", "smollm2-135m-instruct"], "no text"),
        (["tokenize", "--decode", "x,y"], "token ids"),
        (["models", "info", "org/not-cached"], "not in the local cache"),
        (["logs", "--limit", "0"], "--limit"),
    ],
)
def test_errors_are_one_line_with_a_hint(cli, args, contains):
    result = cli(*args)
    assert result.exit_code in (1, 2)
    assert_one_line_error(result, result.exit_code, contains)


def test_binary_and_empty_prompt_files(cli, tmp_path):
    binary = tmp_path / "weights.bin"
    binary.write_bytes(bytes(range(256)) * 10)
    assert_one_line_error(cli("generate", "--file", binary), 1, "binary")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert_one_line_error(cli("generate", "--file", empty), 1, "empty")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"oops": 1}\n')
    assert_one_line_error(cli("generate", "--file", bad), 1, "line 2")


def test_pickle_weights_refused_and_gated_model(cli, tmp_path, fake_hub, tiny_gpt2_dir):
    folder = tiny.gpt2_dir(tmp_path / "pickled", safe=False)
    assert_one_line_error(cli("generate", "x", "-m", folder), 1, "pickle")
    assert cli("generate", "x", "-m", folder, "--trust-pickle", "-t", "0", "-n", "2").exit_code == 0
    fake_hub.add_folder("org/gated", tiny_gpt2_dir, gated=True)
    assert_one_line_error(cli("generate", "x", "-m", "org/gated"), 1, "gated")
    assert_one_line_error(cli("generate", "x", "-m", "org/missing"), 1, "not found")


def test_debug_env_shows_the_traceback(cli, monkeypatch):
    monkeypatch.setenv("PRETRAINED_DEBUG", "1")
    result = cli("generate", "x", "--model", "./nowhere")
    assert result.exit_code == 1 and "Traceback" in result.stderr


def test_tokenize_and_compare(cli, tiny_llama_dir, tiny_gpt2_dir):
    result = cli("tokenize", "coconut", "-m", tiny_llama_dir, "--json")
    data = result.json()
    assert data["count"] == len(data["ids"]) and data["tokens"][0]["special"]
    shown = cli("tokenize", "coconut", "-m", tiny_llama_dir, "--compare", tiny_gpt2_dir)
    assert shown.exit_code == 0 and shown.stdout.count("tokens · ids") == 2
    decoded = cli(
        "tokenize", "--decode", ",".join(map(str, data["ids"][1:])), "-m", tiny_llama_dir, "--json"
    ).json()
    assert decoded["text"] == "coconut"


def test_models_list_and_info(cli, tiny_gpt2_dir):
    listing = cli("models", "list", "--json").json()
    by_name = {m["name"]: m for m in listing}
    assert (
        by_name["smollm2-135m-instruct"]["offline"]
        and by_name["smollm2-135m-instruct"]["size_bytes"] > 50e6
    )
    assert "text-generation" in by_name["smollm2-135m-instruct"]["default_for"]
    human = cli("models", "list")
    assert "minilm-l6" in human.stdout and "whisper-tiny.en" in human.stdout
    info = cli("models", "info", tiny_gpt2_dir, "--json").json()
    assert info["parameters"] > 0 and set(info["ram_estimate_bytes"]) == {
        "fp32",
        "fp16",
        "int8",
        "int4",
    }
    assert cli("models", "info", tiny_gpt2_dir).exit_code == 0


def test_doctor_json(cli):
    data = cli("doctor", "--json").json()
    assert data["default_device"] == "cpu"
    assert cli("doctor").exit_code == 0


def test_every_command_is_logged(cli, tiny_gpt2_dir):
    cli("generate", "Hello", "-m", tiny_gpt2_dir, "-t", "0", "-n", "3", "--json")
    cli("tokenize", "hi", "-m", tiny_gpt2_dir)
    cli("generate", "x", "--model", "./nowhere")
    rows = runlog.recent()
    assert [r["command"] for r in rows] == ["generate", "tokenize", "generate"]
    assert rows[0]["status"] == "error" and rows[0]["error_class"] == "UnknownModelError"
    assert rows[2]["model"] == str(tiny_gpt2_dir) and rows[2]["completion_tokens"] == 3
    assert rows[2]["params"]["temperature"] == 0 and rows[2]["device"] == "cpu"
    shown = cli("logs", "--limit", "2", "--json").json()
    assert len(shown) == 2
    assert "generate" in cli("logs").stdout


def test_chat_repl(cli, tiny_llama_dir, tmp_path):
    saved = tmp_path / "chat.json"
    script = f"Hello\n/system Be brief.\nHow are you?\n/save {saved}\n/reset\n/history\n/nope\n/exit\nnever read\n"
    result = cli("chat", "-m", tiny_llama_dir, "-t", "0", "-n", "4", input=script)
    assert result.exit_code == 0, result.stderr
    data = json.loads(saved.read_text())
    roles = [m["role"] for m in data["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert data["messages"][0]["content"] == "Be brief."
    assert "error: unknown command /nope" in result.stderr
    assert "never read" not in json.dumps(data)


def test_chat_json_turns(cli, tiny_llama_dir):
    result = cli("chat", "-m", tiny_llama_dir, "-t", "0", "-n", "3", "--json", input="Hi\nThere\n")
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(turns) == 2 and all("text" in t for t in turns)


class _InterruptedBackend:
    """Streams two words, then behaves as if the user pressed Ctrl-C."""

    def __new__(cls):
        from pretrained.models.backends.scripted import ScriptedTextBackend

        backend = ScriptedTextBackend("one two three four")
        original = backend.stream

        def stream(*args, **kwargs):
            for i, chunk in enumerate(original(*args, **kwargs)):
                if i == 2:
                    raise KeyboardInterrupt
                yield chunk

        backend.stream = stream
        return backend


def test_ctrl_c_stops_a_reply_not_the_chat(cli, monkeypatch, tmp_path):
    import pretrained.models

    monkeypatch.setattr(pretrained.models, "load", lambda *a, **k: _InterruptedBackend())
    saved = tmp_path / "c.json"
    result = cli("chat", "-t", "0", input=f"Hi\n/save {saved}\n/exit\n")
    assert result.exit_code == 0 and "(reply stopped)" in result.stderr
    messages = json.loads(saved.read_text())["messages"]
    assert messages[-1] == {"role": "assistant", "content": "one two"}


def test_ctrl_c_during_generate_exits_130(cli, monkeypatch):
    import pretrained.models

    monkeypatch.setattr(pretrained.models, "load", lambda *a, **k: _InterruptedBackend())
    result = cli("generate", "Hi", "-t", "0", "--stream")
    assert result.exit_code == 130 and "Traceback" not in result.stderr
    assert result.stdout.startswith("one two")
