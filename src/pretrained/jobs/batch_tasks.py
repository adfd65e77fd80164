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

from ..errors import UnknownTaskError
from ..models.load_options import LoadOptions
from ..options import reject_unknown


@dataclass(frozen=True)
class ModelSpec:
    """What every worker loads: a model name with its revision pinned, plus load options."""

    name: str | None
    revision: str | None = None
    load_options: LoadOptions = field(default_factory=LoadOptions)

    def load(self, loader: Any = None) -> LoadOptions:
        """The load options with the pinned revision; with `loader`, only those it takes (one
        set of options is given to every task: an embedder has no dtype)."""
        options = dataclasses.replace(self.load_options, revision=self.revision)
        return options.only(loader) if loader is not None else options


class Runner:
    """A loaded model for one task. `run` returns one dict (or exception) per input value."""

    model_id: str = ""
    revision: str | None = None
    device: str = "cpu"

    def run(self, values: list[Any], seed_key: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    def notes(self) -> dict[str, Any]:
        """What the runs so far tell beyond their rows (a job's result shows it)."""
        return {}


@dataclass(frozen=True)
class BatchTask:
    name: str
    registry_task: str  # the task whose default model applies (models.registry.DEFAULTS)
    input_kind: str  # text | audio
    columns: Callable[[Any], list[tuple[str, str]]]  # options → [(name, arrow type name)]
    make_options: Callable[[dict[str, Any]], Any]  # plain kwargs → validated options object
    load: Callable[[ModelSpec, Any], Runner]
    describe: Callable[[Any], dict[str, Any]] = lambda opts: _asdict(opts)
    # False: the task picks its models itself (summarize: an embedder or a chat model by mode);
    # the job then records the model names given, not a pinned revision
    pin_model: bool = True


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
        self.backend = spec.load().call(load, spec.name)
        self.model_id = self.backend.model_id
        self.revision = self.backend.revision
        self.device = self.backend.device

    def run(self, values: list[Any], seed_key: int) -> list[dict[str, Any]]:
        from ..tasks.generate import generate_many

        # A fixed seed per (chunk, batch): a resumed run or a Ray worker draws the same samples.
        seed = (self.options.seed or 0) + seed_key
        options = dataclasses.replace(self.options, seed=seed, batch_size=len(values))
        results = generate_many(list(values), options=options, backend=self.backend)
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
        reject_unknown(values, {"normalize", "batch_size"}, "embed")
        return cls(normalize=bool(values.get("normalize", True)))


class _EmbedRunner(Runner):
    """Sentence embeddings through tasks.embed (sentence-transformers, or an export's own
    runtime for a folder written by `pretrained export`)."""

    def __init__(self, spec: ModelSpec, options: EmbedBatchOptions) -> None:
        from ..models import load_embedder
        from ..tasks.embed import get_embedder

        self.options = options
        self.engine = get_embedder(None, spec.name, spec.load(load_embedder))
        self.model_id, self.revision = self.engine.model_id, self.engine.revision
        self.device = self.engine.device

    def run(self, values: list[Any], seed_key: int) -> list[dict[str, Any]]:
        from ..tasks.embed import EmbedOptions, embed

        options = EmbedOptions(batch_size=len(values), normalize=self.options.normalize)
        result = embed(list(values), options=options, backend=self.engine, annotate=False)
        return [{"embedding": v.astype("float32").tolist()} for v in result.vectors]


# ---------------------------------------------------------------- classify (tasks/classify.py)
@dataclass(frozen=True)
class ClassifyBatchOptions:
    labels: tuple[str, ...] | None = None  # None: sentiment
    method: str = "auto"
    template: str | None = None
    multi_label: bool = False
    temperature: float = 0.05

    def task_options(self, batch_size: int):
        from ..tasks.classify import ClassifyOptions

        return ClassifyOptions(
            batch_size=batch_size,
            method=self.method,
            template=self.template,
            multi_label=self.multi_label,
            temperature=self.temperature,
        ).validate()


def _classify_options(values: dict[str, Any]) -> ClassifyBatchOptions:
    from ..tasks.classify import parse_labels

    values = {k: v for k, v in values.items() if v is not None and k != "batch_size"}
    known = {f.name for f in dataclasses.fields(ClassifyBatchOptions)}
    reject_unknown(values, known, "classify")
    labels = parse_labels(values.pop("labels", None))
    options = ClassifyBatchOptions(labels=tuple(labels) if labels else None, **values)
    options.task_options(1)  # validate now, not in every worker
    return options


class _ClassifyRunner(Runner):
    def __init__(self, spec: ModelSpec, options: ClassifyBatchOptions) -> None:
        from ..models import load_classifier

        self.spec, self.options = spec, options
        self.load = spec.load(load_classifier)
        probe = self._classify(["warm-up"])  # loads the model once, tells its id/revision
        self.model_id, self.revision = probe.model, probe.revision
        self.device = self.load.device or "cpu"
        self._notes = {
            "method": probe.method,
            "describe": probe.describe(),
            "labels": list(probe.labels),
            "truncated": 0,  # texts the classifier read only the start of
            "warned": 0,  # texts in a language the model does not read
        }

    def _classify(self, texts: list[str]):
        from ..tasks.classify import classify

        return classify(
            texts,
            list(self.options.labels) if self.options.labels else None,
            self.spec.name,
            self.options.task_options(len(texts)),
            load_options=self.load,
        )

    def run(self, values: list[Any], seed_key: int) -> list[dict[str, Any]]:
        result = self._classify(list(values))
        self._notes["truncated"] += result.truncated
        self._notes["warned"] += sum(1 for item in result.items if item.warnings)
        return [
            {"label": item.label, "score": float(item.score), "scores": dict(item.scores)}
            for item in result.items
        ]

    def notes(self) -> dict[str, Any]:
        return dict(self._notes)


# ---------------------------------------------------------------- summarize (tasks/summarize/)
def _summarize_options(values: dict[str, Any]):
    from ..tasks.summarize import SummarizeOptions

    values = {k: v for k, v in values.items() if v is not None and k != "batch_size"}
    reject_unknown(values, (f.name for f in dataclasses.fields(SummarizeOptions)), "summarize")
    return SummarizeOptions(**values).validate()


class _SummarizeRunner(Runner):
    def __init__(self, spec: ModelSpec, options) -> None:
        if spec.name and not options.model:
            options = dataclasses.replace(options, model=spec.name)
        self.options = options
        self.load = spec.load()
        self.model_id = options.model or options.embedding_model or "default"
        self.revision = None
        self.device = self.load.device or "cpu"

    def run(self, values: list[Any], seed_key: int) -> list[dict[str, Any]]:
        from ..tasks.summarize import summarize

        out = []
        for text in values:  # one document per call: summaries are per row
            result = summarize(text, self.options, load_options=self.load)
            self.model_id = result.model
            out.append(
                {
                    "summary": result.summary,
                    "mode": result.mode,
                    "input_words": result.input_words,
                    "output_words": result.output_words,
                    "chunks": result.chunks,
                }
            )
        return out


# ---------------------------------------------------------------- transcribe (tasks/transcribe.py)
def _transcribe_options(values: dict[str, Any]):
    from ..tasks.transcribe import TranscribeOptions

    values = {k: v for k, v in values.items() if v is not None and k != "batch_size"}
    reject_unknown(values, (f.name for f in dataclasses.fields(TranscribeOptions)), "transcribe")
    return TranscribeOptions(**values).validate()


class _TranscribeRunner(Runner):
    def __init__(self, spec: ModelSpec, options) -> None:
        from ..models import load_transcriber

        self.options = options
        self.backend = spec.load(load_transcriber).call(load_transcriber, spec.name)
        self.model_id = getattr(self.backend, "model_id", spec.name or "default")
        self.revision = getattr(self.backend, "revision", None)
        self.device = getattr(self.backend, "device", "cpu")

    def run(self, values: list[Any], seed_key: int) -> list[dict[str, Any]]:
        import json
        import os
        import tempfile

        from ..tasks.transcribe import transcribe

        out = []
        for value in values:
            path, temp = value, None
            if isinstance(value, bytes):  # an S3 object: decoded from a temp file
                fd, temp = tempfile.mkstemp(prefix="pretrained-batch-audio-")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(value)
                path = temp
            try:
                r = transcribe(path, self.options, backend=self.backend)
            finally:
                if temp:
                    os.unlink(temp)
            segments = [{"start": s.start, "end": s.end, "text": s.text} for s in r.segments]
            out.append(
                {
                    "text": " ".join(s["text"].strip() for s in segments).strip(),
                    "language": r.language,
                    "duration": float(r.duration),
                    "segments": json.dumps(segments, ensure_ascii=False),
                }
            )
        return out


def _available(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


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
if _available("pretrained.tasks.classify"):
    TASKS["classify"] = BatchTask(
        name="classify",
        registry_task="classify",
        input_kind="text",
        columns=lambda opts: [
            ("label", "string"),
            ("score", "float64"),
            ("scores", "map<string,float64>"),
        ],
        make_options=_classify_options,
        load=_ClassifyRunner,
    )
if _available("pretrained.tasks.summarize"):
    TASKS["summarize"] = BatchTask(
        name="summarize",
        registry_task="summarize",
        input_kind="text",
        columns=lambda opts: [
            ("summary", "string"),
            ("mode", "string"),
            ("input_words", "int64"),
            ("output_words", "int64"),
            ("chunks", "int64"),
        ],
        make_options=_summarize_options,
        load=_SummarizeRunner,
        pin_model=False,
    )
if _available("pretrained.tasks.transcribe"):
    TASKS["transcribe"] = BatchTask(
        name="transcribe",
        registry_task="speech-recognition",
        input_kind="audio",
        columns=lambda opts: [
            ("text", "string"),
            ("language", "string"),
            ("duration", "float64"),
            ("segments", "string"),
        ],
        make_options=_transcribe_options,
        load=_TranscribeRunner,
    )


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
    if name.startswith("map<") and name.endswith(">"):
        key, value = name[4:-1].split(",")
        return pa.map_(arrow_type(key), arrow_type(value))
    raise ValueError(f"unknown column type {name}")  # pragma: no cover - a bug in an adapter


def schema(task: BatchTask, options: Any, id_type: str):
    import pyarrow as pa

    fields = [pa.field("id", pa.int64() if id_type == "int" else pa.string())]
    fields += [pa.field(name, arrow_type(kind)) for name, kind in task.columns(options)]
    fields.append(pa.field("error", pa.string()))
    return pa.schema(fields)
