"""The real huggingface_hub client against a local fake Hub (no network)."""

import pytest

from pretrained.errors import (
    GatedModelError,
    ModelNotCachedError,
    ModelNotFoundError,
    PickleRefusedError,
)
from pretrained.models import loading
from pretrained.models.registry import resolve
from tests import tiny


def test_download_load_and_pinned_revision(fake_hub, tiny_gpt2_dir):
    repo = fake_hub.add_folder("org/tiny-gpt2", tiny_gpt2_dir)
    loaded = loading.load_causal_lm(resolve("org/tiny-gpt2", revision="main"))
    assert loaded.revision == repo.sha  # the branch resolved to a commit sha
    assert loaded.model.config.model_type == "gpt2"
    got = {
        path.split("/resolve/")[1].split("/", 1)[1]
        for m, path in fake_hub.requests
        if "/resolve/" in path
    }
    assert "model.safetensors" in got


def test_cached_model_loads_offline_afterwards(fake_hub, tiny_gpt2_dir, monkeypatch):
    import huggingface_hub.constants

    fake_hub.add_folder("org/tiny-gpt2", tiny_gpt2_dir)
    loading.load_causal_lm(resolve("org/tiny-gpt2"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    loaded = loading.load_causal_lm(resolve("org/tiny-gpt2"))
    assert loaded.model.config.model_type == "gpt2"


def test_unknown_repo_and_revision(fake_hub):
    with pytest.raises(ModelNotFoundError, match="not found"):
        loading.load_causal_lm(resolve("org/does-not-exist"))
    fake_hub.repos["org/x"] = __import__("tests.fakehub", fromlist=["FakeRepo"]).FakeRepo(
        {"config.json": b"{}"}
    )
    with pytest.raises(ModelNotFoundError, match="revision"):
        loading.load_causal_lm(resolve("org/x", revision="v9"))


def test_gated_model_without_token(fake_hub, tiny_gpt2_dir):
    fake_hub.add_folder("org/gated", tiny_gpt2_dir, gated=True)
    with pytest.raises(GatedModelError) as info:
        loading.load_causal_lm(resolve("org/gated"))
    assert "hf auth login" in info.value.hint or "HF_TOKEN" in info.value.hint


def test_gated_model_with_token(fake_hub, tiny_gpt2_dir, monkeypatch):
    fake_hub.add_folder("org/gated", tiny_gpt2_dir, gated=True)
    fake_hub.tokens["hf_" + "t" * 30] = "read"
    monkeypatch.setenv("HF_TOKEN", "hf_" + "t" * 30)
    assert loading.load_causal_lm(resolve("org/gated")).model is not None


def test_pickle_only_repo_is_refused_before_downloading_weights(fake_hub, tmp_path):
    fake_hub.add_folder("org/pickled", tiny.gpt2_dir(tmp_path / "p", safe=False))
    with pytest.raises(PickleRefusedError):
        loading.load_causal_lm(resolve("org/pickled"))
    assert not any(path.endswith(".bin") for _, path in fake_hub.requests)


def test_offline_and_not_cached_names_the_model():
    with pytest.raises(ModelNotCachedError) as info:
        loading.load_causal_lm(resolve("org/never-downloaded"))
    assert "org/never-downloaded" in info.value.message
    assert "HF_HUB_OFFLINE" in info.value.message
