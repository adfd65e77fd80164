"""--method dpo / orpo on prompt/chosen/rejected pairs (TRL) with a tiny Llama."""

import json
from pathlib import Path

import pytest

from pretrained.errors import InputError, InvalidOptionError, TemplateFieldError
from tests.train import helpers
from tests.train.helpers import PAIRS_FAST, write_pairs

one_torch_thread = helpers.one_torch_thread


def _run(data, model, out, **overrides):
    from pretrained.train import FinetuneOptions, finetune

    options = FinetuneOptions.from_kwargs(**{**PAIRS_FAST, "output_dir": str(out), **overrides})
    return finetune(str(data), str(model), options)


@pytest.fixture
def pairs(tmp_path):
    return write_pairs(tmp_path / "pairs.jsonl")


def test_dpo_learns_the_preference_on_held_out_pairs(pairs, tiny_llama_dir, tmp_path):
    result = _run(pairs, tiny_llama_dir, tmp_path / "runs", method="dpo", name="dpo")
    assert result.status == "completed" and result.steps == 8
    before, after = result.before, result.after
    # before training the policy is its own reference: no margin, no pair won
    assert before.reward_margin == 0.0 and before.reward_accuracy == 0.0
    assert after.reward_margin > 0 and after.reward_accuracy > 0.5
    assert after.preference_accuracy >= before.preference_accuracy
    assert after.eval_loss is not None and before.eval_loss is not None
    p = result.preflight
    assert p.format == "preference" and p.method == "dpo"
    assert p.data["train"] == 18 and p.data["val"] == 6
    assert p.eos["with_eos"] == p.eos["examples"] == 36  # chosen and rejected of each pair
    run_dir = Path(result.run_dir)
    assert (run_dir / "adapter/adapter_model.safetensors").is_file()
    card = (run_dir / "README.md").read_text()
    assert "DPO (LoRA)" in card and "| reward accuracy (held-out pairs) |" in card
    config = (run_dir / "config.yaml").read_text()
    assert "beta: 0.1" in config
    rows = ("eval loss", "perplexity", "reward accuracy", "reward margin", "stop rate")
    assert [r[0] for r in result.table()] == list(rows)


def test_orpo_runs_and_reports_its_rewards(pairs, tiny_llama_dir, tmp_path):
    result = _run(pairs, tiny_llama_dir, tmp_path / "runs", method="orpo", max_steps=4, beta=0.2)
    assert result.status == "completed" and result.steps == 4
    # ORPO's reward is β · mean log-prob: defined before training too
    assert result.before.reward_margin != 0.0
    assert result.after.reward_accuracy is not None
    summary = json.loads((Path(result.run_dir) / "metrics.json").read_text())
    assert summary["status"] == "completed" and summary["after"]["reward_margin"] is not None


def _write(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    "rows, error, message",
    [
        ([{"prompt": "a", "chosen": "b"}] * 4, TemplateFieldError, "lacks rejected"),
        ([{"question": "a", "good": "b", "bad": "c"}] * 4, TemplateFieldError, "prompt, chosen"),
        ([{"prompt": "a", "chosen": "", "rejected": "c"}] * 4, InputError, "'chosen' is empty"),
        ([{"prompt": "a", "chosen": "b", "rejected": " "}] * 4, InputError, "'rejected' is empty"),
        ([{"prompt": "a", "chosen": 3, "rejected": "c"}] * 4, InputError, "must be text"),
        ([{"prompt": "a", "chosen": "b", "rejected": "b"}] * 4, InputError, "same text"),
    ],
)
def test_bad_preference_rows_are_one_line_errors(tmp_path, tiny_llama_dir, rows, error, message):
    data = _write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(error) as info:
        _run(data, tiny_llama_dir, tmp_path / "runs", method="dpo", val_size=1, dry_run=True)
    assert message in info.value.message and "\n" not in info.value.message


def test_preference_options_that_do_not_fit_are_refused(pairs, tiny_llama_dir, tmp_path):
    with pytest.raises(InvalidOptionError, match="--template"):
        _run(pairs, tiny_llama_dir, tmp_path, method="dpo", template="{prompt}")
    with pytest.raises(InvalidOptionError, match="--beta"):
        _run(pairs, tiny_llama_dir, tmp_path, method="lora", beta=0.1)
    with pytest.raises(InvalidOptionError, match="--beta"):
        _run(pairs, tiny_llama_dir, tmp_path, method="dpo", beta=0)


def test_dry_run_shows_the_pairs_as_trl_tokenizes_them(pairs, tiny_llama_dir, tmp_path):
    result = _run(pairs, tiny_llama_dir, tmp_path / "runs", method="orpo", dry_run=True)
    p = result.preflight
    assert result.status == "dry-run" and not (tmp_path / "runs").exists()
    first = p.examples[0]["tokens"]
    trained = [t["trained"] for t in first]
    cut = trained.index(True)
    assert cut > 0 and all(trained[cut:]) and first[-1]["piece"] == "<|im_end|>"
    assert first[0]["piece"] == "<s>"  # ORPO puts BOS first when the tokenizer has one
    assert "TRL" in p.loss
