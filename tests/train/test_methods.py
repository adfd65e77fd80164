import pytest

from pretrained.errors import InvalidOptionError
from pretrained.train import methods


def _load(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path)


def test_gpt2_preset_targets_conv1d_with_fan_in_fan_out(tiny_gpt2_dir):
    model, applied = methods.apply(_load(tiny_gpt2_dir), "lora", lora_r=4)
    assert applied.targets == ["c_attn", "c_fc", "c_proj"]
    assert applied.fan_in_fan_out is True
    assert model.peft_config["default"].fan_in_fan_out is True
    assert applied.wrapped == 2 * 4  # 2 layers × (c_attn, attn.c_proj, c_fc, mlp.c_proj)
    assert 0 < applied.trainable < applied.total
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)


def test_llama_preset_targets_every_linear_projection(tiny_llama_dir):
    _, applied = methods.apply(_load(tiny_llama_dir), "lora", lora_r=4)
    assert applied.targets == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    assert applied.fan_in_fan_out is False and applied.wrapped == 2 * 7


def test_user_targets_and_zero_matches(tiny_gpt2_dir, tiny_llama_dir):
    _, applied = methods.apply(_load(tiny_llama_dir), "lora", target_modules=("q_proj", "v_proj"))
    assert applied.targets == ["q_proj", "v_proj"]
    _, applied = methods.apply(_load(tiny_gpt2_dir), "lora", target_modules=("c_attn",))
    assert applied.fan_in_fan_out is True  # detected from the Conv1D modules
    with pytest.raises(InvalidOptionError) as info:
        methods.apply(_load(tiny_llama_dir), "lora", target_modules=("query", "value"))
    assert "matched no module" in info.value.message
    assert "q_proj" in info.value.hint


def test_full_trains_everything_and_unknown_method(tiny_gpt2_dir):
    model, applied = methods.apply(_load(tiny_gpt2_dir), "full")
    assert applied.trainable == applied.total == sum(p.numel() for p in model.parameters())
    with pytest.raises(InvalidOptionError):
        methods.apply(_load(tiny_gpt2_dir), "adapter")
