"""LoRA adapters served per request (`serve --adapter NAME=SOURCE`): a tiny Llama base and tiny
LoRA adapters whose weights change its greedy text, one live server, the official openai SDK."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers import assert_one_line_error
from tests.serve.conftest import LiveServer

pytest.importorskip("peft")
KEY = "sk-adapters"


def _adapter(base: Path, folder: Path, seed: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    if (folder / "adapter_config.json").exists():
        return folder
    torch.manual_seed(seed)
    config = LoraConfig(
        r=8,
        lora_alpha=256,
        target_modules=["q_proj", "v_proj", "o_proj", "down_proj", "up_proj"],
        init_lora_weights=False,
    )
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def adapters(tiny_llama_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return {n: _adapter(tiny_llama_dir, root / n, seed) for n, seed in (("a", 1), ("b", 2))}


def _server(base: Path, adapters: dict[str, Path], **extra):
    from pretrained.serve import ServeConfig, create_app

    config = ServeConfig(
        tasks=("chat", "generate"),
        models={"text": str(base)},
        adapters={name: str(path) for name, path in adapters.items()},
        ui=False,
        **extra,
    )
    return create_app(config)


def _say(client, model: str) -> str:
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Hello world"}],
        max_tokens=8,
        temperature=0,
    )
    return reply.choices[0].message.content


def test_one_server_answers_per_adapter_and_edits_them_at_run_time(tiny_llama_dir, adapters):
    import openai

    base = str(tiny_llama_dir)
    with LiveServer(_server(tiny_llama_dir, {"a": adapters["a"]}, api_keys=(KEY,))) as live:
        client = openai.OpenAI(base_url=live.url + "/v1", api_key=KEY, max_retries=0)
        ids = [m.id for m in client.models.list()]
        assert base in ids and f"{base}:a" in ids
        plain, with_a = _say(client, base), _say(client, f"{base}:a")
        assert plain != with_a  # the adapter changes the answer …
        assert _say(client, base) == plain  # … and the base is still the base

        backend = live.server.config.app.state.server.pool.loaded_base("chat")
        model = backend.model
        # add one at run time (behind the key), use it, then remove it
        http = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {KEY}"})
        r = http.post("/v1/adapters", json={"name": "b", "source": str(adapters["b"])})
        assert r.status_code == 200, r.text
        with_b = _say(client, f"{base}:b")
        assert with_b not in (plain, with_a)
        assert f"{base}:b" in [m.id for m in client.models.list()]
        assert backend.model is model  # the base was not reloaded
        completion = client.completions.create(model=f"{base}:b", prompt="Hello", max_tokens=4)
        assert completion.model == f"{base}:b"

        assert http.delete("/v1/adapters/b").status_code == 200
        with pytest.raises(openai.NotFoundError):
            _say(client, f"{base}:b")
        assert _say(client, f"{base}:a") == with_a and _say(client, base) == plain
        assert http.delete("/v1/adapters/a").status_code == 200
        assert _say(client, base) == plain  # no adapter left: the plain base

        # the key is required; bad names and sources are typed 4xx
        assert (
            httpx.post(live.url + "/v1/adapters", json={"name": "c", "source": "x"}).status_code
            == 401
        )
        bad = [
            ({"name": "../x", "source": str(adapters["a"])}, 400, "not allowed"),
            ({"name": "c", "source": str(tiny_llama_dir)}, 400, "not a LoRA adapter"),
            ({"name": "c", "source": "/no/such/adapter"}, 400, "does not exist"),
            ({"name": "c"}, 400, ""),
        ]
        for body, status, message in bad:
            r = http.post("/v1/adapters", json=body)
            assert r.status_code == status, (body, r.text)
            assert message in r.json()["error"]["message"]
        assert http.delete("/v1/adapters/nope").status_code == 404
        r = http.post("/v1/adapters", json={"name": "a", "source": str(adapters["a"])})
        assert r.status_code == 200
        r = http.post("/v1/adapters", json={"name": "a", "source": str(adapters["a"])})
        assert r.status_code == 400 and "already served" in r.json()["error"]["message"]


def test_adapter_of_another_base_is_refused(tiny_llama_dir, tiny_gpt2_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from pretrained.errors import InvalidOptionError

    folder = tmp_path / "gpt2-lora"
    config = LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True)
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir), config).save_pretrained(
        folder
    )
    with pytest.raises(InvalidOptionError, match="was trained on"):
        _server(tiny_llama_dir, {"g": folder})


def test_runtime_edits_need_an_api_key(tiny_llama_dir, adapters):
    from fastapi.testclient import TestClient

    with TestClient(_server(tiny_llama_dir, {"a": adapters["a"]})) as client:
        r = client.post("/v1/adapters", json={"name": "b", "source": str(adapters["b"])})
        assert r.status_code == 403 and "API key" in r.json()["error"]["message"]
        assert client.delete("/v1/adapters/a").status_code == 403
        r = client.post(
            "/v1/chat/completions",
            json={"model": f"{tiny_llama_dir}:zzz", "messages": [{"role": "user", "content": "x"}]},
        )
        assert r.status_code == 404 and "no adapter 'zzz'" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--adapter", "quotes"], "is not NAME=SOURCE"),
        (["--adapter", "bad name=x"], "not allowed"),
        (["--adapter", "a=/no/such/folder"], "does not exist"),
        (["--adapter", "a=ADAPTER", "--engine", "llama.cpp"], "transformers engine"),
    ],
)
def test_bad_adapter_flags(cli, tiny_llama_dir, adapters, args, message):
    args = [a.replace("ADAPTER", str(adapters["a"])) for a in args]
    result = cli("serve", "--model", str(tiny_llama_dir), "--no-ui", *args)
    assert_one_line_error(result, 2, message)


def test_an_adapter_that_does_not_fit_is_a_400_and_the_base_keeps_serving(
    tiny_llama_dir, adapters, tmp_path
):
    import json

    import torch
    from fastapi.testclient import TestClient
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    wide = LlamaForCausalLM(
        LlamaConfig(vocab_size=400, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2)
    )  # fmt: skip
    folder = tmp_path / "wide-lora"
    get_peft_model(wide, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tiny_llama_dir)  # claims the served base
    (folder / "adapter_config.json").write_text(json.dumps(config))

    with TestClient(_server(tiny_llama_dir, {"a": adapters["a"]}, api_keys=(KEY,))) as client:
        client.headers["Authorization"] = f"Bearer {KEY}"
        r = client.post("/v1/adapters", json={"name": "wide", "source": str(folder)})
        assert r.status_code == 400 and "does not fit" in r.json()["error"]["message"]
        ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
        assert f"{tiny_llama_dir}:wide" not in ids and f"{tiny_llama_dir}:a" in ids
        chat = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}
        assert (
            client.post(
                "/v1/chat/completions", json={**chat, "model": str(tiny_llama_dir)}
            ).status_code
            == 200
        )


def test_runtime_edits_are_refused_with_several_workers(tiny_llama_dir, adapters):
    from fastapi.testclient import TestClient

    app = _server(tiny_llama_dir, {"a": adapters["a"]}, api_keys=(KEY,), workers=2)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {KEY}"
        r = client.post("/v1/adapters", json={"name": "b", "source": str(adapters["b"])})
        assert r.status_code == 400 and "--workers" in r.json()["error"]["message"]


def test_an_adapter_from_the_hub(fake_hub, tiny_llama_dir, adapters):
    """A Hub id as the source: the adapter's files are downloaded (safetensors only) and served."""
    from fastapi.testclient import TestClient

    fake_hub.add_folder("org/tiny-lora", adapters["b"])
    app = _server(tiny_llama_dir, {"hub": "org/tiny-lora"}, api_keys=(KEY,))
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {KEY}"
        ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
        assert f"{tiny_llama_dir}:hub" in ids
        chat = {"messages": [{"role": "user", "content": "Hello world"}], "max_tokens": 6}
        chat["temperature"] = 0
        base = client.post("/v1/chat/completions", json={**chat, "model": str(tiny_llama_dir)})
        tuned = client.post("/v1/chat/completions", json={**chat, "model": f"{tiny_llama_dir}:hub"})
        assert tuned.status_code == 200, tuned.text
        text = tuned.json()["choices"][0]["message"]["content"]
        assert text != base.json()["choices"][0]["message"]["content"]


def test_a_stopped_server_leaves_the_plain_base_for_later_loads(tiny_llama_dir, adapters):
    """peft layers adapters onto the served model in place: once the server stops, the process's
    model cache must not hand that layered model to the next load() of the base."""
    import openai

    from pretrained.models import load

    with LiveServer(_server(tiny_llama_dir, {"a": adapters["a"]})) as live:
        _say(openai.OpenAI(base_url=live.url + "/v1", api_key="x"), f"{tiny_llama_dir}:a")
        layered = load(str(tiny_llama_dir), task="text-generation", engine="transformers")
        assert type(layered.model).__name__.startswith("Peft")  # the server's shared model
    after = load(str(tiny_llama_dir), task="text-generation", engine="transformers")
    assert after is not layered and not type(after.model).__name__.startswith("Peft")
