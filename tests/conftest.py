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


# ---------------------------------------------------------------- speech and S3 (transcribe)
@pytest.fixture(scope="session")
def speech_dir() -> Path:
    """A folder made once per session: espeak-ng speech as WAV, MP3 and MP4 (see tests/media.py)."""
    from tests import media

    folder = _SESSION_DIR / "speech"
    if not (folder / "office.mp4").exists():
        folder.mkdir(parents=True, exist_ok=True)
        work = _SESSION_DIR / "speech-work"
        work.mkdir(exist_ok=True)
        media.speak(media.SENTENCES["train"], folder / "train.wav")
        media.convert(
            media.speak(media.SENTENCES["meeting"], work / "meeting.wav"), folder / "meeting.mp3"
        )
        media.video_with_audio(
            media.speak(media.SENTENCES["office"], work / "office.wav"), folder / "office.mp4"
        )
    return folder


@pytest.fixture(scope="session")
def s3_server():
    from tests.s3server import SeaweedS3

    server = SeaweedS3().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def aws_env(monkeypatch, tmp_path, s3_server):
    """The standard AWS credential chain pointed at the test server, and nothing else."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server
