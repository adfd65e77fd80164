"""sources/s3.py against a real S3 server (SeaweedFS on 127.0.0.1): list, download, errors."""

from __future__ import annotations

import uuid

import pytest

from pretrained.errors import AuthError, InputNotFoundError, NetworkError, UsageError
from pretrained.sources import s3
from pretrained.sources.audio import expand_inputs


@pytest.fixture
def bucket(aws_env):
    """'bucket/unique-prefix': the shared test bucket, apart from other tests by prefix."""
    prefix = uuid.uuid4().hex[:10]
    client = aws_env.client()
    for key in ("talks/2026/a.wav", "talks/2026/deep/b.mp4", "talks/2026/notes.txt", "talks/c.wav"):
        client.put_object(Bucket=aws_env.bucket, Key=f"{prefix}/{key}", Body=key.encode())
    return f"{aws_env.bucket}/{prefix}"


def test_parse_uri():
    assert s3.parse_uri("s3://talks/2026/") == ("talks", "2026/")
    assert s3.parse_uri("s3://talks") == ("talks", "")
    with pytest.raises(UsageError):
        s3.parse_uri("s3:///x")
    with pytest.raises(UsageError):
        s3.parse_uri("https://talks")


def test_listing_a_prefix_finds_media_objects_recursively(aws_env, bucket):
    items = expand_inputs([f"s3://{bucket}/talks/2026/"], endpoint_url=aws_env.url)
    assert [i.uri for i in items] == [
        f"s3://{bucket}/talks/2026/a.wav",
        f"s3://{bucket}/talks/2026/deep/b.mp4",
    ]
    assert [i.relative for i in items] == ["a.wav", "deep/b.mp4"]
    assert all(i.fingerprint.startswith("s3:") and i.size for i in items)
    # no trailing slash: still a prefix; --glob filters by relative path or name
    globbed = expand_inputs([f"s3://{bucket}/talks"], glob="*.wav", endpoint_url=aws_env.url)
    assert [i.relative for i in globbed] == ["2026/a.wav", "c.wav"]
    exact = expand_inputs([f"s3://{bucket}/talks/c.wav"], endpoint_url=aws_env.url)
    assert [(i.uri, i.relative) for i in exact] == [(f"s3://{bucket}/talks/c.wav", "c.wav")]


def test_objects_download_to_a_temp_file_that_is_removed_afterwards(aws_env, bucket):
    (item,) = expand_inputs([f"s3://{bucket}/talks/c.wav"], endpoint_url=aws_env.url)
    with item.open(endpoint_url=aws_env.url) as local:
        assert local.read_bytes() == b"talks/c.wav" and local.suffix == ".wav"
        assert local.parent == s3.temp_dir()
    assert not local.exists()


def test_leftover_downloads_of_dead_processes_are_swept(aws_env):
    dead = s3.temp_dir() / "s3-999999999-abc.wav"  # no such pid
    dead.write_bytes(b"x")
    mine = s3.temp_dir() / f"s3-{__import__('os').getpid()}-abc.wav"
    mine.write_bytes(b"x")
    assert s3.sweep_temp_files() == 1
    assert not dead.exists() and mine.exists()


def test_s3_errors_are_one_line_errors_with_hints(aws_env, bucket, monkeypatch):
    with pytest.raises(InputNotFoundError, match="no such bucket"):
        expand_inputs(["s3://no-such-bucket-here/"], endpoint_url=aws_env.url)
    with pytest.raises(InputNotFoundError, match="no objects under"):
        expand_inputs([f"s3://{bucket}/nothing/here/"], endpoint_url=aws_env.url)
    with pytest.raises(NetworkError, match="could not reach"):
        expand_inputs([f"s3://{bucket}/"], endpoint_url="http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AuthError, match="no AWS credentials") as info:
        expand_inputs([f"s3://{bucket}/"], endpoint_url=aws_env.url)
    assert "AWS_ACCESS_KEY_ID" in info.value.hint
