"""Security probe of the Gradio API under / (issue 14): every tab called with file paths that
were never uploaded, FileData URLs into the host's network, and without a login session.
Raw HTTP (queue/join + queue/data) as an attacker would send it, not gradio_client."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.serve.conftest import LiveServer, every_task_backends

SECRET = (
    "TOPSECRET the first line of a private key file. TOPSECRET the second line of that file. "
    "TOPSECRET a third line that no client may read. TOPSECRET and a fourth one at the end."
)


def ui_app(tiny_gpt2_dir, **config):
    from pretrained.serve import ServeConfig, create_app

    backends = every_task_backends()
    config.setdefault("models", {"tokenize": str(tiny_gpt2_dir)})
    return create_app(ServeConfig(ui=True, **config), backends=backends)


def fn_indexes(client: httpx.Client) -> dict[str, int]:
    config = client.get("/config").json()
    return {d["api_name"]: d["id"] for d in config["dependencies"] if d.get("api_name")}


def gradio_call(client: httpx.Client, fn_index: int, data: list, session: str) -> dict:
    """queue/join then read queue/data until the event completes → the completion message."""
    joined = client.post(
        "/gradio_api/queue/join",
        json={"data": data, "fn_index": fn_index, "session_hash": session},
    )
    assert joined.status_code == 200, joined.text
    with client.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as events:
        for line in events.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the event never completed")


def file_data(path) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


@pytest.fixture
def secret_file(tmp_path) -> Path:
    path = tmp_path / "id_rsa"
    path.write_text(SECRET)
    return path


def tab_inputs(foreign) -> dict[str, list]:
    """One call per tab, with the foreign file in every input that could take one."""
    return {
        "generate": [foreign, "", False, 8, 0.0, 50, 0.95, 1.1, None, ""],
        "chat": [foreign, [], "", 8, 0.0],
        "summarize": ["", "", foreign, "extractive", 2],
        "classify": [foreign, ""],
        "transcribe": [foreign],
        "tokenize": [foreign],
    }


def test_no_tab_reads_a_file_that_was_not_uploaded(tiny_gpt2_dir, secret_file, tmp_path):
    link = tmp_path / "innocent.txt"  # a symlink does not launder the path either
    link.symlink_to(secret_file)
    with LiveServer(ui_app(tiny_gpt2_dir)) as server:
        client = httpx.Client(base_url=server.url, timeout=60)
        indexes = fn_indexes(client)
        assert {"summarize", "transcribe", "generate", "tokenize"} <= set(indexes)
        for n, foreign in enumerate([file_data(secret_file), file_data(link), file_data("/")]):
            for name, data in tab_inputs(foreign).items():
                done = gradio_call(client, indexes[name], data, f"probe-{name}-{n}")
                assert "TOPSECRET" not in json.dumps(done), (name, done)
                if name in ("summarize", "transcribe"):
                    assert done["success"] is False, (name, done)
        assert secret_file.read_text() == SECRET  # and nothing was deleted


def test_the_ui_helper_refuses_paths_outside_the_upload_folder(secret_file, tmp_path):
    from pretrained.errors import InvalidOptionError
    from pretrained.serve.ui_parts import _remove, upload_folder, uploaded

    with pytest.raises(InvalidOptionError, match="not uploaded"):
        uploaded(secret_file)
    folder = upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    inside = folder / f"probe-{os.getpid()}"
    inside.mkdir(exist_ok=True)
    (inside / "link.txt").symlink_to(secret_file)
    try:
        with pytest.raises(InvalidOptionError):
            uploaded(inside / "link.txt")
        with pytest.raises(InvalidOptionError):
            uploaded(inside / ".." / ".." / secret_file.relative_to("/"))
        _remove(secret_file)  # the cleanup helper never deletes a foreign file
        assert secret_file.exists()
        real = inside / "upload.txt"
        real.write_text("an upload")
        assert uploaded(real) == real.resolve()
        _remove(real)
        assert not real.exists()
    finally:
        (inside / "link.txt").unlink()
        inside.rmdir()


def test_file_data_urls_into_the_host_are_not_fetched(tiny_gpt2_dir):
    hits: list[str] = []

    async def internal(scope, receive, send):  # an "internal" service on 127.0.0.1
        if scope["type"] != "http":
            return
        hits.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": SECRET.encode()})

    with LiveServer(internal) as inner, LiveServer(ui_app(tiny_gpt2_dir)) as server:
        client = httpx.Client(base_url=server.url, timeout=60)
        indexes = fn_indexes(client)
        remote = {
            "path": "notes.txt",
            "url": inner.url + "/notes.txt",
            "meta": {"_type": "gradio.FileData"},
        }
        for name in ("summarize", "transcribe"):
            done = gradio_call(client, indexes[name], tab_inputs(remote)[name], f"url-{name}")
            assert done["success"] is False and "TOPSECRET" not in json.dumps(done)
        assert hits == []


def test_every_gradio_route_needs_a_session_when_a_key_is_set(tiny_gpt2_dir, secret_file):
    with LiveServer(ui_app(tiny_gpt2_dir, api_keys=("sk-ui-probe",))) as server:
        anonymous = httpx.Client(base_url=server.url, timeout=30)
        for method, path in [
            ("GET", "/config"),
            ("GET", "/gradio_api/info"),
            ("GET", f"/gradio_api/file={secret_file}"),
            ("POST", "/gradio_api/queue/join"),
            ("GET", "/gradio_api/queue/data?session_hash=x"),
            ("POST", "/gradio_api/upload"),
            ("POST", "/gradio_api/run/predict"),
            ("POST", "/gradio_api/call/summarize"),
        ]:
            body = {"data": ["", "", file_data(secret_file), "extractive", 2], "fn_index": 1}
            response = anonymous.request(method, path, json=body if method == "POST" else None)
            assert response.status_code in (401, 403, 404, 405), (path, response.status_code)
            assert "TOPSECRET" not in response.text

        signed_in = httpx.Client(base_url=server.url, timeout=60)
        login = signed_in.post("/login", data={"username": "x", "password": "sk-ui-probe"})
        assert login.status_code == 200
        indexes = fn_indexes(signed_in)
        done = gradio_call(
            signed_in, indexes["summarize"], tab_inputs(file_data(secret_file))["summarize"], "s"
        )
        assert done["success"] is False and "TOPSECRET" not in json.dumps(done)


def test_failed_logins_are_throttled(tiny_gpt2_dir):
    with LiveServer(ui_app(tiny_gpt2_dir, api_keys=("sk-right",), max_auth_failures=3)) as server:
        client = httpx.Client(base_url=server.url, timeout=30)
        for _ in range(3):
            assert client.post("/login", data={"username": "x", "password": "no"}).status_code in (
                400,
                401,
            )
        r = client.post("/login", data={"username": "x", "password": "sk-right"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def _predict_error(client, *args, api_name: str) -> str:
    with pytest.raises(Exception) as info:  # noqa: PT011 - gradio_client raises AppError
        client.predict(*args, api_name=api_name)
    return str(info.value)


def test_the_ui_keeps_the_servers_token_limit(tiny_gpt2_dir):
    from gradio_client import Client

    with LiveServer(ui_app(tiny_gpt2_dir, max_new_tokens=16)) as server:
        client = Client(server.url + "/", verbose=False)
        knobs = [0.0, 50, 0.95, 1.1, None, ""]
        # the sliders end at the server's limit, and Gradio refuses values past them
        said = _predict_error(client, "Hi", "", False, 64, *knobs, api_name="/generate")
        assert "limit of 16" in said or "maximum value 16" in said, said
        said = _predict_error(client, "Hi", [], "", 64, 0.5, api_name="/chat")
        assert "limit of 16" in said or "maximum value 16" in said, said
        said = _predict_error(
            client, "Hi", "", False, 8, 0.0, 50, 0.95, 1.1, 1e30, "", api_name="/generate"
        )
        assert "seed" in said
        text, _ = client.predict("Hi", "", False, 2, *knobs, api_name="/generate")
        assert text == "hello there"


def test_the_ui_shares_the_apis_slots_and_deadline():
    import threading

    from gradio_client import Client

    from pretrained.serve import ServeConfig, create_app
    from tests.serve.conftest import SlowBackend

    slow = SlowBackend(words=200, delay=0.02)
    config = ServeConfig(
        tasks=("generate",), ui=True, max_concurrency=1, max_queue=0, timeout_s=1.5
    )
    with LiveServer(create_app(config, backends={"generate": slow})) as server:
        client = Client(server.url + "/", verbose=False)
        knobs = [0.0, 50, 0.95, 1.1, None, ""]
        # an API request holds the only slot: the UI is refused, not served by a pool of its own
        holder = threading.Thread(
            target=httpx.post,
            args=(server.url + "/v1/completions",),
            kwargs={"json": {"prompt": "x", "max_tokens": 50}, "timeout": 30},  # ≈ 1 s
        )
        holder.start()
        time.sleep(0.2)
        said = _predict_error(client, "Hi", "", False, 200, *knobs, api_name="/generate")
        assert "busy" in said
        holder.join()
        time.sleep(0.2)
        # the UI meets the same deadline, and its generation stops there
        cancelled = slow.cancelled
        said = _predict_error(client, "Hi", "", False, 200, *knobs, api_name="/generate")
        assert "longer than the server's limit of 1.5s" in said
        time.sleep(0.5)
        assert slow.cancelled == cancelled + 1 and slow.produced[-1] < 200
