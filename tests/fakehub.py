"""A small local stand-in for the Hugging Face Hub HTTP API, written from the API's documented
shapes, so the real huggingface_hub client code paths run offline in tests.

Supported: model and dataset info (`/api/{models,datasets}/{id}[/revision/{rev}]`), tree
listing, file resolve (HEAD + GET with X-Repo-Commit/ETag headers), whoami, and the error codes
the client maps to exceptions (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo). Writes, for small files:
repo creation (`/api/repos/create`), README metadata validation, preupload (every file
"regular") and the NDJSON commit endpoint; they need a token with the "write" role.
"""

from __future__ import annotations

import base64
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
    datasets: dict[str, FakeRepo] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token → role (read | write)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    created: dict[str, dict] = field(default_factory=dict)  # "type/id" → create payload
    commits: list[dict] = field(default_factory=list)  # {"repo", "summary", "files"}

    def add_folder(self, repo_id: str, folder: Path, **kwargs) -> FakeRepo:
        files = {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()
        }
        repo = FakeRepo(files, **kwargs)
        self.repos[repo_id] = repo
        return repo

    def add_dataset(self, repo_id: str, files: dict[str, bytes], **kwargs) -> FakeRepo:
        repo = FakeRepo(files, **kwargs)
        self.datasets[repo_id] = repo
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

        def _repo(
            self, repo_id: str, revision: str | None, kind: str = "models"
        ) -> FakeRepo | None:
            repo = (hub.datasets if kind == "datasets" else hub.repos).get(repo_id)
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
            m = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
            if m:
                kind, repo_id, revision = m.groups()
                repo = self._repo(repo_id, revision, kind)
                if repo is None:
                    return None
                siblings = [{"rfilename": n, "size": len(b)} for n, b in sorted(repo.files.items())]
                body = {
                    "id": repo_id,
                    "modelId": repo_id,
                    "sha": repo.sha,
                    "private": False,
                    "gated": "manual" if repo.gated else False,
                    "siblings": siblings,
                    "tags": [],
                }
                return self._send(200, json.dumps(body).encode())
            m = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)/tree/([^/]+)(?:/.*)?", path)
            if m:
                repo = self._repo(m.group(2), m.group(3), m.group(1))
                if repo is None:
                    return None
                entries = [
                    {"type": "file", "path": n, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                    for n, b in sorted(repo.files.items())
                ]
                return self._send(200, json.dumps(entries).encode())
            m = re.fullmatch(r"/(?P<ds>datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if m:
                kind = "datasets" if m.group("ds") else "models"
                repo = self._repo(m.group(2), m.group(3), kind)
                if repo is None:
                    return None
                if repo.gated and hub.tokens.get(self._token() or "") is None:
                    return self._error(
                        403, "GatedRepo", f"Access to model {m.group(2)} is restricted"
                    )
                data = repo.files.get(m.group(4))
                if data is None:
                    return self._error(404, "EntryNotFound", f"{m.group(4)} does not exist")
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

        def do_POST(self):
            path = unquote(urlparse(self.path).path)
            hub.requests.append((self.command, path))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            role = hub.tokens.get(self._token() or "")
            if path == "/api/validate-yaml":
                return self._send(200, json.dumps({"errors": [], "warnings": []}).encode())
            if role is None:
                return self._error(401, "Unauthorized", "Invalid credentials")
            if role != "write":
                return self._error(403, "Forbidden", "You don't have the rights to write")
            if path == "/api/repos/create":
                body = json.loads(raw)
                kind = body.get("type") or "model"
                repo_id = f"{body.get('organization') or 'tester'}/{body['name']}"
                key = f"{kind}/{repo_id}"
                prefix = "" if kind == "model" else f"{kind}s/"
                url = f"{hub.url}/{prefix}{repo_id}"
                if key in hub.created:  # the Hub's 409 carries the URL too
                    message = "You already created this repo"
                    return self._send(
                        409,
                        json.dumps({"error": message, "url": url}).encode(),
                        {"X-Error-Code": "Conflict", "X-Error-Message": message},
                    )
                hub.created[key] = body
                hub.repos.setdefault(key, FakeRepo({}))
                return self._send(200, json.dumps({"url": url}).encode())
            m = re.fullmatch(
                r"/api/(model|dataset|space)s/([^/]+/[^/]+)/(preupload|commit)/([^/]+)", path
            )
            if m is None:
                return self._error(404, "NotFound", f"no route for {path}")
            kind, repo_id, action, _revision = m.groups()
            repo = hub.repos.get(f"{kind}/{repo_id}")
            if repo is None:
                return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            if action == "preupload":
                files = [
                    {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                    for f in json.loads(raw)["files"]
                ]
                return self._send(200, json.dumps({"files": files}).encode())
            lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
            header = next(item["value"] for item in lines if item["key"] == "header")
            written = {}
            for item in lines:
                if item["key"] == "file":
                    written[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            repo.files.update(written)
            repo.sha = hashlib.sha1(repr(sorted(repo.files.items())).encode()).hexdigest()
            hub.commits.append(
                {"repo": f"{kind}/{repo_id}", "summary": header["summary"], "files": written}
            )
            prefix = "" if kind == "model" else f"{kind}s/"
            body = {
                "commitUrl": f"{hub.url}/{prefix}{repo_id}/commit/{repo.sha}",
                "commitOid": repo.sha,
                "pullRequestUrl": None,
            }
            return self._send(200, json.dumps(body).encode())

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
