"""What each task looks like to a batch job: its options, its output columns, and a runner that
holds the loaded model and turns a batch of inputs into one result dict per input.

The task logic itself lives in `pretrained.tasks.*`; an adapter here only loads the model once,
calls the task function on a list of inputs, and flattens each result into table columns.
A runner is built once per process (the local engine) or once per Ray actor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidOptionError, UnknownTaskError


@dataclass(frozen=True)
class ModelSpec:
    """What every worker loads: a model name with its revision pinned, plus load options."""

    name: str | None
    revision: str | None = None
    load_options: dict[str, Any] = field(default_factory=dict)


class Runner:
    """A loaded model for one task. `run` returns one dict (or exception) per input value."""

    model_id: str = ""
    revision: str | None = None
    device: str = "cpu"

    def run(self, values: list[Any], seed_key: int) -> list[dict[str, Any]]:
        raise NotImplementedError


@dataclass(frozen=True)
class BatchTask:
    name: str
    registry_task: str  # the task whose default model applies (models.registry.DEFAULTS)
    input_kind: str  # text | audio
    columns: Callable[[Any], list[tuple[str, str]]]  # options → [(name, arrow type name)]
    make_options: Callable[[dict[str, Any]], Any]  # plain kwargs → validated options object
    load: Callable[[ModelSpec, Any], Runner]
    describe: Callable[[Any], dict[str, Any]] = lambda opts: _asdict(opts)


def _asdict(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    out = dataclasses.asdict(options) if dataclasses.is_dataclass(options) else dict(options)
    out.pop("batch_size", None)  # how inputs are grouped never changes a result
    return out


# ---------------------------------------------------------------- generate
def _generate_options(values: dict[str, Any]):
    from ..tasks.generate import GenerateOptions

    return GenerateOptions.from_kwargs(**values)


def _generate_columns(options) -> list[tuple[str, str]]:
    cols = [
        ("text", "string"),
        ("finish_reason", "string"),
        ("prompt_tokens", "int64"),
        ("completion_tokens", "int64"),
    ]
    if options.num_return_sequences > 1:
        cols.append(("texts", "list<string>"))
    return cols


class _GenerateRunner(Runner):
    def __init__(self, spec: ModelSpec, options) -> None:
        from ..models import load

        self.options = options
        self.backend = load(spec.name, revision=spec.revision, **spec.load_options)
        self.model_id = self.backend.model_id
        self.revision = self.backend.revision
        self.device = self.backend.device

    def run(self, values: list[Any], seed_key: int) -> list[dict[str, Any]]:
        from ..tasks.generate import generate

        # A fixed seed per (chunk, batch): a resumed run or a Ray worker draws the same samples.
        seed = (self.options.seed or 0) + seed_key
        options = dataclasses.replace(self.options, seed=seed, batch_size=len(values))
        results = generate(list(values), options=options, backend=self.backend)
        out = []
        for r in results:
            row = {
                "text": r.text,
                "finish_reason": r.completions[0].finish_reason,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
            }
            if options.num_return_sequences > 1:
                row["texts"] = r.texts
            out.append(row)
        return out


# ---------------------------------------------------------------- embed
@dataclass(frozen=True)
class EmbedBatchOptions:
    normalize: bool = True

    @classmethod
    def from_kwargs(cls, **values: Any) -> EmbedBatchOptions:
        unknown = set(values) - {"normalize", "batch_size"}
        if unknown:
            raise InvalidOptionError(f"unknown embed option(s): {', '.join(sorted(unknown))}")
        return cls(normalize=bool(values.get("normalize", True)))


class _EmbedRunner(Runner):
    """Sentence embeddings with sentence-transformers on the resolved model folder."""

    def __init__(self, spec: ModelSpec, options: EmbedBatchOptions) -> None:
        from ..models.loading import choose_device, prepare
        from ..models.registry import resolve

        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - part of the text extra
            from ..errors import missing_dependency

            raise missing_dependency("sentence-transformers", "text") from exc
        resolved = resolve(spec.name, task="embedding", revision=spec.revision)
        prepared = prepare(resolved, trust_pickle=spec.load_options.get("trust_pickle", False))
        self.device = choose_device(spec.load_options.get("device"))
        self.model = SentenceTransformer(str(prepared.path), device=self.device)
        self.options = options
        self.model_id = resolved.alias or resolved.id
        self.revision = prepared.revision

    def run(self, values: list[Any], seed_key: int) -> list[dict[str, Any]]:
        vectors = self.model.encode(
            list(values),
            batch_size=len(values),
            normalize_embeddings=self.options.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [{"embedding": v.astype("float32").tolist()} for v in vectors]


# ---------------------------------------------------------------- the registry
TASKS: dict[str, BatchTask] = {
    "generate": BatchTask(
        name="generate",
        registry_task="text-generation",
        input_kind="text",
        columns=_generate_columns,
        make_options=_generate_options,
        load=_GenerateRunner,
    ),
    "embed": BatchTask(
        name="embed",
        registry_task="embedding",
        input_kind="text",
        columns=lambda opts: [("embedding", "list<float32>")],
        make_options=lambda values: EmbedBatchOptions.from_kwargs(**values),
        load=_EmbedRunner,
    ),
}


def get_task(name: str) -> BatchTask:
    task = TASKS.get(name)
    if task is None:
        raise UnknownTaskError(
            f"batch has no task '{name}'", hint=f"tasks: {', '.join(sorted(TASKS))}"
        )
    return task


def arrow_type(name: str):
    import pyarrow as pa

    simple = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "float32": pa.float32(),
        "bool": pa.bool_(),
    }
    if name in simple:
        return simple[name]
    if name.startswith("list<") and name.endswith(">"):
        return pa.list_(arrow_type(name[5:-1]))
    raise ValueError(f"unknown column type {name}")  # pragma: no cover - a bug in an adapter


def schema(task: BatchTask, options: Any, id_type: str):
    import pyarrow as pa

    fields = [pa.field("id", pa.int64() if id_type == "int" else pa.string())]
    fields += [pa.field(name, arrow_type(kind)) for name, kind in task.columns(options)]
    fields.append(pa.field("error", pa.string()))
    return pa.schema(fields)
