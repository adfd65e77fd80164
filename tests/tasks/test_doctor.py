import json

from pretrained.tasks.doctor import doctor


def test_report_is_complete_and_serializable():
    report = doctor().to_dict()
    json.dumps(report)
    assert report["libraries"]["torch"] and report["libraries"]["transformers"]
    assert report["devices"][0]["type"] == "cpu" and report["default_device"] == "cpu"
    assert report["ram"]["total_bytes"] > 0
    assert report["offline_mode"] is True and report["online"] is False
    assert {m["alias"] for m in report["embedded_models"]} == {
        "smollm2-135m-instruct",
        "minilm-l6",
        "whisper-tiny.en",
    }
    assert all(m["installed"] for m in report["embedded_models"])
    assert set(report["caches"]) == {"pretrained_home", "converted_models", "huggingface_hub"}


def test_token_presence_is_reported_but_never_the_token(monkeypatch):
    token = "hf_" + "s" * 34
    monkeypatch.setenv("HF_TOKEN", token)
    report = doctor().to_dict()
    assert report["hf_token"]["present"] is True and report["hf_token"]["source"] == "env"
    assert token not in json.dumps(report)


def test_token_scope_is_read_from_whoami_when_online(fake_hub, monkeypatch):
    from pretrained.tasks import doctor as module

    token = "hf_" + "w" * 34
    fake_hub.tokens[token] = "write"
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setattr(module, "_online", lambda timeout=2.0: True)
    status = doctor().hf_token
    assert status["role"] == "write" and status["user"] == "tester"


def test_online_check_uses_the_configured_endpoint(fake_hub):
    from pretrained.tasks.doctor import _online

    assert _online() is True  # the fake Hub on 127.0.0.1 answers
