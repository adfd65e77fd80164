import json

from pretrained.tasks.inspect import inspect
from tests import tiny


def test_local_safetensors_model(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    info = inspect(str(tiny_llama_dir))
    expected = AutoModelForCausalLM.from_pretrained(
        tiny_llama_dir
    ).num_parameters()  # tied weights once
    assert info.parameters == expected and not info.parameters_estimated
    assert (
        info.architecture == "LlamaForCausalLM"
        and info.context_length == 256
        and info.vocab_size == 400
    )
    assert info.special_tokens["eos"]["token"] == "<|im_end|>"
    assert info.ram_estimate_bytes["fp32"] == int(expected * 4 * 1.2)
    assert info.ram_estimate_bytes["int4"] == int(expected * 0.5 * 1.2)
    assert not info.has_pickle
    json.dumps(info.to_dict())


def test_pickle_files_are_flagged_without_being_loaded(tmp_path, monkeypatch):
    import torch

    folder = tiny.gpt2_dir(tmp_path / "pickled", safe=False)
    monkeypatch.setattr(
        torch, "load", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded!"))
    )
    info = inspect(str(folder))
    assert info.has_pickle and info.parameters_estimated
    assert any("--trust-pickle" in n for n in info.notes)


def test_hub_model_reads_only_metadata(fake_hub, tiny_gpt2_dir):
    repo = fake_hub.add_folder("org/tiny", tiny_gpt2_dir)
    info = inspect("org/tiny")
    assert info.revision == repo.sha and info.source == "hub" and info.context_length == 128
    assert not any(p.endswith("model.safetensors") and m == "GET" for m, p in fake_hub.requests)
