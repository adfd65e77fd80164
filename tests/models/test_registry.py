import pytest

from pretrained.errors import UnknownModelError
from pretrained.models import registry
from pretrained.models.registry import resolve


def test_embedded_alias_resolves_to_the_installed_package():
    r = resolve("smollm2-135m-instruct")
    assert r.source == "embedded" and r.format == "gguf"
    assert r.file.endswith(".gguf") and (r.path / r.file).is_file()
    assert r.hub_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert resolve("minilm-l6").format == "sentence-transformers"
    assert resolve("whisper-tiny.en").format == "ctranslate2"


def test_alias_without_package_falls_back_to_the_hub(monkeypatch):
    monkeypatch.setattr(registry, "package_dir", lambda name: None)
    r = resolve("smollm2-135m-instruct")
    assert r.source == "hub" and r.hub_id == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_alias_with_revision_pins_the_hub_repo():
    r = resolve("smollm2-135m-instruct", revision="a" * 40)
    assert r.source == "hub" and r.revision == "a" * 40


def test_defaults_per_task():
    assert resolve(None).alias == "smollm2-135m-instruct"
    assert resolve(None, task="embedding").alias == "minilm-l6"
    assert resolve(None, task="speech-recognition").alias == "whisper-tiny.en"


def test_hub_id_and_revision():
    r = resolve("openai-community/gpt2", revision="main")
    assert (r.source, r.hub_id, r.revision, r.format) == (
        "hub",
        "openai-community/gpt2",
        "main",
        "transformers",
    )
    assert "openai-community/gpt2@main" in r.label


def test_local_folders_and_files(tiny_gpt2_dir, tmp_path):
    r = resolve(str(tiny_gpt2_dir))
    assert r.source == "local" and r.format == "transformers" and r.path == tiny_gpt2_dir
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    r = resolve(str(gguf))
    assert r.format == "gguf" and r.file == "m.gguf" and r.path == tmp_path


@pytest.mark.parametrize(
    "name", ["./missing-folder", "/no/such/model", "bad id with spaces", "a/b/c", "org/..x"]
)
def test_unknown_model(name):
    with pytest.raises(UnknownModelError) as info:
        resolve(name)
    assert info.value.hint


def test_typo_of_an_alias_suggests_it():
    with pytest.raises(UnknownModelError) as info:
        resolve("smollm2")
    assert "smollm2-135m-instruct" in info.value.hint


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(UnknownModelError):
        resolve(str(tmp_path))
