"""The evaluation cache and a metrics.json status that stays true when a run is stopped."""

import json
import os
import signal
from pathlib import Path

import pytest

from tests.train import helpers
from tests.train.helpers import run

one_torch_thread = helpers.one_torch_thread


def _summary(result_or_dir) -> dict:
    run_dir = Path(getattr(result_or_dir, "run_dir", result_or_dir))
    return json.loads((run_dir / "metrics.json").read_text())


def test_the_evaluation_before_training_is_computed_once(
    quotes, tiny_gpt2_dir, tmp_path, monkeypatch
):
    from pretrained.train import evalcache

    monkeypatch.setenv("PRETRAINED_CACHE", str(tmp_path / "cache"))  # not the session's

    first = run(quotes, tiny_gpt2_dir, tmp_path / "runs", name="a", max_steps=2)
    assert first.before.cached is False and first.timings["eval_before_s"] > 0
    assert len(list(evalcache.folder().glob("*.json"))) == 1
    # another run on the same model, data and evaluation options: read back, not measured
    second = run(quotes, tiny_gpt2_dir, tmp_path / "runs", name="b", max_steps=3, lr=1e-3)
    assert second.before.cached is True and second.timings["eval_before_s"] == 0.0
    assert second.before.eval_loss == first.before.eval_loss
    assert [s.text for s in second.before.samples] == [s.text for s in first.before.samples]
    assert _summary(second)["before"]["cached"] is True
    # an option that changes the numbers (longer samples) is another entry
    third = run(quotes, tiny_gpt2_dir, tmp_path / "runs", name="c", max_steps=2,
                sample_max_new_tokens=5)  # fmt: skip
    assert third.before.cached is False
    # so is other held-out data (another split seed)
    fourth = run(quotes, tiny_gpt2_dir, tmp_path / "runs", name="d", max_steps=2, seed=7)
    assert fourth.before.cached is False
    off = run(quotes, tiny_gpt2_dir, tmp_path / "runs", name="e", max_steps=2, eval_cache=False)
    assert off.before.cached is False
    assert len(list(evalcache.folder().glob("*.json"))) == 3


def _callback(at: int, action):
    from transformers import TrainerCallback

    class Act(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == at:
                action()

    return Act()


def test_an_exception_during_training_leaves_status_failed(quotes, tiny_gpt2_dir, tmp_path):
    def boom():
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        run(quotes, tiny_gpt2_dir, tmp_path / "runs", name="f", callbacks=(_callback(3, boom),))
    summary = _summary(tmp_path / "runs" / "f")
    assert summary["status"] == "failed" and summary["phase"] == "training"
    assert summary["step"] == 3 and summary["max_steps"] == 12
    assert summary["error"] == "RuntimeError: disk on fire"
    assert summary["before"]["eval_loss"] is not None


def test_sigterm_during_training_checkpoints_and_says_interrupted(quotes, tiny_gpt2_dir, tmp_path):
    result = run(
        quotes, tiny_gpt2_dir, tmp_path / "runs", name="t",
        callbacks=(_callback(4, lambda: os.kill(os.getpid(), signal.SIGTERM)),),
    )  # fmt: skip
    # the signal is seen at the end of step 4 or 5 (callbacks run in order), then saved
    assert result.status == "interrupted" and 4 <= result.steps <= 5
    assert Path(result.checkpoint).name == f"checkpoint-{result.steps}"
    summary = _summary(result)
    assert summary["status"] == "interrupted" and summary["step"] == result.steps
    assert summary["checkpoint"] == result.checkpoint
    assert signal.getsignal(signal.SIGTERM) is not None  # the handlers were put back


def test_a_kill_outside_training_is_recorded_with_its_phase(
    quotes, tiny_gpt2_dir, tmp_path, monkeypatch
):
    import importlib

    steps = importlib.import_module("pretrained.train.finetune")  # the module, not the function
    real = steps._evaluation

    def killed_after(run_, *, base):
        if not base:
            os.kill(os.getpid(), signal.SIGTERM)  # → KeyboardInterrupt in the main thread
        return real(run_, base=base)

    monkeypatch.setattr(steps, "_evaluation", killed_after)
    with pytest.raises(KeyboardInterrupt):
        run(quotes, tiny_gpt2_dir, tmp_path / "runs", name="k", max_steps=2)
    summary = _summary(tmp_path / "runs" / "k")
    assert summary["status"] == "interrupted"
    assert summary["phase"] == "evaluating after training" and summary["step"] == 2
    assert "error" not in summary or summary["error"] is None
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored after the run


def test_completed_runs_record_the_estimated_and_measured_peak(quotes, tiny_gpt2_dir, tmp_path):
    result = run(quotes, tiny_gpt2_dir, tmp_path / "runs", name="m", max_steps=2)
    memory = _summary(result)["memory"]
    assert memory["measured_peak_bytes"] > 0 and memory["estimated_peak_bytes"] > 0
    assert memory["estimate_over_measured"] == pytest.approx(
        memory["estimated_peak_bytes"] / memory["measured_peak_bytes"], rel=1e-2
    )
    assert result.memory == memory


def test_a_run_that_got_worse_says_so():
    """A preference run can reach a large reward margin while it unlearns stopping (measured
    on the embedded model: stop rate 25 % → 0 %, held-out loss 3.76 → 4.28): warned, not left
    to the table."""
    from pretrained.train.evaluate import Evaluation
    from pretrained.train.options import FinetuneResult

    def result(before, after):
        return FinetuneResult("completed", None, "m", None, {}, None, before=before, after=after)

    worse = result(
        Evaluation(eval_loss=3.76, stop_rate=0.25), Evaluation(eval_loss=4.28, stop_rate=0.0)
    )
    lines = worse.warnings()
    assert len(lines) == 2 and "25% → 0%" in lines[0] and "3.760 → 4.280" in lines[1]
    better = result(
        Evaluation(eval_loss=3.7, stop_rate=0.4), Evaluation(eval_loss=2.9, stop_rate=1.0)
    )
    assert better.warnings() == [] and result(None, None).warnings() == []
