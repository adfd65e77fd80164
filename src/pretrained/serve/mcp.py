"""The tasks as MCP tools, on the official `mcp` SDK (MCPServer): `pretrained mcp` over stdio,
and `/mcp` (streamable HTTP, stateless JSON) on `pretrained serve`, behind the same API key.

Every tool calls the task layer with the backends of a `ModelPool` (the server's own pool over
HTTP; a pool of the default models for stdio), so each model loads once per process, on first
use. Arguments are JSON-schema typed (pydantic, with bounds); results are structured (a JSON
object per call). A bad argument or a task's error comes back as a tool error of one line
(message, then the hint) — the server keeps running. Over HTTP a call takes one of the server's
admission slots, runs under its deadline and cancel scope, and local paths are refused
(a client may only send content, never name a file on the server).
"""

# No `from __future__ import annotations`: the SDK reads each tool's signature (types and
# bounds, some from the enclosing function) to build its JSON schema.
import asyncio
import base64
import logging
import threading
import time
from typing import Annotated, Any, Literal

from pydantic import Field

from ..errors import InvalidOptionError, PretrainedError

MAX_TEXTS = 256  # texts in one embed / classify / rerank call
MAX_AUDIO_BYTES = 25 * 1024 * 1024  # decoded audio_base64, stdio (HTTP: the server's upload limit)

Texts = Annotated[
    list[Annotated[str, Field(min_length=1)]], Field(min_length=1, max_length=MAX_TEXTS)
]
Text = Annotated[str, Field(min_length=1, description="the text")]


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def tool_error(exc: PretrainedError):
    from mcp.server.mcpserver.exceptions import ToolError

    return ToolError(one_line(f"{exc.message} (hint: {exc.hint})"))


class Runner:
    """Runs a tool's blocking work: on a worker thread (stdio), or — for the HTTP server — in
    one of its admission slots, on its executor, inside a cancel scope, until its deadline."""

    def __init__(self, server: Any = None) -> None:
        self.server = server

    async def __call__(self, fn):
        from mcp.server.mcpserver.exceptions import ToolError

        try:
            if self.server is None:
                import anyio.to_thread

                return await anyio.to_thread.run_sync(fn)
            return await self._admitted(fn)
        except PretrainedError as exc:
            raise tool_error(exc) from exc
        except (TimeoutError, asyncio.TimeoutError) as exc:
            limit = self.server.config.timeout_s if self.server else 0
            raise ToolError(f"the call took longer than the server's limit of {limit:g}s") from exc

    async def _admitted(self, fn):
        from mcp.server.mcpserver.exceptions import ToolError

        from .limits import Busy, QueueTimeout, abandon, scoped

        server = self.server
        try:
            async with server.admission.slot() as deadline:
                cancel = threading.Event()
                loop = asyncio.get_running_loop()
                future = loop.run_in_executor(server.executor, scoped, cancel, fn)
                try:
                    remaining = max(0.0, deadline - time.monotonic())
                    return await asyncio.wait_for(asyncio.shield(future), remaining)
                except BaseException:  # timeout, or the client went away (cancelled)
                    abandon(future, cancel)
                    raise
        except (Busy, QueueTimeout) as exc:
            raise ToolError(one_line(f"{exc} (hint: retry later)")) from exc


def _server_class():
    from mcp.server import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from pydantic import ValidationError

    class Server(MCPServer):
        async def call_tool(self, name, arguments, context=None):
            """Bad arguments → one line per problem ('field: what is wrong'), not pydantic's
            multi-line report."""
            try:
                return await super().call_tool(name, arguments, context)
            except ToolError as exc:
                cause = exc.__cause__
                if isinstance(cause, ValidationError):
                    problems = "; ".join(
                        f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                        for err in cause.errors()
                    )
                    raise ToolError(one_line(f"bad arguments for {name}: {problems}")) from cause
                raise

    return Server


def build(pool: Any, *, server: Any = None, local: bool = True):
    """The MCP server over `pool`: one tool per served task (ask: chat + embed). `server` (the
    HTTP app's Server) supplies admission, deadline and limits; `local` allows file paths."""
    from .._util import __version__

    # MCPServer() calls logging.basicConfig (a rich handler on the root logger) unless the root
    # logger has a handler: a placeholder for the call keeps the host process's logging as is
    root, placeholder = logging.getLogger(), logging.NullHandler()
    root.addHandler(placeholder)
    try:
        mcp = _server_class()(
            "pretrained",
            title="pretrained",
            version=__version__,
            instructions="Local pre-trained models: summarize, ask (cited answers from given "
            "documents), classify, embed, similar, rerank, transcribe, generate, tokenize.",
            log_level="WARNING",
        )
    finally:
        root.removeHandler(placeholder)
    run = Runner(server)
    max_new = pool.config.max_new_tokens  # the most a generate call may ask for
    for task in ("summarize", "classify", "embed", "rerank", "transcribe", "generate", "tokenize"):
        if pool.has(task):
            TOOLS[task](mcp, pool, run, server=server, local=local, max_new=max_new)
    if pool.has("chat") and pool.has("embed"):
        _ask(mcp, pool, run)
    return mcp


def _summarize(mcp, pool, run, *, server, local, **_):
    from . import calls

    @mcp.tool(structured_output=True)
    async def summarize(
        text: Annotated[str | None, Field(description="the text to summarize")] = None,
        url: Annotated[str | None, Field(description="or a web page / PDF to fetch")] = None,
        mode: Literal["auto", "extractive", "abstractive"] = "auto",
        sentences: Annotated[int | None, Field(ge=1, le=50)] = None,
        words: Annotated[int | None, Field(ge=5, le=2000)] = None,
        focus: Annotated[str | None, Field(description="what the summary should cover")] = None,
    ) -> dict[str, Any]:
        """Summarize a text or a URL: extractive sentences, or abstractive (checked against
        the source) with the text model."""
        from ..tasks.summarize import SummarizeOptions

        def work():
            if (text is None) == (url is None):
                raise InvalidOptionError('send either "text" or "url"', hint='e.g. {"text": "…"}')
            options = SummarizeOptions(
                mode=mode, sentences=sentences, words=words, focus=focus
            ).validate()
            source: Any = text
            if url is not None:
                allow = local or server.config.allow_private_urls
                source = calls.fetch_document(url, allow)
            return calls.summarize(pool, source, options).to_dict()

        return await run(work)


def _classify(mcp, pool, run, **_):
    @mcp.tool(structured_output=True)
    async def classify(
        texts: Texts,
        labels: Annotated[
            list[str] | None,
            Field(max_length=64, description="candidate labels; none: positive / negative"),
        ] = None,
    ) -> dict[str, Any]:
        """Classify texts against candidate labels (zero-shot), or by sentiment."""
        from ..tasks.classify import classify as task

        return await run(lambda: task(texts, labels, backend=pool.backend("classify")).to_dict())


def _embed(mcp, pool, run, **_):
    @mcp.tool(structured_output=True)
    async def embed(texts: Texts) -> dict[str, Any]:
        """Sentence embeddings (unit vectors: a dot product is the cosine similarity)."""
        from ..tasks.embed import embed as task

        def work():
            result = task(texts, backend=pool.backend("embed"), annotate=False)
            return {
                "model": result.model,
                "dims": result.dims,
                "vectors": [[round(float(x), 6) for x in v] for v in result.vectors],
                "token_counts": result.token_counts,
                "truncated": result.truncated,
            }

        return await run(work)

    @mcp.tool(structured_output=True)
    async def similar(
        query: Text, documents: Texts, k: Annotated[int, Field(ge=1, le=MAX_TEXTS)] = 5
    ) -> dict[str, Any]:
        """The documents closest in meaning to the query (cosine of embeddings), best first."""
        from ..models.backends.rerankers import BiEncoderReranker
        from ..tasks.rerank import RerankOptions, rerank

        def work():
            ranker = BiEncoderReranker(pool.backend("embed"))
            return rerank(query, documents, RerankOptions(top_n=k), backend=ranker).to_dict()

        return await run(work)


def _rerank(mcp, pool, run, **_):
    @mcp.tool(structured_output=True)
    async def rerank(
        query: Text,
        documents: Texts,
        top_n: Annotated[int | None, Field(ge=1, le=MAX_TEXTS)] = None,
    ) -> dict[str, Any]:
        """Order passages by how well they answer the query (cross-encoder or bi-encoder:
        the result's `kind` says which)."""
        from ..tasks.rerank import RerankOptions
        from ..tasks.rerank import rerank as task

        return await run(
            lambda: task(
                query, documents, RerankOptions(top_n=top_n), backend=pool.backend("rerank")
            ).to_dict()
        )


def _transcribe(mcp, pool, run, *, server, local, **_):
    @mcp.tool(structured_output=True)
    async def transcribe(
        audio_base64: Annotated[
            str | None, Field(description="the audio file's bytes, base64 (wav, mp3, …)")
        ] = None,
        path: Annotated[
            str | None, Field(description="or a local audio file (stdio server only)")
        ] = None,
        language: Annotated[str | None, Field(max_length=8, description="e.g. en")] = None,
    ) -> dict[str, Any]:
        """Speech to text with timed segments."""
        from ..tasks.transcribe import TranscribeOptions
        from . import calls

        def work():
            options = TranscribeOptions(language=language).validate()
            if (audio_base64 is None) == (path is None):
                raise InvalidOptionError(
                    'send either "audio_base64" or "path"', hint="base64 of an audio file"
                )
            if path is not None:
                if not local:
                    raise InvalidOptionError(
                        "paths are not read over HTTP", hint='send the file as "audio_base64"'
                    )
                return calls.transcribe(pool, path, options, path).to_dict()
            limit = server.config.max_upload_bytes if server else MAX_AUDIO_BYTES
            data = _decode_audio(audio_base64, limit)
            import tempfile

            with tempfile.NamedTemporaryFile(suffix=".audio") as tmp:
                tmp.write(data)
                tmp.flush()
                return calls.transcribe(pool, tmp.name, options, "audio").to_dict()

        return await run(work)


def _decode_audio(value: str, limit: int) -> bytes:
    if len(value) * 3 // 4 > limit:
        raise InvalidOptionError(
            f"the audio is over the limit of {limit // (1024 * 1024)} MiB",
            hint="send a shorter recording",
        )
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise InvalidOptionError(
            "audio_base64 is not valid base64", hint="encode the file's bytes with base64"
        ) from exc


def _generate(mcp, pool, run, *, max_new, **_):
    @mcp.tool(structured_output=True)
    async def generate(
        prompt: Text,
        max_new_tokens: Annotated[int, Field(ge=1, le=max_new)] = 128,
        temperature: Annotated[float, Field(ge=0, le=2)] = 0.7,
        seed: Annotated[int | None, Field(ge=0, le=2**32 - 1)] = None,
    ) -> dict[str, Any]:
        """Generate text from a prompt with the text model (its chat template applied)."""
        from ..tasks.generate import GenerateOptions
        from ..tasks.generate import generate as task

        def work():
            options = GenerateOptions(
                max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
            )
            result = task(prompt, options=options, backend=pool.backend("generate"))
            return {
                "text": result.text,
                "model": result.model,
                "engine": result.engine,
                "usage": result.to_dict().get("usage"),
            }

        return await run(work)


def _tokenize(mcp, pool, run, **_):
    @mcp.tool(structured_output=True)
    async def tokenize(text: Text, add_special_tokens: bool = True) -> dict[str, Any]:
        """Split a text into the text model's tokens: ids, pieces, offsets."""
        from ..tasks.tokenize import tokenize as task

        def work():
            pool.backend("tokenize")  # loaded once; the task reuses the cached tokenizer
            revision = pool.options.revision
            name = pool.name("tokenize")
            result = task(text, name, revision=revision, add_special_tokens=add_special_tokens)
            return result.to_dict()

        return await run(work)


def _ask(mcp, pool, run):
    @mcp.tool(structured_output=True)
    async def ask(
        question: Text,
        documents: Annotated[
            list[Annotated[str, Field(min_length=1)]],
            Field(min_length=1, max_length=64, description="the texts to answer from"),
        ],
        k: Annotated[int, Field(ge=1, le=20)] = 4,
    ) -> dict[str, Any]:
        """Answer a question from the given documents with numbered citations, or say
        'not found in the context' (the answer is checked against the passages it cites)."""
        from ..sources import from_text
        from ..tasks.ask import AskOptions
        from ..tasks.ask import ask as task

        def work():
            contexts = [from_text(t, source=f"document {i + 1}") for i, t in enumerate(documents)]
            return task(
                question,
                contexts,
                options=AskOptions(k=k),
                backend=pool.backend("chat"),
                embedder=pool.backend("embed"),
            ).to_dict()

        return await run(work)


TOOLS = {
    "summarize": _summarize,
    "classify": _classify,
    "embed": _embed,
    "rerank": _rerank,
    "transcribe": _transcribe,
    "generate": _generate,
    "tokenize": _tokenize,
}


def mount(app: Any, server: Any):
    """Add POST/GET/DELETE /mcp to the FastAPI app; → the MCP server, whose
    `session_manager.run()` the app's lifespan must hold open."""
    from mcp.server.transport_security import TransportSecuritySettings

    mcp = build(server.pool, server=server, local=False)
    loopback = server.config.host in ("127.0.0.1", "localhost", "::1")
    security = (
        None if loopback else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    inner = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        json_response=True,
        stateless_http=True,  # no session state: works the same with --workers N
        max_request_body_size=server.config.max_body_bytes,
        transport_security=security,
        host=server.config.host,
    )
    for route in inner.routes:
        route.app = _no_stream(route.app)
        app.router.routes.append(route)
    return mcp


def _no_stream(endpoint):
    """GET would open a server-to-client event stream that a stateless JSON endpoint never
    writes to (a held connection per call): answered 405, as the MCP spec allows."""
    from .httperrors import json_error

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "GET":
            response = json_error(
                405,
                "GET /mcp opens no event stream here (stateless JSON endpoint)",
                code="method_not_allowed",
                hint="POST JSON-RPC messages to /mcp",
                headers={"Allow": "POST, DELETE"},
            )
            return await response(scope, receive, send)
        return await endpoint(scope, receive, send)

    return app


def serve_stdio(pool: Any) -> None:
    """`pretrained mcp`: the tools over stdin/stdout until the client closes them."""
    build(pool, local=True).run("stdio")
