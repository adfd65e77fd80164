"""The app factory and the runner: one FastAPI app with the OpenAI-compatible API under /v1,
health/ready/metrics, and the Gradio UI mounted at /.

    from pretrained.serve import ServeConfig, create_app
    app = create_app(ServeConfig(api_keys=("secret",)))      # any ASGI server can run it

Middlewares, outermost first: metrics → CORS (only with --cors) → auth (API key on /v1 and /mcp, failure
throttling, before anything else costs) → body (size limit, read deadline, received whole) →
admission (concurrency + queue, deadline) → errors (one log line and a JSON 500 for a bug).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .config import CONFIG_ENV, ServeConfig
from .metrics import Metrics
from .pool import ModelPool

log = logging.getLogger("pretrained.serve")


class Server:
    """Everything a request handler needs, in app.state.server."""

    def __init__(self, config: ServeConfig, backends: dict[str, Any] | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self.pool = ModelPool(config)
        self.pool.on_loaded = lambda task, name: self.metrics.model_loaded.labels(task, name).set(1)
        for task, backend in (backends or {}).items():  # tests inject scripted backends
            if self.pool.has(task):
                self.pool.served[task].backend = backend
                self.pool.on_loaded(task, self.pool.name(task))
        # Blocking work (model calls, each stream step) runs here, not on the event loop.
        self.executor = ThreadPoolExecutor(
            max_workers=config.max_concurrency + 8, thread_name_prefix="pretrained-serve"
        )
        self.batchers: dict[str, Any] = {}
        from .limits import Admission

        # the API and the UI share these slots
        self.admission = Admission(
            max_concurrency=config.max_concurrency,
            max_queue=config.max_queue,
            timeout_s=config.timeout_s,
            metrics=self.metrics,
        )

    def batcher(self, task: str, fn):
        """The micro-batcher of a task (created on first use): `fn(key, items) -> results`."""
        from .batching import MicroBatcher

        if task not in self.batchers:
            histogram = self.metrics.batch_size.labels(task)
            self.batchers[task] = MicroBatcher(
                fn,
                max_items=self.config.batch_max_size,
                max_wait_s=self.config.batch_wait_ms / 1000,
                executor=self.executor,
                on_batch=lambda requests, items: histogram.observe(items),
                name=task,
            )
        return self.batchers[task]


def create_app(config: ServeConfig | None = None, *, backends: dict[str, Any] | None = None):
    from fastapi import FastAPI
    from fastapi.responses import Response

    from . import httperrors
    from .adapters import router as adapter_router
    from .api import router
    from .api_rerank import router as rerank_router
    from .api_tasks import router as task_router
    from .limits import ClientGone
    from .mcp import mount as mount_mcp

    config = config or ServeConfig()
    server = Server(config, backends)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if config.preload:
            threading.Thread(target=server.pool.preload, name="preload", daemon=True).start()
        try:
            async with server.mcp.session_manager.run():  # /mcp's task group
                yield
        finally:
            for batcher in server.batchers.values():
                await batcher.close()
            server.executor.shutdown(wait=False, cancel_futures=True)
            server.pool.close()

    middleware = _middleware(config, server)
    app = FastAPI(
        title="pretrained",
        summary="OpenAI-compatible API and web UI over pre-trained models",
        version=_version(),
        lifespan=lifespan,
        middleware=middleware,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.server = server
    httperrors.install(app)

    async def client_gone(request, exc):  # nobody reads this; close quietly
        return Response(status_code=499)

    app.add_exception_handler(ClientGone, client_gone)

    _ops_routes(app, server)
    app.include_router(router)  # the API key is checked by AuthMiddleware, before admission
    app.include_router(task_router)
    app.include_router(rerank_router)
    server.mcp = mount_mcp(app, server)  # /mcp: the tasks as MCP tools, behind the same key
    app.include_router(adapter_router())  # POST/DELETE /v1/adapters (--adapter)

    @app.api_route(
        "/v1/{rest:path}",
        methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
        include_in_schema=False,
    )
    async def unknown_route(rest: str):
        return httperrors.json_error(
            404, f"no route /v1/{rest}", code="not_found", hint="see /docs for the routes"
        )

    if config.ui:
        mount_ui(app, server)
    app.openapi = lambda: _openapi(app)
    return app


def _middleware(config: ServeConfig, server: Server) -> list:
    """Outermost first: metrics, CORS (when asked), auth before anything reads the body, the
    body limit and read deadline, admission, and the one-traceback 500 handler."""
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware

    from . import httperrors
    from .auth import AuthMiddleware
    from .limits import AdmissionMiddleware, BodyLimitMiddleware, MetricsMiddleware

    middleware = [Middleware(MetricsMiddleware, metrics=server.metrics)]
    if config.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type"],
            )
        )
    middleware += [
        Middleware(
            AuthMiddleware,
            digests=config.key_digests,
            max_failures=config.max_auth_failures,
            prefix=("/v1/", "/mcp"),
            metrics=server.metrics,
        ),
        Middleware(
            BodyLimitMiddleware,
            max_body=config.max_body_bytes,
            max_upload=config.max_upload_bytes,
            read_timeout_s=min(config.read_timeout_s, config.timeout_s),
            metrics=server.metrics,
        ),
        Middleware(AdmissionMiddleware, admission=server.admission),
        Middleware(httperrors.UnexpectedErrors),
    ]
    return middleware


def _ops_routes(app, server: Server) -> None:
    """/health, /ready and /metrics (outside /v1, for orchestrators and scrapers)."""
    from fastapi.responses import JSONResponse, PlainTextResponse, Response

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, str]:
        """Alive (the process answers)."""
        return {"status": "ok"}

    @app.get(
        "/ready",
        tags=["ops"],
        responses={503: {"description": "not ready: loading, or a model failed to load"}},
    )
    async def ready():
        """Ready to serve: with --preload, 200 once every model is loaded; 503 before or on error."""
        ok = server.pool.ready()
        body = {
            "status": "ready" if ok else ("loading" if server.pool.preloading else "not ready"),
            "models": server.pool.status(),
        }
        if server.pool.preload_error:
            body["error"] = server.pool.preload_error
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics():
        """Prometheus metrics: requests, latency, queue depth, tokens, batch sizes."""
        data, content_type = server.metrics.render()
        return Response(data, media_type=content_type)


def _openapi(app) -> dict[str, Any]:
    """FastAPI's schema, less the 422 it adds to every route: validation errors are 400 here,
    documented with the other errors (schemas.ERRORS); and the bearer key, when one is set."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        routes=app.routes,
    )
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            operation.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    if app.state.server.config.key_digests:
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}
        }
        for path, item in schema.get("paths", {}).items():
            if path.startswith("/v1/"):
                for operation in item.values():
                    operation["security"] = [{"bearer": []}]
    app.openapi_schema = schema
    return schema


def mount_ui(app, server: Server) -> None:
    import gradio as gr

    from .auth import key_matches
    from .ui import build

    blocks = build(server)
    # Gradio's queue only hands events on: the server's admission (shared with the API)
    # decides what runs, what waits and what is refused
    blocks.queue(
        default_concurrency_limit=server.config.max_concurrency + server.config.max_queue,
        max_size=server.config.max_queue or None,
    )
    auth = None
    digests = server.config.key_digests
    if digests:

        def auth(username: str, password: str) -> bool:  # any user name; the API key as password
            return key_matches(password, digests)

    gr.mount_gradio_app(
        app,
        blocks,
        path="",
        auth=auth,
        auth_message="Sign in with any user name and the server's API key as password.",
        max_file_size=server.config.max_upload_bytes,
        footer_links=["api"],
        ssr_mode=False,
    )
    # Gradio checks that a FileData path sent by a client lies in its upload folder only once
    # `has_launched` is set, which launch() does and mount_gradio_app() does not: without it,
    # any path on the server is accepted as an "upload". ui.uploaded() checks again.
    blocks.has_launched = True


def _version() -> str:
    from .._util import __version__

    return __version__


def factory():
    """For `uvicorn --factory` and `--workers N`: the config comes from the environment."""
    return create_app(ServeConfig.from_env())


def serve(config: ServeConfig) -> None:
    """Run the server until SIGINT/SIGTERM; in-flight requests get `graceful_timeout_s` to end."""
    import uvicorn

    common = dict(
        host=config.host,
        port=config.port,
        log_level=os.environ.get("PRETRAINED_LOG_LEVEL", "info"),
        timeout_graceful_shutdown=int(config.graceful_timeout_s),
        limit_concurrency=None,
        server_header=False,
        proxy_headers=False,
    )
    if config.workers > 1:
        os.environ[CONFIG_ENV] = config.to_env()
        uvicorn.run("pretrained.serve.app:factory", factory=True, workers=config.workers, **common)
        return
    uvicorn_config = uvicorn.Config(create_app(config), **common)
    server = uvicorn.Server(uvicorn_config)
    asyncio.run(server.serve())
