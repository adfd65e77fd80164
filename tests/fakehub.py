"""A small local stand-in for the Hugging Face Hub HTTP API, written from the API's documented
shapes, so the real huggingface_hub client code paths run offline in tests.

Supported: model info (`/api/models/{id}[/revision/{rev}]`), tree listing, file resolve
(HEAD + GET with X-Repo-Commit/ETag headers), whoami, and the error codes the client maps to
exceptions (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse


@dataclass
class FakeRepo:
    files: dict[str, bytes]
    sha: str = ""
    gated: bool = False
    branches: tuple[str, ...] = ("main",)

    def __post_init__(self) -> None:
        if not self.sha:
            digest = hashlib.sha1()
            for name in sorted(self.files):
                digest.update(name.encode() + self.files[name])
            self.sha = digest.hexdigest()


@dataclass
class FakeHub:
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token → role (read | write)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def add_folder(self, repo_id: str, folder: Path, **kwargs) -> FakeRepo:
        files = {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()
        }
        repo = FakeRepo(files, **kwargs)
        self.repos[repo_id] = repo
        return repo


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _token(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            return auth[7:] if auth.startswith("Bearer ") else None

        def _send(
            self,
            status: int,
            body: bytes = b"",
            headers: dict[str, str] | None = None,
            content_type: str = "application/json",
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(
                status,
                json.dumps({"error": message}).encode(),
                {"X-Error-Code": code, "X-Error-Message": message},
            )

        def _repo(self, repo_id: str, revision: str | None) -> FakeRepo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
                return None
            if revision not in (None, repo.sha, *repo.branches):
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return None
            return repo

        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            path = unquote(urlparse(self.path).path)
            hub.requests.append((self.command, path))
            if path == "/api/whoami-v2":
                role = hub.tokens.get(self._token() or "")
                if role is None:
                    return self._error(401, "Unauthorized", "Invalid credentials")
                body = {"type": "user", "name": "tester", "auth": {"accessToken": {"role": role}}}
                return self._send(200, json.dumps(body).encode())
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
            if m:
                repo = self._repo(m.group(1), m.group(2))
                if repo is None:
                    return None
                siblings = [{"rfilename": n, "size": len(b)} for n, b in sorted(repo.files.items())]
                body = {
                    "id": m.group(1),
                    "modelId": m.group(1),
                    "sha": repo.sha,
                    "private": False,
                    "gated": "manual" if repo.gated else False,
                    "siblings": siblings,
                    "tags": [],
                }
                return self._send(200, json.dumps(body).encode())
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/.*)?", path)
            if m:
                repo = self._repo(m.group(1), m.group(2))
                if repo is None:
                    return None
                entries = [
                    {"type": "file", "path": n, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                    for n, b in sorted(repo.files.items())
                ]
                return self._send(200, json.dumps(entries).encode())
            m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if m:
                repo = self._repo(m.group(1), m.group(2))
                if repo is None:
                    return None
                if repo.gated and hub.tokens.get(self._token() or "") is None:
                    return self._error(
                        403, "GatedRepo", f"Access to model {m.group(1)} is restricted"
                    )
                data = repo.files.get(m.group(3))
                if data is None:
                    return self._error(404, "EntryNotFound", f"{m.group(3)} does not exist")
                etag = f'"{hashlib.sha256(data).hexdigest()}"'
                headers = {"X-Repo-Commit": repo.sha, "ETag": etag, "Accept-Ranges": "bytes"}
                ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if ranged:  # header reads (safetensors metadata) ask for a byte range
                    start = int(ranged.group(1))
                    end = int(ranged.group(2)) if ranged.group(2) else len(data) - 1
                    hub.requests[-1] = (self.command + "-RANGE", path)
                    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                    return self._send(
                        206, data[start : end + 1], headers, content_type="application/octet-stream"
                    )
                return self._send(200, data, headers, content_type="application/octet-stream")
            return self._error(404, "NotFound", f"no route for {path}")

    return Handler


class FakeHubServer:
    def __init__(self, hub: FakeHub | None = None) -> None:
        self.hub = hub or FakeHub()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.hub))
        self.hub.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self.hub

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
