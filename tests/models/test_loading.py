import pytest

from pretrained.errors import (
    DeviceUnavailableError,
    InvalidOptionError,
    PickleRefusedError,
    QuantizationUnavailableError,
)
from pretrained.models import cache, devices, loading
from pretrained.models.registry import resolve
from tests import tiny


def test_device_auto_selection_is_cpu_here():
    assert loading.choose_device("auto") == "cpu"
    assert loading.choose_device(None) == "cpu"


def test_device_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(devices, "cuda_available", lambda: True)
    assert loading.choose_device("auto") == "cuda"
    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    monkeypatch.setattr(devices, "mps_available", lambda: True)
    assert loading.choose_device("auto") == "mps"


def test_forcing_a_missing_device_is_an_error_not_a_fallback():
    with pytest.raises(DeviceUnavailableError):
        loading.choose_device("cuda")
    with pytest.raises(InvalidOptionError):
        loading.choose_device("tpu")


def test_dtype_auto():
    import torch

    assert loading.choose_dtype("cpu") == torch.float32
    assert loading.choose_dtype("cpu", "bfloat16") == torch.bfloat16
    with pytest.raises(InvalidOptionError):
        loading.choose_dtype("cpu", "float8")


def test_quantization_needs_cuda():
    assert loading.quantization_config(None, "cpu") is None
    with pytest.raises(QuantizationUnavailableError) as info:
        loading.quantization_config("4bit", "cpu")
    assert "CUDA" in info.value.message
    with pytest.raises(InvalidOptionError):
        loading.quantization_config("3bit", "cpu")


def test_quantization_config_is_nf4_double_quant_on_cuda(monkeypatch):
    pytest.importorskip("bitsandbytes")
    import torch

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    config = loading.quantization_config("4bit", "cuda")
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant and config.bnb_4bit_compute_dtype == torch.bfloat16
    assert loading.quantization_config("8bit", "cuda").load_in_8bit


def test_load_tiny_model(tiny_gpt2_dir):
    loaded = loading.load_causal_lm(resolve(str(tiny_gpt2_dir)))
    assert loaded.device == "cpu" and loaded.dtype == "float32"
    assert loaded.model.config.model_type == "gpt2"
    assert loaded.load_seconds >= 0


def test_pickle_weights_are_refused_unless_trusted(tmp_path):
    folder = tiny.gpt2_dir(tmp_path / "pickled", safe=False)
    assert not list(folder.glob("*.safetensors"))
    with pytest.raises(PickleRefusedError) as info:
        loading.load_causal_lm(resolve(str(folder)))
    assert "--trust-pickle" in info.value.hint
    loaded = loading.load_causal_lm(resolve(str(folder)), trust_pickle=True)
    assert loaded.model.config.model_type == "gpt2"


def test_file_hash_is_memoized(tmp_path, monkeypatch):
    monkeypatch.setenv("PRETRAINED_CACHE", str(tmp_path / "cache"))
    target = tmp_path / "f.bin"
    target.write_bytes(b"x" * 1000)
    first = loading.file_sha256(target)
    calls = []
    monkeypatch.setattr(cache.hashlib, "sha256", lambda: calls.append(1))
    assert loading.file_sha256(target) == first and not calls
    target.write_bytes(b"y" * 1000)  # changed file → new hash
    monkeypatch.undo()
    monkeypatch.setenv("PRETRAINED_CACHE", str(tmp_path / "cache"))
    assert loading.file_sha256(target) != first


def test_publish_dir_keeps_the_winner_of_a_race(tmp_path):
    final = tmp_path / "final"
    final.mkdir()
    (final / ".complete").write_text("theirs")
    ours = tmp_path / "tmp"
    ours.mkdir()
    (ours / ".complete").write_text("ours")
    assert loading.publish_dir(ours, final) == final
    assert (final / ".complete").read_text() == "theirs" and not ours.exists()
