import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pretrained
from pretrained.errors import (
    QuantizationUnavailableError,
    ResumeMismatchError,
    RunExistsError,
    TemplateFieldError,
    UnknownModelError,
)
from tests.train.helpers import QUOTES, run

ROOT = Path(__file__).resolve().parents[2]


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits


def _steps(run_dir: Path) -> list[int]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines if "loss" in json.loads(line)]


def test_gpt2_lora_learns_to_stop_and_writes_the_run_folder(quotes, tiny_gpt2_dir, tmp_path):
    from pretrained.models.loading import load_causal_lm
    from pretrained.models.registry import resolve

    result = run(quotes, tiny_gpt2_dir, tmp_path / "runs", name="gpt2", merge=True)
    run_dir = Path(result.run_dir)
    assert result.status == "completed" and result.steps == result.max_steps == 12
    assert result.after.eval_loss < result.before.eval_loss
    assert result.preflight.eos["with_eos"] == result.preflight.eos["examples"] == 20
    assert result.preflight.targets == ["c_attn", "c_fc", "c_proj"]

    steps = _steps(run_dir)
    assert steps == list(range(1, 13))
    losses = [json.loads(x)["loss"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert sum(losses[-3:]) < sum(losses[:3])

    config = (run_dir / "config.yaml").read_text()
    for expected in (
        "config_hash:",
        "base_model:",
        "resolved_revision: sha256:",
        "transformers:",
        "template: 'Quote by {author}: {text}'",
        "lr: 0.005",
    ):
        assert expected in config, expected
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["status"] == "completed" and summary["after"]["eval_loss"] is not None
    for name in (
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "adapter/tokenizer.json",
        "merged/model.safetensors",
        "merged/config.json",
        "loss.png",
        "README.md",
    ):
        assert (run_dir / name).is_file(), name
    assert len(list((run_dir / "checkpoints").iterdir())) <= 2
    adapter_config = json.loads((run_dir / "adapter/adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(tiny_gpt2_dir)
    assert adapter_config["fan_in_fan_out"] is True
    card = (run_dir / "README.md").read_text()
    assert "Quote by {author}: {text}" in card and "| eval loss |" in card
    assert f"--model {run_dir}" in card

    # the adapter folder alone (base found through the run folder) and the merged model agree
    adapter = load_causal_lm(resolve(str(run_dir / "adapter")))
    merged = load_causal_lm(resolve(str(run_dir / "merged")))
    ids = adapter.tokenizer("Quote by Oscar Wilde:")["input_ids"]
    diff = (_logits(adapter.model, ids) - _logits(merged.model, ids)).abs().max().item()
    assert diff < 1e-4
    base = load_causal_lm(resolve(str(tiny_gpt2_dir)))
    assert (_logits(adapter.model, ids) - _logits(base.model, ids)).abs().max().item() > 1e-3


def test_llama_lora_run_generates_from_the_run_folder(quotes, tiny_llama_dir, tmp_path):
    result = run(quotes, tiny_llama_dir, tmp_path / "runs", name="llama")
    assert result.status == "completed"
    assert result.after.eval_loss < result.before.eval_loss
    assert len(result.preflight.targets) == 7
    run_dir = Path(result.run_dir)
    assert not (run_dir / "merged").exists()
    backend = pretrained.load(str(run_dir))
    # trained on a plain-text template: prompts are continued, not wrapped in the chat template
    assert backend.has_chat_template is False
    assert type(backend.model).__name__.startswith("Peft")
    out = pretrained.generate(
        "Quote by Mark Twain:", backend=backend, temperature=0, max_new_tokens=6
    )
    assert out.completion_tokens > 0 and out.chat_template is False

    # merging afterwards (as `push --merged` does): the merged Llama computes what base + adapter do
    from pretrained.models.loading import load_causal_lm
    from pretrained.models.registry import resolve
    from pretrained.train.merge import merge_run

    merged_dir = merge_run(run_dir)
    assert (merged_dir / "model.safetensors").is_file()
    ids = backend.tokenizer("Quote by Oscar Wilde:")["input_ids"]
    merged = load_causal_lm(resolve(str(merged_dir)))
    diff = (_logits(backend.model, ids) - _logits(merged.model, ids)).abs().max().item()
    assert diff < 1e-4
    assert type(pretrained.load(str(run_dir)).model).__name__ == "LlamaForCausalLM"  # merged/ wins


def test_completion_format_trains_on_the_completion_only(quotes, tiny_gpt2_dir, tmp_path):
    result = run(
        quotes,
        tiny_gpt2_dir,
        tmp_path / "runs",
        template=None,
        prompt_template="Quote by {author}:",
        completion_field="text",
        dry_run=True,
    )
    p = result.preflight
    assert p.format == "completion"
    assert p.eos["with_eos"] == p.eos["examples"] == 20
    for example in p.examples:
        trained = [t["trained"] for t in example["tokens"]]
        cut = trained.index(True)
        # the prompt carries no loss, everything after it (EOS included) does
        assert cut > 0 and not any(trained[:cut]) and all(trained[cut:])
        assert "".join(t["piece"] for t in example["tokens"][:cut]).startswith("Quote by ")
        assert example["tokens"][-1]["piece"] == "<|endoftext|>"


def test_chat_format_run_keeps_the_chat_template(tiny_llama_dir, tmp_path):
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Give me a quote by {author}."},
                {"role": "assistant", "content": text},
            ]
        }
        for author, text in QUOTES * 3
    ]
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run(data, tiny_llama_dir, tmp_path / "runs", template=None, name="chat", max_steps=4)
    p = result.preflight
    assert p.format == "chat" and p.eos["with_eos"] == p.eos["examples"] == 20
    example = p.examples[0]["tokens"]
    trained = "".join(t["piece"] for t in example if t["trained"])
    assert "Give me a quote" not in trained and "<|im_end|>" in trained
    assert all(s.prompt.endswith("assistant\n") for s in result.before.samples)
    assert result.status == "completed"
    assert pretrained.load(result.run_dir).has_chat_template is True


def test_full_fine_tuning_writes_a_whole_model(quotes, tiny_gpt2_dir, tmp_path):
    result = run(quotes, tiny_gpt2_dir, tmp_path / "runs", name="full", method="full", max_steps=4)
    run_dir = Path(result.run_dir)
    assert result.preflight.parameters["percent"] == 100.0
    assert (run_dir / "model/model.safetensors").is_file() and not (run_dir / "adapter").exists()
    assert type(pretrained.load(str(run_dir)).model).__name__ == "GPT2LMHeadModel"


def test_dry_run_shows_the_preflight_and_writes_nothing(quotes, tiny_gpt2_dir, tmp_path):
    result = run(quotes, tiny_gpt2_dir, tmp_path / "runs", dry_run=True, max_length=30)
    assert result.status == "dry-run" and result.run_dir is None
    assert not (tmp_path / "runs").exists()
    p = result.preflight
    assert p.data["train"] == 20 and p.data["val"] == 4
    assert p.truncated > 0 and 0 < p.truncation_rate < 1
    assert p.eos["collated_ok"] and p.eos["with_eos"] < p.eos["examples"]  # cut rows lost EOS
    assert any("max-length" in w for w in p.warnings)
    assert len(p.examples) == 3 and p.examples[0]["shown"].startswith("[")
    assert p.memory["total"] > p.memory["weights"] > 0 and p.time["step_s"] > 0
    text = "\n".join(p.lines())
    for expected in ("preflight", "EOS", "targets    c_attn, c_fc, c_proj", "truncation", "memory"):
        assert expected in text


def test_missing_template_field_and_qlora_without_cuda(quotes, tiny_gpt2_dir, tmp_path):
    with pytest.raises(TemplateFieldError) as info:
        run(quotes, tiny_gpt2_dir, tmp_path / "runs", template="{author}: {quote}", dry_run=True)
    assert "'quote'" in info.value.message and "text, author, tags" in info.value.message
    with pytest.raises(QuantizationUnavailableError) as info:
        run(tmp_path / "not-even-read.jsonl", tiny_gpt2_dir, tmp_path / "runs", method="qlora")
    assert "CUDA" in info.value.message and "--method lora" in info.value.hint


class _CtrlC:
    """Presses Ctrl-C (SIGINT to this process) once the run reaches `at`."""

    def __new__(cls, at: int):
        from transformers import TrainerCallback

        class CtrlC(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == at:
                    os.kill(os.getpid(), signal.SIGINT)

        return CtrlC()


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_the_same_steps(
    quotes, tiny_gpt2_dir, tmp_path
):
    out = tmp_path / "runs"
    first = run(quotes, tiny_gpt2_dir, out, name="r", callbacks=(_CtrlC(5),))
    assert first.status == "interrupted"
    assert 5 <= first.steps < 12
    assert Path(first.checkpoint).name == f"checkpoint-{first.steps}"
    assert (Path(first.checkpoint) / "trainer_state.json").exists()
    run_dir = Path(first.run_dir)
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "interrupted"
    assert not (run_dir / "adapter").exists()
    with pytest.raises(UnknownModelError) as info:
        pretrained.load(str(run_dir))
    assert "has not finished" in info.value.message and "--resume" in info.value.hint

    with pytest.raises(ResumeMismatchError) as info:
        run(quotes, tiny_gpt2_dir, out, name="r", resume=True, lr=1e-3)
    assert "training.lr" in info.value.message
    with pytest.raises(RunExistsError):
        run(quotes, tiny_gpt2_dir, out, name="r")  # neither --resume nor --overwrite

    second = run(quotes, tiny_gpt2_dir, out, name="r", resume=True)
    assert second.status == "completed" and second.steps == second.max_steps == 12
    assert second.before.eval_loss == first.before.eval_loss  # kept, not re-measured
    assert _steps(run_dir) == list(range(1, 13))
    with pytest.raises(RunExistsError) as info:
        run(quotes, tiny_gpt2_dir, out, name="r", resume=True)
    assert "already finished" in info.value.message
    with pytest.raises(RunExistsError):
        run(quotes, tiny_gpt2_dir, out, name="other", resume=True)


_KILLED = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from transformers import TrainerCallback
from tests.train.helpers import QUOTES, run

class Slow(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(0.4)

run(Path({data!r}), Path({model!r}), Path({out!r}), name="killed", save_steps=2, callbacks=(Slow(),))
"""


def test_resume_after_kill_9_reaches_the_same_final_step(quotes, tiny_gpt2_dir, tmp_path):
    out = tmp_path / "runs"
    script = _KILLED.format(
        root=str(ROOT), data=str(quotes), model=str(tiny_gpt2_dir), out=str(out)
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
    target = out / "killed" / "checkpoints" / "checkpoint-4" / "trainer_state.json"
    deadline = time.time() + 240
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert target.exists(), (
        proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "timeout"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "killed" / "adapter").exists()

    resumed = run(quotes, tiny_gpt2_dir, out, name="killed", save_steps=2, resume=True)
    assert resumed.status == "completed"
    assert resumed.steps == resumed.max_steps == 12
    assert _steps(out / "killed") == list(range(1, 13))


def test_a_folder_that_is_not_a_run_is_never_deleted(quotes, tiny_gpt2_dir, tmp_path):
    keep = tmp_path / "runs" / "precious"
    keep.mkdir(parents=True)
    (keep / "notes.txt").write_text("mine")
    with pytest.raises(RunExistsError) as info:
        run(quotes, tiny_gpt2_dir, tmp_path / "runs", name="precious", overwrite=True)
    assert "not a run folder" in info.value.message
    assert (keep / "notes.txt").read_text() == "mine"


def test_api_keywords_and_report_to_without_its_package(quotes, tiny_gpt2_dir, monkeypatch):
    import importlib.util

    from pretrained.errors import DependencyError

    result = pretrained.finetune(
        str(quotes), str(tiny_gpt2_dir), template="{author}: {text}", dry_run=True, val_size=4
    )
    assert (
        result.status == "dry-run" and result.preflight.template["template"] == "{author}: {text}"
    )
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorboard" else real(name, *a),
    )
    with pytest.raises(DependencyError) as info:
        pretrained.finetune(str(quotes), str(tiny_gpt2_dir), report_to="tensorboard")
    assert "tensorboard" in info.value.message and info.value.hint == "pip install tensorboard"
