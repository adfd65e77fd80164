"""Test support for the text capability: a local HTTP server (web pages, PDFs, plain text,
binaries, 404s, MediaWiki-API-shaped JSON, an OpenAI-compatible chat endpoint), tiny document
builders (PDF, DOCX) and a deterministic bag-of-words embedder for fast unit tests.

The MediaWiki responses follow the Action API's documented `formatversion=2` shapes
(`query.pages[]` with `missing`/`invalid`, `pageprops.disambiguation`, `extract`, `links`,
`query.redirects`, `query.normalized`); the OpenAI ones follow the chat-completions schema
(plain JSON and `text/event-stream` chunks ending with `data: [DONE]`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np


# ---------------------------------------------------------------- documents
def make_pdf(lines: list[str], title: str | None = None) -> bytes:
    """A one-page PDF with real text objects (Helvetica), built by hand with a valid xref."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    body = "BT /F1 11 Tf 72 740 Td 14 TL " + " ".join(f"({esc(line)}) '" for line in lines) + " ET"
    stream = body.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({esc(title or '')}) >>".encode("latin-1"),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_docx(path, paragraphs: list[str], title: str | None = None):
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    for p in paragraphs:
        document.add_paragraph(p)
    document.save(str(path))
    return path


ARTICLE_HTML = """<!doctype html><html><head><title>Coconut crabs | Island News</title></head>
<body><nav><a href="/">Home</a> | <a href="/world">World</a> | <a href="/login">Log in</a></nav>
<header>Island News — subscribe now for unlimited access</header>
<article><h1>Coconut crabs</h1>
<p>The coconut crab is the largest land-living arthropod in the world. It can weigh up to four
kilograms and live for more than sixty years on remote tropical islands.</p>
<p>Coconut crabs are famous for cracking coconuts with their strong claws. Scientists measured
a pinching force greater than that of any other crustacean.</p>
<p>Because they grow slowly, coconut crabs are vulnerable to over-harvesting, and several
islands now protect them by law.</p>
</article>
<footer>Copyright 2026 Island News. All rights reserved. Cookie settings. Privacy policy.</footer>
</body></html>"""


# ---------------------------------------------------------------- a deterministic embedder
class HashingEmbedder:
    """Bag-of-words feature hashing: texts sharing words are similar. Implements the
    EmbeddingBackend protocol with whitespace tokens, so tests run without any model."""

    engine = "hashing"
    model_id = "hashing-bow"
    revision = None
    device = "cpu"
    load_seconds = 0.0

    def __init__(self, dims: int = 512, max_tokens: int = 64) -> None:
        self.dims = dims
        self.max_tokens = max_tokens
        self.calls: list[int] = []  # batch sizes seen by encode

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dims, dtype=np.float32)
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            if len(word) < 3:
                continue
            h = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little")
            v[h % self.dims] += 1.0
        return v

    def encode(self, texts: list[str], *, batch_size: int = 32, normalize: bool = True):
        self.calls.append(len(texts))
        m = np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dims))
        if normalize and len(m):
            m = m / np.linalg.norm(m, axis=1, keepdims=True).clip(min=1e-9)
        return m.astype(np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in re.finditer(r"\S+", text)]


# ---------------------------------------------------------------- the local HTTP server
@dataclass
class WikiPage:
    extract: str = ""
    disambiguation: bool = False
    links: list[str] = field(default_factory=list)


@dataclass
class TextSite:
    """What the server serves. Paths map to (status, content type, body)."""

    routes: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    wiki: dict[str, WikiPage] = field(default_factory=dict)
    wiki_redirects: dict[str, str] = field(default_factory=dict)
    openai_reply: Callable[[list[dict]], str] = lambda messages: "Hello."
    openai_key: str | None = None  # when set, other keys get 401
    openai_requests: list[dict] = field(default_factory=list)
    wiki_requests: list[dict] = field(default_factory=list)

    def add(self, path: str, body: bytes | str, content_type: str = "text/html", status: int = 200):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = (status, content_type, data)


def _wiki_answer(site: TextSite, params: dict[str, str]) -> dict[str, Any]:
    title = params.get("titles", "")
    query: dict[str, Any] = {}
    normalized = title[:1].upper() + title[1:] if title else title
    normalized = normalized.replace("_", " ")
    if normalized != title:
        query["normalized"] = [{"fromencoded": False, "from": title, "to": normalized}]
    if "[" in normalized or "]" in normalized or not normalized:
        query["pages"] = [
            {
                "title": title,
                "invalidreason": "The requested page title contains invalid characters",
                "invalid": True,
            }
        ]
        return {"batchcomplete": True, "query": query}
    if normalized in site.wiki_redirects:
        target = site.wiki_redirects[normalized]
        query["redirects"] = [{"from": normalized, "to": target}]
        normalized = target
    page = site.wiki.get(normalized)
    if page is None:
        query["pages"] = [{"ns": 0, "title": normalized, "missing": True}]
        return {"batchcomplete": True, "query": query}
    entry: dict[str, Any] = {
        "pageid": abs(hash(normalized)) % 10**7,
        "ns": 0,
        "title": normalized,
        "fullurl": f"https://en.wikipedia.org/wiki/{normalized.replace(' ', '_')}",
    }
    props = params.get("prop", "")
    if "extracts" in props:
        entry["extract"] = page.extract
    if "pageprops" in props and page.disambiguation:
        entry["pageprops"] = {"disambiguation": ""}
    if "links" in props:
        entry["links"] = [{"ns": 0, "title": t} for t in page.links]
    query["pages"] = [entry]
    return {"batchcomplete": True, "query": query}


def _handler(site: TextSite):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, status: int, content_type: str, body: bytes, extra=None) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path.endswith("/w/api.php"):
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                site.wiki_requests.append(params)
                lang = url.path.strip("/").split("/")[0]
                params["lang"] = lang
                body = json.dumps(_wiki_answer(site, params)).encode()
                return self._send(200, "application/json; charset=utf-8", body)
            if url.path.startswith("/redirect"):
                return self._send(
                    302, "text/plain", b"", {"Location": url.path[len("/redirect") :]}
                )
            status, content_type, body = site.routes.get(
                url.path, (404, "text/html", b"<h1>Not found</h1>")
            )
            self._send(status, content_type, body)

        def do_POST(self):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            if not url.path.endswith("/chat/completions"):
                return self._send(404, "application/json", b'{"error": {"message": "no route"}}')
            site.openai_requests.append(
                {"body": payload, "auth": self.headers.get("Authorization")}
            )
            if site.openai_key and self.headers.get("Authorization") != f"Bearer {site.openai_key}":
                body = json.dumps(
                    {
                        "error": {
                            "message": "Incorrect API key provided",
                            "type": "invalid_request_error",
                            "code": "invalid_api_key",
                        }
                    }
                ).encode()
                return self._send(401, "application/json", body)
            if payload.get("model") == "missing-model":
                body = json.dumps(
                    {"error": {"message": "model not found", "code": "model_not_found"}}
                ).encode()
                return self._send(404, "application/json", body)
            text = site.openai_reply(payload["messages"])
            created = int(time.time())
            if payload.get("stream"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                pieces = re.findall(r"\S+\s*", text)
                events = [
                    {
                        "id": "c1",
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": payload["model"],
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": p},
                                "finish_reason": None,
                            }
                        ],
                    }
                    for p in pieces
                ]
                events.append(
                    {
                        "id": "c1",
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": payload["model"],
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    }
                )
                for event in events:
                    self._chunk(f"data: {json.dumps(event)}\n\n".encode())
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")
                return None
            words = len(text.split())
            body = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": created,
                "model": payload["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 42,
                    "completion_tokens": words,
                    "total_tokens": 42 + words,
                },
            }
            return self._send(200, "application/json", json.dumps(body).encode())

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
            self.wfile.flush()

    return Handler


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up early (a fetcher giving up on a 404 body) is not a test
    failure; socketserver would print its traceback to stderr, which the CLI tests read."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.errors: list[str] = []

    def handle_error(self, request, client_address) -> None:
        import sys

        self.errors.append(repr(sys.exc_info()[1]))


class TextServer:
    def __init__(self, site: TextSite | None = None) -> None:
        self.site = site or TextSite()
        self.server = _QuietServer(("127.0.0.1", 0), _handler(self.site))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TextServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# ---------------------------------------------------------------- tiny random models
def _tokenizer_with_pad(path):
    from transformers import AutoTokenizer

    from tests import tiny

    tiny.tokenizer_dir(path, chat=False)
    tok = AutoTokenizer.from_pretrained(path)
    tok.pad_token = tok.eos_token
    tok.model_max_length = 64
    tok.save_pretrained(path)
    return tok


def classifier_dir(path, labels: list[str]):
    """A tiny random BERT sequence classifier with the given labels (NLI when they include
    'entailment')."""
    if (path / "config.json").exists():
        return path
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    tok = _tokenizer_with_pad(path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        pad_token_id=tok.pad_token_id,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    BertForSequenceClassification(config).save_pretrained(path)
    return path


def bart_dir(path, positions: int = 128):
    """A tiny random BART (encoder-decoder) whose encoder reads `positions` tokens."""
    if (path / "config.json").exists():
        return path
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    tok = _tokenizer_with_pad(path)
    tok.model_max_length = positions
    tok.save_pretrained(path)
    torch.manual_seed(0)
    config = BartConfig(
        vocab_size=len(tok),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        max_position_embeddings=positions,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.eos_token_id,
        forced_eos_token_id=None,
        is_encoder_decoder=True,
    )
    BartForConditionalGeneration(config).save_pretrained(path)
    return path
