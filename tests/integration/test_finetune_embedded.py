"""Fine-tuning the embedded SmolLM2 (a GGUF converted to safetensors): a two-step LoRA run on a
few quotes, then the run folder loads offline through the alias recorded in config.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pretrained
from tests.train import helpers
from tests.train.helpers import run, write_quotes

pytestmark = pytest.mark.integration
one_torch_thread = helpers.one_torch_thread


def test_smollm2_lora_run_records_the_alias_and_loads_offline(tmp_path):
    data = write_quotes(tmp_path / "quotes.jsonl")
    result = run(
        data,
        "smollm2-135m-instruct",
        tmp_path / "runs",
        name="smol",
        max_steps=2,
        lr=1e-3,
        sample_max_new_tokens=8,
    )
    p = result.preflight
    assert result.status == "completed" and result.steps == 2
    # SmolLM2's EOS is <|im_end|>, which is also its pad token: still in every label
    assert p.eos["token"] == "<|im_end|>" and p.eos["with_eos"] == p.eos["examples"] == 20
    assert p.wrapped_modules == 30 * 7  # 30 layers × every attention/MLP projection
    run_dir = Path(result.run_dir)
    config = (run_dir / "config.yaml").read_text()
    assert "name: smollm2-135m-instruct" in config and "source: embedded" in config
    adapter = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"

    out = pretrained.generate(
        "Quote by Mark Twain:", model=str(run_dir), temperature=0, max_new_tokens=8
    )
    assert out.completion_tokens > 0 and out.chat_template is False
