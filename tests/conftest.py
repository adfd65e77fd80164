"""Test setup: never any network, an isolated PRETRAINED_HOME per test, tiny random models.

The environment is set before any library is imported, because huggingface_hub reads
HF_HUB_OFFLINE and its cache location at import time.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="pretrained-tests-"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = str(_SESSION_DIR / "hf-home")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_TOKEN", None)
os.environ.pop("HUGGING_FACE_HUB_TOKEN", None)
os.environ.pop("PRETRAINED_DEBUG", None)
# Converted models (the embedded GGUF → safetensors) are shared by the whole session so the
# ≈20 s conversion happens once; tests of the cache itself point PRETRAINED_CACHE elsewhere.
os.environ.setdefault("PRETRAINED_CACHE", str(_SESSION_DIR / "converted"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from tests import tiny  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "pretrained-home"
    monkeypatch.setenv("PRETRAINED_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    return home


@pytest.fixture(scope="session")
def tiny_tokenizer_dir() -> Path:
    return tiny.tokenizer_dir(_SESSION_DIR / "tiny-tokenizer", chat=False)


@pytest.fixture(scope="session")
def tiny_gpt2_dir() -> Path:
    return tiny.gpt2_dir(_SESSION_DIR / "tiny-gpt2")


@pytest.fixture(scope="session")
def tiny_llama_dir() -> Path:
    return tiny.llama_dir(_SESSION_DIR / "tiny-llama")


@pytest.fixture
def cli():
    from tests.helpers import run_cli

    return run_cli


@pytest.fixture
def fake_hub(monkeypatch):
    """A running fake Hub; the test switches online mode on and points HF_ENDPOINT at it."""
    import huggingface_hub.constants

    from tests.fakehub import FakeHubServer

    # huggingface_hub reads HF_HUB_OFFLINE once at import; flip its constant for this test.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with FakeHubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "5")
        yield hub


@pytest.fixture(scope="session")
def tiny_diffusion_dir() -> Path:
    return tiny.diffusion_dir(_SESSION_DIR / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_vits_dir() -> Path:
    return tiny.vits_dir(_SESSION_DIR / "tiny-vits")


@pytest.fixture(scope="session")
def tiny_bert_dirs() -> dict[str, Path]:
    """Tiny random BERTs with a task head each: ner, mlm, nli (zero-shot), base (features)."""
    return {
        head: tiny.bert_dir(_SESSION_DIR / f"tiny-bert-{head}", head) for head in tiny.BERT_HEADS
    }
