import multiprocessing
import os

import pytest

from pretrained import runlog


def test_track_writes_one_row_with_annotations(isolated_home):
    with runlog.track("generate", params={"temperature": 0, "max_new_tokens": 5}):
        runlog.annotate(
            model="m", revision="abc", device="cpu", prompt_tokens=3, completion_tokens=5
        )
        runlog.annotate(completion_tokens=2)
    [row] = runlog.recent()
    assert row["command"] == "generate"
    assert row["model"] == "m" and row["revision"] == "abc" and row["device"] == "cpu"
    assert row["prompt_tokens"] == 3 and row["completion_tokens"] == 7
    assert row["params"] == {"temperature": 0, "max_new_tokens": 5}
    assert row["status"] == "ok" and row["error_class"] is None
    assert row["duration_s"] >= 0


def test_failure_records_error_class():
    with pytest.raises(ValueError), runlog.track("generate"):
        raise ValueError("boom")
    assert runlog.recent()[0]["status"] == "error"
    assert runlog.recent()[0]["error_class"] == "ValueError"


def test_annotate_outside_a_run_is_a_no_op():
    runlog.annotate(model="x")
    assert runlog.recent() == []


def test_secrets_are_never_written(isolated_home):
    secret = "hf_" + "a" * 30
    with runlog.track(
        "push",
        params={
            "token": secret,
            "api_key": "k",
            "repo": "me/x",
            "url": f"https://x/?t={secret}",
            "max_new_tokens": 3,
        },
    ):
        runlog.annotate(note=f"used {secret}")
    raw = (isolated_home / "runs.sqlite").read_bytes()
    assert secret.encode() not in raw
    row = runlog.recent()[0]
    assert row["params"]["token"] == "***" and row["params"]["api_key"] == "***"
    assert row["params"]["max_new_tokens"] == 3 and row["params"]["repo"] == "me/x"


def _writer(home: str, n: int) -> None:
    os.environ["PRETRAINED_HOME"] = home
    for i in range(n):
        with runlog.track("worker", params={"i": i}):
            pass


def test_concurrent_processes_do_not_fail_on_a_locked_database(isolated_home):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(isolated_home), 25)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert len(runlog.recent(limit=1000)) == 150


URLS_WITH_SECRETS = [
    ("http://user:pw-5ecret@example.com/page", "http://***@example.com/page"),
    (
        "https://example.com/a?access_token=5ecret&lang=en",
        "https://example.com/a?access_token=***&lang=en",
    ),
    ("https://b.s3.example/k?X-Amz-Signature=5ecret&X-Amz-Credential=AK%2F5ecret&x=1", None),
    ("https://example.com/?api_key=5ecret#top", "https://example.com/?api_key=***#top"),
    ("https://example.com/?q=5ecret-not-a-secret", "https://example.com/?q=5ecret-not-a-secret"),
]


@pytest.mark.parametrize("url,clean", URLS_WITH_SECRETS)
def test_urls_lose_their_credentials(url, clean):
    from pretrained.redact import redact, redact_url

    out = redact_url(url)
    if clean is not None:
        assert out == clean
    if "q=" not in url:
        assert "5ecret" not in out
    assert redact(f"could not fetch {url}: ConnectError") == f"could not fetch {out}: ConnectError"


def test_urls_in_the_run_log_are_scrubbed(isolated_home):
    url = "https://user:pw-5ecret@example.com/doc?token=tok-5ecret&page=2"
    with runlog.track("summarize", params={"source": url, "sources": [url]}):
        runlog.annotate(fetched=url)
    raw = (isolated_home / "runs.sqlite").read_bytes()
    assert b"5ecret" not in raw
    row = runlog.recent()[0]
    assert row["params"]["source"] == "https://***@example.com/doc?token=***&page=2"


def test_printed_errors_and_notes_are_scrubbed(cli):
    result = cli("summarize", "http://user:pw-5ecret@127.0.0.1:9/x?access_token=tok-5ecret")
    assert result.exit_code == 1
    output = result.stdout + result.stderr
    assert "5ecret" not in output and "***@127.0.0.1:9" in output, output
    from pretrained import runlog as log

    assert "5ecret" not in str(log.recent())
