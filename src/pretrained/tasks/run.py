"""Any transformers pipeline task through one function: `run(task, input)`.

The task name is normalized by transformers (aliases such as ner → token-classification);
tasks removed in transformers 5 point to the command that does the job here. Each task takes
one kind of input (text, image, audio, video, table, plus --text / --labels where needed),
checked before the model loads. Results are made JSON-safe; images and audio in the output are
saved to files.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import runlog
from .._util import first_line
from ..errors import EmptyInputError, InputError, InvalidOptionError, UnknownTaskError
from ..models.load_options import LoadOptions
from ..sources import media as sources

# Tasks transformers 5 removed (or never had): the command that does the job here.
MOVED: dict[str, tuple[str, str]] = {
    "summarization": ("pretrained summarize TEXT", "was removed in transformers 5"),
    "question-answering": ('pretrained ask "QUESTION"', "was removed in transformers 5"),
    "translation": (
        'pretrained generate "Translate to French: …"',
        "was removed in transformers 5; chat models translate through text generation",
    ),
    "text2text-generation": ("pretrained generate TEXT", "was removed in transformers 5"),
    "text-to-image": ("pretrained imagine PROMPT --out image.png", "is a diffusers task"),
    "image-to-image": (
        "pretrained imagine PROMPT (text to image)",
        "was removed in transformers 5 and this tool has no image-to-image command",
    ),
}
# Removed tasks that another pipeline covers: old name → (new task, default --text).
REWRITES: dict[str, tuple[str, str | None]] = {
    "image-to-text": ("image-text-to-text", "Describe this image."),
    "visual-question-answering": ("image-text-to-text", None),
}
# Our command for tasks that have a better home (shown by --list).
SEE_ALSO: dict[str, str] = {
    "text-generation": "pretrained generate",
    "text-to-audio": "pretrained speak",
}
# What each task takes. Unknown (future) tasks fall back on the pipeline's own type.
INPUTS: dict[str, str] = {
    "text-classification": "text",
    "token-classification": "text",
    "fill-mask": "text",
    "feature-extraction": "text",
    "text-generation": "text",
    "text-to-audio": "text",
    "decision": "text",
    "zero-shot-classification": "text+labels",
    "table-question-answering": "table+text",
    "image-classification": "image",
    "image-feature-extraction": "image",
    "object-detection": "image",
    "image-segmentation": "image",
    "depth-estimation": "image",
    "mask-generation": "image",
    "keypoint-matching": "image-pair",
    "zero-shot-image-classification": "image+labels",
    "zero-shot-object-detection": "image+labels",
    "image-text-to-text": "image+text",
    "any-to-any": "image+text",
    "document-question-answering": "image+text",
    "automatic-speech-recognition": "audio",
    "audio-classification": "audio",
    "zero-shot-audio-classification": "audio+labels",
    "video-classification": "video",
}
_BY_TYPE = {"text": "text", "image": "image", "audio": "audio", "video": "video"}
DESCRIBE_INPUT = {
    "text": "text ('-' = stdin, --file)",
    "text+labels": "text + --labels a,b,c",
    "table+text": "table (.csv) + --text question",
    "image": "image (path or URL)",
    "image-pair": "two images: A.png,B.png",
    "image+labels": "image + --labels a,b,c",
    "image+text": "image + --text prompt/question",
    "audio": "audio (path or URL)",
    "audio+labels": "audio + --labels a,b,c",
    "video": "video (path or URL)",
}
# Defaults we override (an embedded model works offline); the rest are transformers' own,
# pinned to the revision transformers pins.
OUR_DEFAULTS = {"feature-extraction": "minilm-l6", "text-generation": "smollm2-135m-instruct"}


@dataclass(frozen=True)
class TaskInfo:
    task: str
    input: str
    default_model: str | None
    default_revision: str | None
    aliases: tuple[str, ...] = ()
    see_also: str | None = None
    moved_to: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "input": DESCRIBE_INPUT.get(self.input, self.input),
            "default_model": self.default_model,
            "default_revision": self.default_revision,
            "aliases": list(self.aliases),
            "see_also": self.see_also,
            "moved_to": self.moved_to,
            "note": self.note,
        }


def _supported() -> dict[str, dict[str, Any]]:
    from transformers.pipelines import SUPPORTED_TASKS

    return SUPPORTED_TASKS


def _aliases() -> dict[str, str]:
    from transformers.pipelines import TASK_ALIASES

    return dict(TASK_ALIASES)


def _task_table() -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """(tasks, aliases) for --list: transformers' pipeline table, reduced to what the list shows
    and kept in the cache per transformers version, so listing imports neither transformers nor
    torch after the first time."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import settings

    try:
        path = settings.cache_dir() / f"pipeline-tasks-{version('transformers')}.json"
    except PackageNotFoundError:  # pragma: no cover - a core dependency
        path = None
    if path is not None and path.exists():
        try:
            data = json.loads(path.read_text())
            return data["tasks"], data["aliases"]
        except (OSError, ValueError, KeyError):
            pass
    tasks = {}
    for name, spec in _supported().items():
        model, revision = _default(name, spec)
        tasks[name] = {
            "type": spec.get("type", ""),
            "default": {"model": {"pt": [model, revision] if model else None}},
        }
    aliases = _aliases()
    if path is not None:
        from .._util import atomic_write

        atomic_write(path, json.dumps({"tasks": tasks, "aliases": aliases}, indent=1))
    return tasks, aliases


def list_tasks() -> list[TaskInfo]:
    """Every pipeline task with its default model and input kind, then the moved ones."""
    table, aliases = _task_table()
    rows = []
    for name, spec in sorted(table.items()):
        model, revision = _default(name, spec)
        rows.append(
            TaskInfo(
                name,
                _input_kind(name, spec),
                model,
                revision,
                tuple(sorted(a for a, t in aliases.items() if t == name)),
                SEE_ALSO.get(name),
            )
        )
    for old, (new, _) in sorted(REWRITES.items()):
        rows.append(TaskInfo(old, "image", None, None, note=f"runs as {new}"))
    for old, (command, why) in sorted(MOVED.items()):
        rows.append(TaskInfo(old, "text", None, None, moved_to=command, note=f"{old} {why}"))
    return rows


def _default(task: str, spec: dict[str, Any]) -> tuple[str | None, str | None]:
    if task in OUR_DEFAULTS:
        return OUR_DEFAULTS[task], None
    model = spec.get("default", {}).get("model", {})
    pinned = model.get("pt") if isinstance(model, dict) else model
    if isinstance(pinned, (tuple, list)) and pinned:
        return pinned[0], pinned[1] if len(pinned) > 1 else None
    return None, None


def _input_kind(task: str, spec: dict[str, Any]) -> str:
    return INPUTS.get(task) or _BY_TYPE.get(spec.get("type", ""), "image+text")


def normalize(task: str) -> tuple[str, str | None]:
    """→ (pipeline task, default --text) or a one-line error naming the right command."""
    name = task.strip().lower().replace("_", "-")
    if name in REWRITES:
        return REWRITES[name]
    base = "translation" if name.startswith("translation") else name
    if base in MOVED:
        command, why = MOVED[base]
        raise UnknownTaskError(f"the '{task}' pipeline {why}", hint=f"use: {command}")
    supported = _supported()
    name = _aliases().get(name, name)
    if name not in supported:
        import difflib

        choices = sorted(set(supported) | set(_aliases()) | set(MOVED) | set(REWRITES))
        close = difflib.get_close_matches(name, choices, n=1)
        raise UnknownTaskError(
            f"unknown task '{task}'",
            hint=(f"did you mean '{close[0]}'? " if close else "")
            + "'pretrained run --list' shows every task",
        )
    return name, None


@dataclass(frozen=True)
class RunOptions:
    params: dict[str, Any] = field(default_factory=dict)  # pipeline / generation kwargs
    text: str | None = None  # the question or prompt for image+text / table+text tasks
    labels: tuple[str, ...] = ()  # candidate labels for zero-shot tasks

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.params)
        if self.text:
            out["text"] = self.text
        if self.labels:
            out["labels"] = list(self.labels)
        return out


def parse_params(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """k=v strings → kwargs; values are JSON when they parse (numbers, true, lists), else text."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise InvalidOptionError(
                f"--param takes key=value (got {pair!r})",
                hint="e.g. --param top_k=3 --param aggregation_strategy=simple",
            )
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


@dataclass
class RunResult:
    task: str
    input: str
    output: Any
    model: str
    revision: str | None
    device: str
    options: dict[str, Any]
    files: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "input": self.input,
            "output": self.output,
            "files": self.files,
            "model": self.model,
            "revision": self.revision,
            "device": self.device,
            "options": self.options,
            "timings": self.timings,
        }


def prepare_input(
    task: str, value: str, options: RunOptions, backend: Any = None
) -> dict[str, Any]:
    """Check and load the input for `task` → the pipeline's call arguments. Called once before
    the model loads (backend=None: checks only) and once after (decodes audio at the model rate)."""
    kind = _input_kind(task, _supported().get(task, {}))
    base, _, extra = kind.partition("+")
    if extra == "labels" and not options.labels:
        raise InvalidOptionError(
            f"{task} needs candidate labels", hint="e.g. --labels politics,sports,science"
        )
    if extra == "text" and not options.text and task != "any-to-any":
        raise InvalidOptionError(
            f"{task} needs a question or prompt besides the {base}",
            hint='e.g. --text "What is in the picture?"',
        )
    if base == "text":
        if not value.strip():
            raise EmptyInputError(f"{task} needs some text", hint=f'e.g. pretrained run {task} "…"')
        found = sources.media_kind(value)
        if found:
            raise InputError(
                f"{task} takes text, but '{value}' is {'an' if found == 'image' else 'a'} "
                f"{found} file",
                hint="pass the text itself, or --file for a text file (image tasks: "
                "pretrained run --list)",
            )
        call = {"args": (value,)}
    elif base == "image":
        call = {"args": (sources.read_image(value),)}
    elif base == "image-pair":
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 2:
            raise InputError(
                f"{task} takes two images separated by a comma", hint="e.g. a.png,b.png"
            )
        call = {"args": ([sources.read_image(p) for p in parts],)}
    elif base == "audio":
        if backend is None:  # checks only: the file exists and decodes
            sources.read_audio(value, 16000)
            call = {"args": (None,)}
        else:
            rate = backend.sampling_rate
            call = {"args": ({"raw": sources.read_audio(value, rate), "sampling_rate": rate},)}
            if extra == "labels":  # the zero-shot audio pipeline takes the bare array
                call = {"args": (call["args"][0]["raw"],)}
    elif base == "video":
        call = {"args": (sources.read_video(value),)}
    elif base == "table":
        call = {"args": (), "kwargs": {"table": sources.read_table(value), "query": options.text}}
    else:  # pragma: no cover - INPUTS only names the kinds above
        raise InvalidOptionError(f"unsupported input kind {kind}")
    kwargs = dict(call.get("kwargs", {}))
    if extra == "labels":
        kwargs["candidate_labels"] = list(options.labels)
    if extra == "text" and base == "image":
        image = call["args"][0]
        if task == "document-question-answering":
            call["args"], kwargs["question"] = (), options.text
            kwargs["image"] = image
        else:
            call["args"] = ()
            kwargs["images"] = image
            kwargs["text"] = options.text or "Describe this image."
    return {"args": call["args"], "kwargs": kwargs}


def run(
    task: str,
    value: str,
    model: str | None = None,
    options: RunOptions | None = None,
    *,
    out: str | Path | None = None,
    backend: Any = None,
    load_options: LoadOptions | None = None,
) -> RunResult:
    """Run pipeline `task` on `value` (text, or a path/URL for media tasks)."""
    options = options or RunOptions()
    name, default_text = normalize(task)
    if default_text and not options.text:
        options = RunOptions(options.params, default_text, options.labels)
    prepare_input(name, value, options)
    started = time.perf_counter()
    if backend is None:
        backend = load_backend(name, model, load_options)
    runlog.annotate(
        task=name,
        model=backend.model_id,
        revision=backend.revision,
        device=backend.device,
        params=options.describe(),
    )
    if name == "fill-mask" and backend.mask_token and backend.mask_token not in value:
        value = _fill_mask_placeholder(value, backend.mask_token)
    call = prepare_input(name, value, options, backend)
    kwargs = {**call["kwargs"], **options.params}
    infer_start = time.perf_counter()
    try:
        raw = backend(*call["args"], **kwargs)
    except TypeError as exc:
        raise InvalidOptionError(
            f"the {name} pipeline does not accept these parameters: {first_line(exc)}",
            hint="check --param names against the pipeline's documentation",
        ) from exc
    except (ValueError, KeyError, IndexError) as exc:
        raise InputError(f"the {name} pipeline rejected the input: {first_line(exc)}") from exc
    except Exception as exc:
        if type(exc).__name__ == "PipelineException":
            raise InputError(f"the {name} pipeline rejected the input: {first_line(exc)}") from exc
        raise
    infer_s = time.perf_counter() - infer_start
    files: list[str] = []
    output = _jsonable(raw, _Saver(name, out, files))
    timings = {
        "load_s": round(getattr(backend, "load_seconds", 0.0) or 0.0, 3),
        "inference_s": round(infer_s, 3),
        "total_s": round(time.perf_counter() - started, 3),
    }
    runlog.annotate(outputs=files or None)
    return RunResult(
        task=name,
        input=value,
        output=output,
        model=backend.model_id,
        revision=backend.revision,
        device=backend.device,
        options=options.describe(),
        files=files,
        timings=timings,
    )


def load_backend(
    task: str,
    model: str | None = None,
    load_options: LoadOptions | None = None,
    *,
    allow_untrained_head: bool = False,
):
    """The pipeline for `task`: --model, else our default, else transformers' pinned default.

    text-generation runs on the text engines (`--engine`, the fast CPU engine by default) like
    `pretrained generate`, behind the pipeline's call and output shape."""
    from ..models import load, load_pipeline

    load_options = load_options or LoadOptions()
    if task == "text-generation":
        return GenerationPipeline(load_options.call(load, model))
    engine, revision = load_options.engine, load_options.revision
    if engine and engine.lower() not in ("auto", "transformers"):
        raise InvalidOptionError(
            f"--engine {engine} runs text generation; {task} runs on transformers",
            hint="drop --engine (it applies to text-generation)",
        )
    if model is None:
        model, pinned = _default(task, _supported().get(task, {}))
        if model is None:
            raise InvalidOptionError(f"{task} has no default model", hint="pass --model")
        revision = revision or pinned
    pipeline = replace(load_options, engine=None, revision=revision)
    return pipeline.call(load_pipeline, task, model, allow_untrained_head=allow_untrained_head)


class GenerationPipeline:
    """transformers' text-generation pipeline call and output (`[{"generated_text": …}]`,
    prompt included unless return_full_text=False) over one of our text engines. The prompt is
    used as it is (no chat template), like the pipeline does with a string; the knobs are
    `generate`'s, plus the pipeline's do_sample and return_full_text."""

    KNOBS = (
        "max_new_tokens",
        "temperature",
        "top_k",
        "top_p",
        "repetition_penalty",
        "num_return_sequences",
        "seed",
        "stop",
        "do_sample",
        "return_full_text",
    )

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.model_id = backend.model_id
        self.revision = backend.revision
        self.engine = backend.engine
        self.device = backend.device
        self.dtype = backend.dtype
        self.load_seconds = backend.load_seconds

    def __call__(self, text: str, **params: Any) -> list[dict[str, str]]:
        from .generate import GenerateOptions, generate

        unknown = sorted(set(params) - set(self.KNOBS))
        if unknown:  # run() turns a TypeError into a one-line usage error
            raise TypeError(
                f"unexpected keyword argument(s) {', '.join(unknown)}; "
                f"text-generation takes {', '.join(self.KNOBS)}"
            )
        full = params.pop("return_full_text", True)
        if params.pop("do_sample", None) is False:
            params["temperature"] = 0
        options = GenerateOptions.from_kwargs(raw=True, **params)
        result = generate(text, options=options, backend=self.backend)
        return [{"generated_text": (text if full else "") + t} for t in result.texts]


def _fill_mask_placeholder(value: str, mask: str) -> str:
    """Accept [MASK] / <mask> / ___ whatever the model's own mask token is."""
    for placeholder in ("[MASK]", "<mask>", "___"):
        if placeholder in value:
            return value.replace(placeholder, mask)
    raise InputError(
        f"fill-mask needs a {mask} in the text", hint=f'e.g. "Paris is the {mask} of France."'
    )


class _Saver:
    """Writes images / audio found in pipeline output to files named after --out."""

    def __init__(self, task: str, out: str | Path | None, files: list[str]) -> None:
        self.task = task
        self.out = Path(out) if out else None
        self.files = files

    def _target(self, formats: dict[str, str], fallback: str) -> Path:
        if self.out is not None:
            suffix = self.out.suffix.lower()
            base = self.out if suffix in formats else self.out.with_suffix(fallback)
        else:
            base = Path(f"{self.task}{fallback}")
        if self.files:  # second and later files: name-2.png, name-3.png …
            base = base.with_name(f"{base.stem}-{len(self.files) + 1}{base.suffix}")
        return base

    def image(self, image: Any) -> str:
        from .. import media

        written = str(media.save_image(image, self._target(media.IMAGE_FORMATS, ".png")))
        self.files.append(written)
        return written

    def audio(self, samples: Any, rate: int) -> str:
        from .. import media

        target = self._target(media.AUDIO_FORMATS, ".wav")
        written = str(media.write_audio(target, samples, rate))
        self.files.append(written)
        return written


def _jsonable(value: Any, saver: _Saver) -> Any:
    """Pipeline output → JSON-safe data: arrays → lists, images/audio → saved file paths."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow comes with the image extra
        Image = None  # noqa: N806
    if isinstance(value, dict):
        if "audio" in value and "sampling_rate" in value:
            return {
                "audio": saver.audio(value["audio"], int(value["sampling_rate"])),
                "sampling_rate": int(value["sampling_rate"]),
            }
        return {str(k): _jsonable(v, saver) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, saver) for v in value]
    if Image is not None and isinstance(value, Image.Image):
        return saver.image(value)
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().float().cpu().numpy()
    if hasattr(value, "tolist"):  # numpy array or scalar
        return value.tolist()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "__dict__"):  # dataclass-like outputs (keypoint Match …)
        return _jsonable(vars(value), saver)
    return str(value)
