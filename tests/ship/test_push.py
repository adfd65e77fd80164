import pytest

from pretrained.errors import AuthError, InputNotFoundError, InvalidOptionError
from pretrained.ship.push import push
from tests.helpers import assert_one_line_error
from tests.train import helpers

# shared fixtures (a module-level name is all pytest needs)
one_torch_thread = helpers.one_torch_thread
finished_run = helpers.finished_run


def _posts(hub):
    return [path for method, path in hub.requests if method == "POST"]


def test_no_token_fails_before_any_request(fake_hub, finished_run, cli):
    with pytest.raises(AuthError) as info:
        push(finished_run, "tester/quotes")
    assert "no Hugging Face token" in info.value.message and "write token" in info.value.hint
    assert fake_hub.requests == []
    result = cli("push", str(finished_run), "--repo", "tester/quotes")
    assert_one_line_error(result, 1, "no Hugging Face token")
    assert fake_hub.requests == []


def test_read_only_token_fails_before_any_upload(fake_hub, finished_run, monkeypatch):
    fake_hub.tokens["hf_readonlytoken"] = "read"
    monkeypatch.setenv("HF_TOKEN", "hf_readonlytoken")
    with pytest.raises(AuthError) as info:
        push(finished_run, "tester/quotes")
    assert "read-only" in info.value.message
    assert fake_hub.requests == [("GET", "/api/whoami-v2")]


def test_rejected_and_fine_grained_tokens(fake_hub, finished_run, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_unknowntoken")
    with pytest.raises(AuthError) as info:
        push(finished_run, "tester/quotes")
    assert "did not accept" in info.value.message
    fake_hub.tokens["hf_finegrained"] = "fineGrained"  # no repo.write grant
    monkeypatch.setenv("HF_TOKEN", "hf_finegrained")
    with pytest.raises(AuthError) as info:
        push(finished_run, "tester/quotes")
    assert "fine-grained" in info.value.message
    assert _posts(fake_hub) == []


def test_push_uploads_adapter_card_and_metrics(fake_hub, finished_run, monkeypatch):
    fake_hub.tokens["hf_writetoken"] = "write"
    monkeypatch.setenv("HF_TOKEN", "hf_writetoken")
    result = push(finished_run, "quotes-lora", private=True)  # no namespace: the token's user
    assert result.repo_id == "tester/quotes-lora" and result.variant == "adapter"
    assert [p for p in _posts(fake_hub)] == [
        "/api/repos/create",
        "/api/validate-yaml",
        "/api/models/tester/quotes-lora/preupload/main",
        "/api/models/tester/quotes-lora/commit/main",
    ]
    (created,) = fake_hub.created.values()
    assert created["name"] == "quotes-lora" and created["organization"] == "tester"
    assert created.get("visibility") == "private" or created.get("private") is True
    (commit,) = fake_hub.commits
    files = commit["files"]
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "README.md",
        "loss.png",
        "metrics.json",
        "tokenizer.json",
    } <= set(files)
    assert "config.yaml" not in files
    assert (
        files["adapter_model.safetensors"]
        == (finished_run / "adapter" / "adapter_model.safetensors").read_bytes()
    )
    card = files["README.md"].decode()
    assert "library_name: peft" in card and "AutoPeftModelForCausalLM" in card
    assert 'from_pretrained("tester/quotes-lora")' in card
    assert result.commit == fake_hub.repos["model/tester/quotes-lora"].sha
    assert "hf_writetoken" not in card


def test_push_merged_merges_first(fake_hub, finished_run, monkeypatch, cli):
    fake_hub.tokens["hf_writetoken"] = "write"
    monkeypatch.setenv("HF_TOKEN", "hf_writetoken")
    result = cli("push", str(finished_run), "--repo", "tester/quotes-merged", "--merged", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["variant"] == "merged"
    files = fake_hub.commits[-1]["files"]
    assert {"model.safetensors", "config.json", "README.md"} <= set(files)
    assert "library_name: transformers" in files["README.md"].decode()
    assert (finished_run / "merged" / "model.safetensors").exists()


def test_bad_repo_and_not_a_run_folder(fake_hub, tmp_path, monkeypatch):
    fake_hub.tokens["hf_writetoken"] = "write"
    monkeypatch.setenv("HF_TOKEN", "hf_writetoken")
    with pytest.raises(InvalidOptionError):
        push(tmp_path, "a/b/c")
    with pytest.raises(InputNotFoundError):
        push(tmp_path, "tester/x")
    assert _posts(fake_hub) == []
