import multiprocessing
import os

import pytest

from pretrained import runs


def test_track_writes_one_row_with_annotations(isolated_home):
    with runs.track("generate", params={"temperature": 0, "max_new_tokens": 5}):
        runs.annotate(model="m", revision="abc", device="cpu", prompt_tokens=3, completion_tokens=5)
        runs.annotate(completion_tokens=2)
    [row] = runs.recent()
    assert row["command"] == "generate"
    assert row["model"] == "m" and row["revision"] == "abc" and row["device"] == "cpu"
    assert row["prompt_tokens"] == 3 and row["completion_tokens"] == 7
    assert row["params"] == {"temperature": 0, "max_new_tokens": 5}
    assert row["status"] == "ok" and row["error_class"] is None
    assert row["duration_s"] >= 0


def test_failure_records_error_class():
    with pytest.raises(ValueError), runs.track("generate"):
        raise ValueError("boom")
    assert runs.recent()[0]["status"] == "error"
    assert runs.recent()[0]["error_class"] == "ValueError"


def test_annotate_outside_a_run_is_a_no_op():
    runs.annotate(model="x")
    assert runs.recent() == []


def test_secrets_are_never_written(isolated_home):
    secret = "hf_" + "a" * 30
    with runs.track(
        "push",
        params={
            "token": secret,
            "api_key": "k",
            "repo": "me/x",
            "url": f"https://x/?t={secret}",
            "max_new_tokens": 3,
        },
    ):
        runs.annotate(note=f"used {secret}")
    raw = (isolated_home / "runs.sqlite").read_bytes()
    assert secret.encode() not in raw
    row = runs.recent()[0]
    assert row["params"]["token"] == "***" and row["params"]["api_key"] == "***"
    assert row["params"]["max_new_tokens"] == 3 and row["params"]["repo"] == "me/x"


def _writer(home: str, n: int) -> None:
    os.environ["PRETRAINED_HOME"] = home
    for i in range(n):
        with runs.track("worker", params={"i": i}):
            pass


def test_concurrent_processes_do_not_fail_on_a_locked_database(isolated_home):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(isolated_home), 25)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert len(runs.recent(limit=1000)) == 150
