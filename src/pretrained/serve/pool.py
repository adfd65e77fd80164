"""The models a server serves: which model each task uses, loaded once (lazily, or at start
with --preload), shared by the API and the UI. The server never loads a model a request names
on its own: a request may only pick among the served ones.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ModelNotServedError, PretrainedError
from ..models.load_options import LoadOptions
from ..models.registry import ModelFormat, resolve
from .adapters import served_as, view
from .config import TASKS, ServeConfig

log = logging.getLogger("pretrained.serve")


def _load_text(model: str, options: LoadOptions):
    from ..models import load

    return options.call(load, model, task="text-generation")


def _load_tokenizer(model: str, options: LoadOptions):
    from ..tasks.tokenize import load as load_tokenizer

    return load_tokenizer(model, options.revision, options.trust_remote_code)


def _helper(options: LoadOptions, loader: Callable[..., Any]) -> LoadOptions:
    """The server's options as a non-text loader takes them: --engine is the text engine,
    and --dtype/--quantize apply to the models that have them (left out of the others)."""
    return replace(options, engine=None).only(loader)


def _load_embedder(model: str, options: LoadOptions):
    from ..models import load_embedder

    return _helper(options, load_embedder).call(load_embedder, model)


def _load_classifier(model: str, options: LoadOptions):
    """Zero-shot by embeddings for sentence-transformers models, else a classification head."""
    resolved = resolve(model, task="classify", revision=options.revision)
    if resolved.format == ModelFormat.SENTENCE_TRANSFORMERS:
        return _load_embedder(model, options)
    from ..models import load_classifier

    return _helper(options, load_classifier).call(load_classifier, model)


def _load_transcriber(model: str, options: LoadOptions):
    from ..models import load_transcriber

    return _helper(options, load_transcriber).call(load_transcriber, model)


def _load_reranker(model: str, options: LoadOptions):
    from ..models import load_reranker

    return _helper(options, load_reranker).call(load_reranker, model)


# server task → loader(model, load options) -> backend. Tasks that share a model (generate,
# chat, summarize) share the backend through the models package's cache.
LOADERS: dict[str, Callable[[str, LoadOptions], Any]] = {
    "generate": _load_text,
    "chat": _load_text,
    "summarize": _load_text,
    "tokenize": _load_tokenizer,
    "embed": _load_embedder,
    "classify": _load_classifier,
    "transcribe": _load_transcriber,
    "rerank": _load_reranker,
}


@dataclass
class Served:
    task: str
    name: str  # what clients send as "model"
    ids: frozenset[str]  # every name that means this model (alias, Hub id, path)
    backend: Any = None
    error: str | None = None
    load_seconds: float | None = None


class ModelPool:
    def __init__(self, config: ServeConfig) -> None:
        from ..models.registry import default_model

        self.config = config
        self.options = LoadOptions.from_kwargs(LoadOptions.pick(config.load_options))
        self.served: dict[str, Served] = {}
        for task in config.enabled:
            name = config.model_for(task) or default_model(TASKS[task][1])
            resolved = resolve(name, task=TASKS[task][1], revision=self.options.revision)
            ids = {name, resolved.id, resolved.name}
            if resolved.alias:
                ids.add(resolved.alias)
            if resolved.hub_id:
                ids.add(resolved.hub_id)
            self.served[task] = Served(task, name, frozenset(ids))
        self._locks = {task: threading.Lock() for task in self.served}
        self.preloading = False
        self.preload_error: str | None = None
        self.on_loaded: Callable[[str, str], None] | None = None
        from .adapters import for_pool  # LoRA adapters served per request (--adapter)

        self.adapters = for_pool(self, config)

    # -------------------------------------------------------------- lookup
    def has(self, task: str) -> bool:
        return task in self.served

    def name(self, task: str) -> str:
        return self.served[task].name

    def check(self, task: str, requested: str | None) -> Served:
        """The served model for `task`, after checking the model a request asked for."""
        served = self.served.get(task)
        if served is None:
            raise ModelNotServedError(
                f"this server does not serve the '{task}' task",
                hint=f"start it with --task {task} (tasks served: {', '.join(self.served)})",
            )
        if self.adapters is not None and (adapter := served_as(self, served, requested)):
            return adapter
        if requested and requested not in served.ids and requested != "default":
            names = sorted({s.name for s in self.served.values()})
            raise ModelNotServedError(
                f"the model '{requested}' is not served here (for {task}: '{served.name}')",
                hint=f"use one of: {', '.join(names)} (GET /v1/models)",
            )
        return served

    def loaded(self, task: str, requested: str | None = None) -> Any:
        """The task's backend if it is loaded (no waiting, no loading), else None."""
        if self.adapters is not None and self.adapters.pending():
            return None  # adapters still to load onto it: that happens in a worker thread
        return view(self, task, requested, self.loaded_base(task))

    def close(self) -> None:
        """The server stops: a base that adapters were layered on (in place, by peft) leaves
        the process's model cache, so a later load() in this process gets the plain model."""
        if self.adapters is None:
            return
        from ..models import take_private
        from .adapters import TASKS as LAYERED

        for task in LAYERED:
            if task in self.served and self.served[task].backend is not None:
                take_private(self.served[task].backend)

    def loaded_base(self, task: str) -> Any:
        served = self.served.get(task)
        return served.backend if served is not None else None

    def backend(self, task: str, requested: str | None = None) -> Any:
        self.check(task, requested)
        return view(self, task, requested, self.base_backend(task))

    def base_backend(self, task: str, requested: str | None = None) -> Any:
        served = self.served[self.check(task, requested).task]
        if served.backend is not None:
            return served.backend
        with self._locks[task]:
            if served.backend is None:
                loader = LOADERS.get(task)
                if loader is None:  # pragma: no cover - a task module without a loader entry
                    raise ModelNotServedError(f"no loader for the '{task}' task")
                began = time.perf_counter()
                try:
                    served.backend = loader(served.name, self.options)
                except PretrainedError as exc:
                    served.error = exc.message
                    raise
                served.error = None
                served.load_seconds = round(time.perf_counter() - began, 2)
                log.info("loaded %s for %s in %.1fs", served.name, task, served.load_seconds)
                if self.on_loaded:
                    self.on_loaded(task, served.name)
        return served.backend

    # -------------------------------------------------------------- state
    def preload(self) -> None:
        """Load every served model (called in a background thread at start with --preload)."""
        self.preloading = True
        try:
            for task in self.served:
                self.backend(task)
        except PretrainedError as exc:
            self.preload_error = f"{exc.message} ({exc.hint})"
            log.error("preloading failed: %s", self.preload_error)
        except Exception as exc:  # a broken model must not kill the server; /ready says so
            self.preload_error = f"{type(exc).__name__}: {exc}"
            log.exception("preloading failed")
        finally:
            self.preloading = False

    def ready(self) -> bool:
        if self.config.preload:
            return (
                not self.preloading
                and self.preload_error is None
                and all(s.backend is not None for s in self.served.values())
            )
        return True  # lazy: models load on first use

    def status(self) -> list[dict[str, Any]]:
        return [
            {
                "task": s.task,
                "model": s.name,
                "loaded": s.backend is not None,
                "load_seconds": s.load_seconds,
                "error": s.error,
            }
            for s in self.served.values()
        ]

    def models(self) -> list[dict[str, Any]]:
        """OpenAI's model list: one entry per distinct model, with the tasks it serves."""
        out: dict[str, dict[str, Any]] = {}
        for s in self.served.values():
            entry = out.setdefault(
                s.name,
                {
                    "id": s.name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "pretrained",
                    "tasks": [],
                    "loaded": False,
                },
            )
            entry["tasks"].append(s.task)
            entry["loaded"] = entry["loaded"] or s.backend is not None
        if self.adapters is not None:
            base = next(m for m in out.values() if m["id"] == self.adapters.base)
            return list(out.values()) + self.adapters.models(base["loaded"])
        return list(out.values())
