"""S3 (and any S3-compatible store: MinIO, SeaweedFS, R2 …) through boto3.

Credentials come from the standard AWS chain (env vars, ~/.aws profiles, instance roles) and
are never printed. `--endpoint-url` (or AWS_ENDPOINT_URL) points at a non-AWS store. Objects are
streamed to a temporary file under PRETRAINED_HOME/tmp and removed when the block ends; files
left by a killed process are swept by the next run.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import settings
from .._util import process_alive
from ..errors import (
    AuthError,
    InputNotFoundError,
    NetworkError,
    UsageError,
    missing_dependency,
)
from .items import MediaItem, matches

_CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for this bucket's store"
)
_TMP_PREFIX = "s3-"


@dataclass(frozen=True)
class RemoteObject:
    bucket: str
    key: str
    size: int
    etag: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def download_to_temp(self, *, endpoint_url: str | None = None):
        """A temporary local copy for the duration of a with block (see download_to_temp)."""
        return download_to_temp(self, endpoint_url=endpoint_url)


def parse_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/some/prefix → (bucket, 'some/prefix')."""
    if not uri.startswith("s3://"):
        raise UsageError(f"not an S3 address: {uri}", hint="write it as s3://bucket/prefix/")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"no bucket in '{uri}'", hint="write it as s3://bucket/prefix/")
    return bucket, key


def client(endpoint_url: str | None = None) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise missing_dependency("boto3", "audio") from exc
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10)
    # a fresh session reads the credential chain now (the default session caches it forever)
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url or None, config=config)


@contextlib.contextmanager
def s3_errors(uri: str, endpoint_url: str | None) -> Iterator[None]:
    """botocore exceptions → our error tree, one line each, never the credentials."""
    from botocore import exceptions as bex

    where = f" at {endpoint_url}" if endpoint_url else ""
    try:
        yield
    except bex.NoCredentialsError as exc:
        raise AuthError(f"no AWS credentials found for {uri}", hint=_CREDENTIALS_HINT) from exc
    except bex.EndpointConnectionError as exc:
        raise NetworkError(
            f"could not reach the S3 endpoint{where} for {uri}",
            hint="check --endpoint-url (or AWS_ENDPOINT_URL) and that the store is running",
        ) from exc
    except bex.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in ("NoSuchBucket", "NoSuchKey", "404", "NotFound"):
            raise InputNotFoundError(
                f"{uri}: {'no such bucket' if code == 'NoSuchBucket' else 'no such object'}{where}",
                hint="check the bucket name and prefix (aws s3 ls s3://BUCKET/ lists them)",
            ) from exc
        if code in (
            "AccessDenied",
            "403",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
        ):
            raise AuthError(
                f"the S3 store refused access to {uri} ({code})", hint=_CREDENTIALS_HINT
            ) from exc
        raise NetworkError(
            f"S3 error for {uri}: {code} {error.get('Message', '')}".strip()
        ) from exc
    except bex.BotoCoreError as exc:
        raise NetworkError(f"S3 request for {uri} failed: {exc}") from exc


def list_objects(
    uri: str, *, glob: str | None = None, endpoint_url: str | None = None
) -> list[Any]:
    """Media objects under s3://bucket/prefix as MediaItems (an exact key gives just that)."""
    bucket, prefix = parse_uri(uri)
    s3 = client(endpoint_url)
    found: list[RemoteObject] = []
    with s3_errors(uri, endpoint_url):
        if prefix and not prefix.endswith("/"):
            with contextlib.suppress(InputNotFoundError), s3_errors(uri, endpoint_url):
                head = s3.head_object(Bucket=bucket, Key=prefix)
                obj = RemoteObject(bucket, prefix, head["ContentLength"], head["ETag"].strip('"'))
                return [_item(obj, Path(prefix).name)]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                if entry["Key"].endswith("/"):
                    continue
                found.append(
                    RemoteObject(bucket, entry["Key"], entry["Size"], entry["ETag"].strip('"'))
                )
    base = prefix if prefix.endswith("/") or not prefix else prefix + "/"
    items = []
    for obj in sorted(found, key=lambda o: o.key):
        relative = obj.key[len(base) :] if obj.key.startswith(base) else obj.key
        if matches(relative, glob):
            items.append(_item(obj, relative))
    return items


def _item(obj: RemoteObject, relative: str) -> MediaItem:
    return MediaItem(
        uri=obj.uri,
        relative=relative,
        size=obj.size,
        fingerprint=f"s3:{obj.uri}:{obj.size}:{obj.etag}",
        remote=obj,
    )


def temp_dir() -> Path:
    path = settings.home() / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sweep_temp_files() -> int:
    """Remove downloads left by processes that no longer exist (kill -9, power loss)."""
    removed = 0
    for leftover in temp_dir().glob(f"{_TMP_PREFIX}*"):
        pid = leftover.name[len(_TMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed += 1
    return removed


@contextlib.contextmanager
def download_to_temp(obj: RemoteObject, *, endpoint_url: str | None = None) -> Iterator[Path]:
    """Stream an object to a temporary file (keeping its extension for FFmpeg); remove it after."""
    suffix = Path(obj.key).suffix
    fd, name = tempfile.mkstemp(
        dir=temp_dir(), prefix=f"{_TMP_PREFIX}{os.getpid()}-", suffix=suffix
    )
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh, s3_errors(obj.uri, endpoint_url):
            client(endpoint_url).download_fileobj(obj.bucket, obj.key, fh)
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
