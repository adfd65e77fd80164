"""The engine calibration: a quality canary and a timing decide what `auto` runs on this CPU.

The embedded model's real verdicts (and a CTranslate2 int8 path that really degenerates, with
oneDNN held to AVX2) are in tests/integration/test_fast_embedded.py; here tiny models and
faked canary failures check the mechanism: failing engines are never chosen, an explicitly
named one warns, verdicts are cached per model × CPU × versions, the CLI shows the table."""

from __future__ import annotations

import json
import os

import pytest

import pretrained
from pretrained.models import calibrate
from pretrained.models.calibrate import canary, measuring
from pretrained.models.calibrate.results import Trial
from pretrained.models.registry import resolve
from tests.helpers import assert_one_line_error

pytest.importorskip("ctranslate2")


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache of this test's own (the session's one holds the shared verdicts)."""
    monkeypatch.setenv("PRETRAINED_CACHE", str(tmp_path / "cache"))
    pretrained.models.unload_all()
    yield tmp_path / "cache"
    pretrained.models.unload_all()


def test_degenerate_catches_loops_not_ordinary_text():
    assert calibrate.degenerate('"The Daily Daily Daily Daily Daily Daily')
    assert calibrate.degenerate("1. Daily Daily Daily Daily")
    assert calibrate.degenerate("I like it. " * 8)
    assert not calibrate.degenerate('"The Cozy Cup: A Delightful Deluxe"')
    assert not calibrate.degenerate(
        "A paperclip can hold papers together, reset a router, clean a phone port, or "
        "act as a bookmark."
    )


def test_agreement_counts_near_ties_only():
    top = {5: 10.0, 7: 9.5, 9: 3.0}
    assert calibrate._agrees(top, 5) and calibrate._agrees(top, 7)
    assert not calibrate._agrees(top, 9)  # far below the reference's pick
    assert not calibrate._agrees(top, 1)  # not among the reference's top choices


def test_a_failing_canary_is_never_chosen_and_a_named_engine_warns(
    tiny_llama_dir, own_cache, monkeypatch, capsys
):
    resolved = resolve(str(tiny_llama_dir))
    real = canary.next_token_picks

    def broken_int8(backend, texts, positions):
        picks = real(backend, texts, positions)
        if backend.engine == "ctranslate2":  # every CTranslate2 variant predicts garbage
            return [[(p + 1) % 7 for p in row] for row in picks]
        return picks

    monkeypatch.setattr(canary, "next_token_picks", broken_int8)
    fixed_speeds(monkeypatch, {"ctranslate2": 50.0, "transformers": 10.0})
    backend = pretrained.load(str(tiny_llama_dir))
    assert backend.engine == "transformers"  # the only engine left
    verdict = calibrate.verdict(resolved, run=False)
    assert verdict is not None
    failed = verdict.failed("ctranslate2")
    assert failed and all("agreement" in t.reason for t in failed)
    assert verdict.chosen().engine == "transformers"
    assert "calibrating engines" in capsys.readouterr().err
    # named explicitly: it runs, with a warning that says what failed and what auto picks
    pretrained.models.unload_all()
    named = pretrained.load(str(tiny_llama_dir), engine="ctranslate2")
    assert named.engine == "ctranslate2"
    err = capsys.readouterr().err
    assert "ctranslate2 failed the quality canary" in err and "transformers" in err


def fixed_speeds(monkeypatch, speeds: dict[str, float]):
    """Timings by engine label (else by engine name) instead of measured ones: the ranking
    the tests need, on any machine. Returns the labels timed, in order."""
    timed = []

    def fake_time(backend, trial):
        timed.append(trial.label)
        tps = speeds.get(trial.label, speeds.get(trial.engine, 1.0))
        trial.decode_tps, trial.prefill_tps = tps, tps * 10

    monkeypatch.setattr(measuring, "_time", fake_time)
    return timed


def canaried(monkeypatch) -> list[str]:
    """The labels whose canary ran, in order."""
    ran = []
    real = canary.check

    def spy(backend, trial, truth):
        ran.append(trial.label)
        return real(backend, trial, truth)

    monkeypatch.setattr(canary, "check", spy)
    return ran


def looping_int8(monkeypatch):
    """CTranslate2 int8 answers every canary prompt 'Daily Daily …' (a faked broken path)."""
    real = canary._greedy_ids

    def looping(backend, prompts, max_new_tokens=calibrate.GREEDY_TOKENS):
        pairs, seconds = real(backend, prompts, max_new_tokens)
        if backend.engine == "ctranslate2" and backend.dtype == "int8":
            word = backend.tokenizer.encode(" Daily", False)
            pairs = [(ids, (word * 12)[:max_new_tokens]) for ids, _ in pairs]
        return pairs, seconds

    monkeypatch.setattr(canary, "_greedy_ids", looping)
    monkeypatch.setattr(canary, "degenerate", lambda text: "Daily Daily" in text)


def test_the_fastest_engine_that_passed_wins_and_sets_the_compute_type(
    tiny_llama_dir, own_cache, monkeypatch
):
    """int8 is fastest and fails (a faked greedy loop), float32 passes: auto runs CTranslate2
    float32, and the slower reference's canary is not needed."""
    looping_int8(monkeypatch)
    fixed_speeds(monkeypatch, {"ctranslate2 int8": 90.0, "ctranslate2 float32": 60.0})
    ran = canaried(monkeypatch)
    backend = pretrained.load(str(tiny_llama_dir))
    verdict = calibrate.verdict(resolve(str(tiny_llama_dir)), run=False)
    trials = {t.label: t for t in verdict.trials}
    assert not trials["ctranslate2 int8"].passed and trials["ctranslate2 int8"].degenerate
    assert "greedy loop" in trials["ctranslate2 int8"].reason
    assert trials["ctranslate2 int8"].agreement is None  # stopped at the first failed check
    assert trials["ctranslate2 float32"].passed
    assert ran == ["ctranslate2 int8", "ctranslate2 float32"]
    assert verdict.variant("ctranslate2") == "float32"
    assert verdict.chosen().label == "ctranslate2 float32"
    assert (backend.engine, backend.dtype) == ("ctranslate2", "float32")


def test_the_canary_stops_once_the_result_cannot_change(tiny_llama_dir, own_cache, monkeypatch):
    """The fastest engine passes for every workload: the slower ones' canaries are not run,
    their trials say so, and none of them counts as failed (no warning for --engine)."""
    fixed_speeds(monkeypatch, {"ctranslate2 int8": 90.0, "ctranslate2 float32": 60.0})
    ran = canaried(monkeypatch)
    verdict = calibrate.verdict(resolve(str(tiny_llama_dir)))
    assert ran == ["ctranslate2 int8"]
    trials = {t.label: t for t in verdict.trials}
    assert trials["ctranslate2 int8"].passed and verdict.chosen().label == "ctranslate2 int8"
    skipped = trials["ctranslate2 float32"]
    assert not skipped.passed and not skipped.checked
    assert skipped.reason.startswith(calibrate.NOT_CHECKED) and "int8" in skipped.reason
    assert skipped.decode_tps == 60.0  # timed all the same: the table has its speed
    assert verdict.failed("ctranslate2") == []
    rows = {row["engine"]: row for row in verdict.table()}
    assert rows["ctranslate2 float32"]["canary"].startswith("not checked")
    assert rows["ctranslate2 int8"]["chosen"]


def test_a_slower_engine_wins_a_workload_it_is_fastest_for(tiny_llama_dir, own_cache, monkeypatch):
    """Per workload: float32 reads prompts fastest (summarize/ask), int8 decodes fastest
    (generate): both canaries run, each wins its own workload; the reference's does not."""

    def fake_time(backend, trial):
        decode, prefill = {"int8": (90.0, 100.0), "float32": (30.0, 5000.0)}.get(
            trial.variant or "", (5.0, 50.0)
        )
        trial.decode_tps, trial.prefill_tps = decode, prefill

    monkeypatch.setattr(measuring, "_time", fake_time)
    ran = canaried(monkeypatch)
    verdict = calibrate.verdict(resolve(str(tiny_llama_dir)))
    assert sorted(ran) == ["ctranslate2 float32", "ctranslate2 int8"]
    assert verdict.chosen().label == "ctranslate2 int8"
    assert verdict.chosen("summarize").label == "ctranslate2 float32"


def test_canary_order_walks_each_workload_until_one_passes():
    fast, mid, slow = Trial("a", decode_tps=90, prefill_tps=900), Trial("b"), Trial("c")
    mid.decode_tps, mid.prefill_tps = 60, 600
    slow.decode_tps, slow.prefill_tps = 30, 300
    trials = [slow, mid, fast]
    for t in trials:
        t.reason = calibrate.NOT_CHECKED
    verdicts = {"a": (False, "agreement 10% < 80%"), "b": (True, ""), "c": (True, "")}

    def check(trial):
        trial.passed, trial.reason = verdicts[trial.engine]

    order = [t.engine for t in measuring.canary_order(trials, check)]
    assert order == ["a", "b"]  # c can no longer change the result
    assert not slow.checked and fast.checked and not fast.passed
    # nothing passes: every trial is tried once, then it stops
    for t in trials:
        t.passed, t.reason = False, calibrate.NOT_CHECKED
    verdicts = {k: (False, "greedy loop") for k in "abc"}
    assert [t.engine for t in measuring.canary_order(trials, check)] == ["a", "b", "c"]


def test_verdicts_are_cached_per_model_cpu_and_versions(tiny_llama_dir, own_cache, monkeypatch):
    resolved = resolve(str(tiny_llama_dir))
    first = calibrate.verdict(resolved)
    assert first is not None and first.trials
    assert {t.engine for t in first.trials} >= {"ctranslate2", "transformers"}

    def no_measuring(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(calibrate, "measure", no_measuring)
    again = calibrate.verdict(resolved)
    assert again.to_dict() == first.to_dict()
    # another CPU kind (here: the oneDNN kernels held to another ISA) is another verdict
    held = os.environ.get("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "SSE41" if held == "AVX2" else "AVX2")
    assert calibrate.verdict(resolved, run=False) is None
    with pytest.raises(AssertionError, match="measured again"):
        calibrate.verdict(resolved)
    files = list((own_cache / "calibration").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["cpu"] == first.cpu


def test_the_cpu_key_names_the_model_and_isa():
    cpu = calibrate.cpu_info()
    assert cpu["model"] and cpu["arch"] and cpu["threads"] >= 1
    assert isinstance(cpu["isa"], list)
    versions = calibrate.engine_versions()
    assert versions["canary"] == str(calibrate.CANARY_VERSION) and "ctranslate2" in versions


@pytest.mark.parametrize(
    "name",
    ["ONEDNN_MAX_CPU_ISA", "CT2_FORCE_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS"],
)
def test_every_kernel_hold_is_part_of_the_cpu_key(monkeypatch, name):
    """CTranslate2/oneDNN, torch's ATen and MKL each pick kernels by ISA: holding any of them to
    AVX2 (how an AVX2-only machine is emulated) is another CPU kind with its own verdict."""
    monkeypatch.delenv(name, raising=False)
    before = calibrate.cpu_info()
    monkeypatch.setenv(name, "AVX2")
    after = calibrate.cpu_info()
    assert after != before and "AVX2" in json.dumps(after)


def test_calibrate_cli_doctor_and_cache_list_show_the_table(cli, tiny_llama_dir, own_cache):
    r = cli("models", "calibrate", str(tiny_llama_dir), "--json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    assert data["chosen"] and data["cpu"]["model"]
    labels = [t["engine"] + (" " + t["variant"] if t["variant"] else "") for t in data["trials"]]
    assert data["chosen"] in labels and "transformers float32" in labels
    for t in data["trials"]:
        assert t["passed"] or t["reason"]
    r = cli("doctor", "--json")
    assert r.exit_code == 0, r.stderr
    rows = r.json()["calibration"]
    assert rows and sum(row["chosen"] for row in rows) == 1
    assert {"engine", "decode_tok_s", "canary", "agreement"} <= set(rows[0])
    r = cli("models", "cache", "list")
    assert r.exit_code == 0 and "engines measured on this CPU" in r.stdout and "chosen" in r.stdout
    r = cli("models", "calibrate", str(tiny_llama_dir))  # measures again, prints the table
    assert r.exit_code == 0 and "chosen" in r.stdout, r.stderr
    assert "calibrating engines" in r.stderr
    cli("models", "cache", "clear")
    assert not (own_cache / "calibration").exists()


def test_calibrate_cli_bad_inputs(cli, tmp_path):
    assert_one_line_error(cli("models", "calibrate", str(tmp_path / "missing")), 1)
    assert_one_line_error(cli("models", "calibrate", "minilm-l6"), 2, "calibration")
