"""The real embedded models (installed from PyPI), offline."""

import pytest

import pretrained
from pretrained.models import loading, unload_all
from pretrained.models.registry import resolve

pytestmark = pytest.mark.integration
MODEL = "smollm2-135m-instruct"


def test_greedy_generation_is_deterministic(cli):
    args = (
        "generate",
        "The future of AI is",
        "--temperature",
        "0",
        "--max-new-tokens",
        "20",
        "--json",
    )
    first, second = cli(*args), cli(*args)
    assert first.exit_code == 0, first.stderr
    a, b = first.json(), second.json()
    assert a["text"] == b["text"] and len(a["text"]) > 20
    assert a["model"] == MODEL and a["revision"].startswith("sha256:")
    assert a["usage"]["completion_tokens"] == 20


def test_chat_template_is_applied():
    # "Answer briefly": without it the first token is a near-tie ("The" vs "L'") that the
    # fast engine's 8-bit activations may break the other way (test_fast_embedded.py)
    result = pretrained.generate(
        "What is the capital of France? Answer briefly.", MODEL, temperature=0, max_new_tokens=12
    )
    assert result.chat_template
    assert "Paris" in result.text
    raw = pretrained.generate(
        "What is the capital of France? Answer briefly.",
        MODEL,
        temperature=0,
        max_new_tokens=12,
        raw=True,
    )
    assert not raw.chat_template and raw.prompt_tokens < result.prompt_tokens
    backend = pretrained.load(MODEL)
    assert "<|im_start|>user" in backend.render_chat([{"role": "user", "content": "hi"}])


def test_eos_stops_a_short_answer():
    result = pretrained.chat(
        [{"role": "user", "content": "Say only the word yes."}],
        MODEL,
        temperature=0,
        max_new_tokens=40,
    )
    assert result.completions[0].finish_reason == "stop"


def test_gguf_conversion_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("PRETRAINED_CACHE", str(tmp_path / "cache"))
    unload_all()
    resolved = resolve(MODEL)
    first = loading.prepare(resolved)
    assert first.converted and not first.cache_hit
    assert (first.path / "model.safetensors").is_file() and (first.path / ".complete").is_file()
    second = loading.prepare(resolved)
    assert second.cache_hit and not second.converted and second.path == first.path
    loaded = loading.load_causal_lm(resolved)
    assert loaded.cache_hit and loaded.revision == first.revision
    assert not list((tmp_path / "cache").glob(".tmp-*"))  # no half-written conversion left behind


def test_tokenize_coconut(cli):
    result = cli("tokenize", "coconut", "--model", MODEL, "--json")
    data = result.json()
    assert data["count"] >= 1 and "".join(t["text"] for t in data["tokens"]) == "coconut"
    assert data["special_tokens"]["eos"]["token"] == "<|im_end|>"
    assert data["vocab_size"] == 49152


def test_models_info_reports_135m_parameters(cli):
    data = cli("models", "info", MODEL, "--json").json()
    assert 130e6 < data["parameters"] < 140e6
    assert (
        data["architecture"] == "llama"
        and data["context_length"] == 8192
        and data["vocab_size"] == 49152
    )
    assert data["ram_estimate_bytes"]["fp32"] > data["ram_estimate_bytes"]["int4"] > 0
    assert data["special_tokens"]["eos"] == {"token": "<|im_end|>", "id": 2}


def test_doctor_json_is_valid(cli):
    data = cli("doctor", "--json").json()
    assert all(m["installed"] for m in data["embedded_models"])
