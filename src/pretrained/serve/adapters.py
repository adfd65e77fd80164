"""LoRA adapters served per request over one base model.

    pretrained serve --model smollm2-135m-instruct --adapter quotes=runs/quotes --api-key K

loads the base once (transformers engine) and each adapter once on top of it (peft's
multi-adapter PeftModel: load_adapter). A request naming `model: "BASE:NAME"` gets that
adapter (set_adapter), one naming the base gets the base (disable_adapter); nothing is
reloaded. Adapters are listed in /v1/models and can be added (`POST /v1/adapters`
{"name", "source"}) and removed (`DELETE /v1/adapters/NAME`) at run time, behind the API key.

Which adapter is active is state of the one shared model, so every generation on it — base
requests too — runs under one lock (requests to this model take turns; other tasks' models
are not affected). A source is a LoRA adapter folder, a `pretrained finetune` run folder
(its adapter/), or a Hub repository holding an adapter; one trained on another base is refused.
"""

import contextlib
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import InvalidOptionError, ModelNotServedError, PretrainedError
from ..models.registry import ModelFormat, ModelSource

log = logging.getLogger("pretrained.serve")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TASKS = ("generate", "chat", "summarize")  # the tasks that generate with the base model


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidOptionError(
            f"adapter name {name!r} is not allowed",
            hint="use letters, digits, '.', '_' or '-' (up to 64), e.g. quotes",
        )
    return name


def parse_adapters(values: list[str] | None) -> dict[str, str]:
    """`--adapter NAME=SOURCE` (repeatable) → {name: source}."""
    out: dict[str, str] = {}
    for value in values or []:
        name, sep, source = value.partition("=")
        if not sep or not source.strip():
            raise InvalidOptionError(
                f"--adapter {value!r} is not NAME=SOURCE", hint="e.g. --adapter quotes=runs/quotes"
            )
        if check_name(name.strip()) in out:
            raise InvalidOptionError(f"--adapter {name!r} is given twice", hint="one per name")
        out[name.strip()] = source.strip()
    return out


def _base_ids(resolved) -> set[str]:
    ids = {resolved.name, resolved.id}
    for value in (resolved.alias, resolved.hub_id, resolved.path):
        if value:
            ids.add(str(value))
    return ids


def adapter_folder(source: str, base_ids: set[str] | None = None) -> Path:
    """The local folder of a LoRA adapter named by `source` (a folder, a run folder, a Hub
    id), checked to be an adapter for the served base when both bases are known."""
    from ..models.loading import read_run_config, run_base
    from ..models.registry import resolve

    try:
        resolved = resolve(source)
        if resolved.source == ModelSource.HUB:
            from ..models import hub

            folder = hub.download(
                resolved.hub_id, resolved.revision, fmt=ModelFormat.PEFT_ADAPTER
            ).path
        else:
            folder = resolved.path
    except PretrainedError as exc:
        raise InvalidOptionError(
            f"adapter source {source!r}: {exc.message}", hint=exc.hint
        ) from exc
    if folder is not None and (folder / "adapter" / "adapter_config.json").is_file():
        folder = folder / "adapter"  # a fine-tuning run folder
    if folder is None or not (folder / "adapter_config.json").is_file():
        raise InvalidOptionError(
            f"adapter source {source!r} is not a LoRA adapter (no adapter_config.json)",
            hint="name an adapter folder, a LoRA run folder (runs/NAME) or a Hub adapter repo",
        )
    trained_on: set[str] = set()
    with contextlib.suppress(PretrainedError, OSError, ValueError, KeyError):
        run = read_run_config(folder.parent)
        if run is not None:
            trained_on = _base_ids(run_base(run))
        else:
            import json

            config = json.loads((folder / "adapter_config.json").read_text())
            trained_on = _base_ids(resolve(config["base_model_name_or_path"]))
    if base_ids and trained_on and not base_ids & trained_on:
        raise InvalidOptionError(
            f"adapter {source!r} was trained on {sorted(trained_on)[0]}, not on the served model",
            hint=f"serve it with --model {sorted(trained_on)[0]}",
        )
    return folder


class Adapters:
    """The adapters of the served text model: registered (checked) at start, loaded onto the
    model with it, added and removed at run time."""

    def __init__(self, base: str, base_ids: set[str], sources: dict[str, str]) -> None:
        self.base = base
        self.base_ids = base_ids
        self.folders: dict[str, Path] = {}
        self.sources: dict[str, str] = {}
        self.loaded: set[str] = set()
        self.lock = threading.Lock()  # one generation at a time on the shared model
        self._edit = threading.Lock()  # adding / removing
        for name, source in sources.items():
            self.folders[check_name(name)] = adapter_folder(source, base_ids)
            self.sources[name] = source

    # ---------------------------------------------------------------- names
    def name_of(self, requested: str | None) -> str | None:
        """'BASE:NAME' → NAME (for any name the base is known by); else None."""
        if not requested or ":" not in requested:
            return None
        base, _, name = requested.rpartition(":")
        return name if base in self.base_ids and name in self.folders else None

    def unknown(self, requested: str | None) -> str | None:
        """A 'BASE:NAME' for an adapter this server does not have: the error message."""
        if requested and ":" in requested:
            base, _, name = requested.rpartition(":")
            if base in self.base_ids and name not in self.folders:
                return f"no adapter '{name}' on '{self.base}'"
        return None

    def models(self, loaded: bool) -> list[dict[str, Any]]:
        return [
            {
                "id": f"{self.base}:{name}",
                "object": "model",
                "created": 0,
                "owned_by": "pretrained",
                "tasks": list(TASKS),
                "loaded": loaded and name in self.loaded,
                "parent": self.base,
                "adapter": name,
                "source": self.sources[name],
            }
            for name in self.folders
        ]

    # ---------------------------------------------------------------- the model
    def pending(self) -> bool:
        return any(n not in self.loaded for n in self.folders)

    def attach(self, backend) -> None:
        """Load every registered adapter onto the base backend's model (once each). One that
        does not fit is dropped with a log line; the base and the others go on serving."""
        if not self.pending():
            return
        with self.lock:
            for name in [n for n in self.folders if n not in self.loaded]:
                try:
                    self._load(backend, name)
                except PretrainedError as exc:
                    log.error("adapter %s not served: %s", name, exc.message)
                    self.folders.pop(name, None)
                    self.sources.pop(name, None)

    def _load(self, backend, name: str) -> None:
        from ..models.loading import quiet_peft

        if not hasattr(backend, "model") or getattr(backend, "engine", "") != "transformers":
            raise InvalidOptionError(
                "adapters need the transformers engine", hint="serve with --engine transformers"
            )
        try:
            with quiet_peft():
                from peft import PeftModel

                if isinstance(backend.model, PeftModel):
                    backend.model.load_adapter(str(self.folders[name]), adapter_name=name)
                else:
                    backend.model = PeftModel.from_pretrained(
                        backend.model, str(self.folders[name]), adapter_name=name
                    )
        except (RuntimeError, ValueError, KeyError, OSError) as exc:
            raise InvalidOptionError(
                f"adapter '{name}' does not fit {self.base}: {str(exc).splitlines()[0][:200]}",
                hint="use an adapter trained on the served model",
            ) from exc
        backend.model.eval()
        self.loaded.add(name)

    def add(self, name: str, source: str, backend) -> None:
        with self._edit:
            if check_name(name) in self.folders:
                raise InvalidOptionError(
                    f"an adapter named '{name}' is already served",
                    hint=f"DELETE /v1/adapters/{name} first, or pick another name",
                )
            folder = adapter_folder(source, self.base_ids)
            self.folders[name], self.sources[name] = folder, source
            try:
                with self.lock:
                    self._load(backend, name)
            except BaseException:
                del self.folders[name], self.sources[name]
                raise

    def remove(self, name: str, backend) -> None:
        with self._edit:
            if name not in self.folders:
                raise ModelNotServedError(
                    f"no adapter '{name}' on '{self.base}'", hint="GET /v1/models lists them"
                )
            with self.lock:
                if name in self.loaded and backend is not None:
                    if len(backend.model.peft_config) == 1:  # the last one: the plain base
                        backend.model = backend.model.unload()
                    else:
                        with warnings.catch_warnings():  # "adapter … was active …"
                            warnings.simplefilter("ignore")
                            backend.model.delete_adapter(name)
                self.loaded.discard(name)
                del self.folders[name], self.sources[name]

    @contextlib.contextmanager
    def active(self, backend, name: str | None) -> Iterator[None]:
        """The model with adapter `name` (None: the base) active, under the model's lock."""
        with self.lock:
            model = backend.model
            if not getattr(model, "peft_config", None):  # no adapter loaded (or all removed)
                yield
            elif name is None:
                with model.disable_adapter():
                    yield
            else:
                model.set_adapter(name)
                yield


class AdapterView:
    """A TextBackend over the shared base backend with one adapter (or none) active for each
    call; everything else (tokenizer, chat template, counts) is the base's."""

    def __init__(self, backend, adapters: Adapters, name: str | None) -> None:
        self._backend = backend
        self._adapters = adapters
        self.adapter = name
        self.model_id = f"{adapters.base}:{name}" if name else backend.model_id

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._backend, attr)

    def generate(self, prompts, params, **kwargs):
        with self._adapters.active(self._backend, self.adapter):
            return self._backend.generate(prompts, params, **kwargs)

    def stream(self, prompt, params, **kwargs):
        with self._adapters.active(self._backend, self.adapter):
            yield from self._backend.stream(prompt, params, **kwargs)


# ---------------------------------------------------------------- the routes
def router():
    from fastapi import APIRouter, Request
    from pydantic import BaseModel, ConfigDict, Field

    from .httperrors import json_error
    from .schemas import ERRORS, _error

    class AdapterRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str = Field(max_length=64, description="the adapter's name: requests use BASE:NAME")
        source: str = Field(max_length=1024, description="adapter folder, run folder or Hub id")

    responses = {**ERRORS, 403: _error("run-time adapter changes need the server's API key set")}
    routes = APIRouter(prefix="/v1/adapters", tags=["adapters"], responses=responses)

    def registry(request: Request):
        server = request.app.state.server
        adapters = server.pool.adapters
        if adapters is None:
            raise ModelNotServedError(
                "this server serves no adapters", hint="start it with --adapter NAME=SOURCE"
            )
        if server.config.workers > 1:
            raise InvalidOptionError(
                "adapters cannot change at run time with --workers > 1 (each worker has its own)",
                hint="restart with the --adapter flags you want",
            )
        if not server.config.key_digests:
            return server, None
        return server, adapters

    def keyless():
        return json_error(
            403,
            "adding or removing adapters at run time needs an API key",
            code="forbidden",
            hint="start the server with --api-key (or PRETRAINED_API_KEY)",
        )

    @routes.post("")
    async def add_adapter(body: AdapterRequest, request: Request):
        from .endpoints import call

        server, adapters = registry(request)
        if adapters is None:
            return keyless()
        check_name(body.name)
        task = next(t for t in TASKS if server.pool.has(t))
        backend = await call(request, lambda: server.pool.base_backend(task))
        await call(request, lambda: adapters.add(body.name, body.source, backend))
        return {"id": f"{adapters.base}:{body.name}", "object": "model", "adapter": body.name}

    @routes.delete("/{name}")
    async def remove_adapter(name: str, request: Request):
        from .endpoints import call

        server, adapters = registry(request)
        if adapters is None:
            return keyless()
        task = next(t for t in TASKS if server.pool.has(t))
        backend = server.pool.loaded_base(task)
        await call(request, lambda: adapters.remove(name, backend))
        return {"id": f"{adapters.base}:{name}", "object": "model", "deleted": True}

    return routes


def for_pool(pool, config) -> Adapters | None:
    """The pool's adapters (None without --adapter): checked now, before the server binds.
    Adapters need the base on the transformers engine (peft), which `auto` then picks."""
    sources = dict(getattr(config, "adapters", None) or {})
    if not sources:
        return None
    served = next((pool.served[t] for t in TASKS if t in pool.served), None)
    if served is None:
        raise InvalidOptionError(
            "--adapter needs a text task (generate, chat or summarize)", hint="drop --task"
        )
    engine = pool.options.engine or "auto"
    if engine not in ("auto", "transformers"):
        raise InvalidOptionError(
            f"--adapter runs on the transformers engine, not {engine}",
            hint="drop --engine (or pass --engine transformers)",
        )
    pool.options = replace(pool.options, engine="transformers")
    return Adapters(served.name, set(served.ids), sources)


def view(pool, task: str, requested: str | None, backend):
    """What a request for `task` naming `requested` generates with (hook of ModelPool)."""
    adapters = pool.adapters
    if adapters is None or task not in TASKS or backend is None:
        return backend
    adapters.attach(backend)
    return AdapterView(backend, adapters, adapters.name_of(requested))


def served_as(pool, served, requested: str | None):
    """ModelPool.check's hook: the base's entry renamed 'BASE:NAME' for an adapter request;
    a typed 404 for an adapter this server does not have; None otherwise."""
    import dataclasses

    adapters = pool.adapters
    if adapters is None or served.task not in TASKS:
        return None
    name = adapters.name_of(requested)
    if name is not None:
        return dataclasses.replace(served, name=f"{adapters.base}:{name}", ids=frozenset())
    if (message := adapters.unknown(requested)) is not None:
        raise ModelNotServedError(message, hint="GET /v1/models lists the served adapters")
    return None
