"""What is inside a model — files, formats, parameters, context, vocabulary, special tokens,
and how much RAM it needs — read from headers and configs, never by loading the weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import runlog
from ..models import hub
from ..models.registry import TEXT_GENERATION, ModelFormat, ModelSource, ResolvedModel, resolve

BYTES_PER_PARAM = {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5}
# Weights are not the whole story: activations, KV cache and the runtime add some. This factor
# is a rule of thumb for inference at short contexts, stated in the output.
RUNTIME_OVERHEAD = 1.2
CONTEXT_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "n_ctx",
    "max_sequence_length",
    "max_source_positions",
)


@dataclass
class FileInfo:
    name: str
    size: int
    kind: str  # safetensors | pickle | gguf | ctranslate2 | config | tokenizer | other
    pickle: bool = False


@dataclass
class ModelInfo:
    model: str
    source: str
    format: str
    revision: str | None
    path: str | None
    files: list[FileInfo]
    parameters: int | None
    parameters_estimated: bool
    architecture: str | None
    model_type: str | None
    context_length: int | None
    vocab_size: int | None
    special_tokens: dict[str, Any]
    stored_dtype: str | None
    ram_estimate_bytes: dict[str, int]
    notes: list[str] = field(default_factory=list)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def has_pickle(self) -> bool:
        return any(f.pickle for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["total_size"] = self.total_size
        out["has_pickle"] = self.has_pickle
        out["ram_estimate_note"] = (
            f"parameters × bytes per parameter × {RUNTIME_OVERHEAD} (activations and runtime); "
            "long contexts need more for the KV cache"
        )
        return out


def _kind(name: str, fmt: str) -> tuple[str, bool]:
    base = Path(name).name
    if base.endswith(".safetensors"):
        return "safetensors", False
    if base.endswith(".gguf"):
        return "gguf", False
    if fmt == ModelFormat.CTRANSLATE2 and base == "model.bin":
        return "ctranslate2", False
    if hub.is_pickle(base):
        return "pickle", True
    if base.startswith(
        ("tokenizer", "vocab", "merges", "special_tokens", "spiece")
    ) or base.endswith(".model"):
        return "tokenizer", False
    if base.endswith(".json") or base.endswith(".yaml"):
        return "config", False
    return "other", False


def ram_estimates(parameters: int | None) -> dict[str, int]:
    if not parameters:
        return {}
    return {k: int(parameters * b * RUNTIME_OVERHEAD) for k, b in BYTES_PER_PARAM.items()}


def _context(config: dict[str, Any]) -> int | None:
    for source in (config, config.get("text_config") or {}):
        for key in CONTEXT_KEYS:
            if isinstance(source.get(key), int):
                return source[key]
    return None


# ---------------------------------------------------------------- GGUF
def _gguf_info(path: Path) -> dict[str, Any]:
    from gguf import GGUFReader

    reader = GGUFReader(path)

    def value(key: str) -> Any:
        f = reader.fields.get(key)
        return f.contents() if f is not None else None

    arch = value("general.architecture")
    tokens_field = reader.fields.get("tokenizer.ggml.tokens")

    def token_text(token_id: int | None) -> str | None:
        if token_id is None or tokens_field is None:
            return None
        return bytes(tokens_field.parts[tokens_field.data[token_id]]).decode("utf-8", "replace")

    special = {}
    for name, key in (
        ("bos", "bos_token_id"),
        ("eos", "eos_token_id"),
        ("unk", "unknown_token_id"),
        ("pad", "padding_token_id"),
    ):
        token_id = value(f"tokenizer.ggml.{key}")
        if token_id is not None:
            special[name] = {"token": token_text(int(token_id)), "id": int(token_id)}
    types = sorted({t.tensor_type.name for t in reader.tensors})
    return {
        "parameters": int(sum(int(t.n_elements) for t in reader.tensors)),
        "architecture": arch,
        "model_type": arch,
        "context_length": value(f"{arch}.context_length"),
        "vocab_size": len(tokens_field.data)
        if tokens_field is not None
        else value(f"{arch}.vocab_size"),
        "special_tokens": special,
        "stored_dtype": "/".join(types),
        "chat_template": value("tokenizer.chat_template") is not None,
        "name": value("general.name"),
    }


# ---------------------------------------------------------------- safetensors headers
def _safetensors_params(paths: list[Path]) -> tuple[int, str | None]:
    from safetensors import safe_open

    total, dtypes = 0, set()
    for path in paths:
        with safe_open(str(path), framework="numpy") as fh:
            for key in fh.keys():  # noqa: SIM118 - a safetensors handle, not a dict
                tensor = fh.get_slice(key)
                count = 1
                for dim in tensor.get_shape():
                    count *= dim
                total += count
                dtypes.add(tensor.get_dtype())
    return total, "/".join(sorted(dtypes)) or None


def _tokenizer_facts(folder: Path) -> tuple[dict[str, Any], int | None]:
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(folder)
    except Exception:  # a model without tokenizer files (vision models …) is still inspectable
        return {}, None
    from .tokenize import special_tokens

    return special_tokens(tok), len(tok)


def _folder_info(folder: Path, fmt: str) -> dict[str, Any]:
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    notes = []
    safetensors = sorted(folder.rglob("*.safetensors"))
    stored = None
    if safetensors:
        params, stored = _safetensors_params(safetensors)
        estimated = False
    else:
        weights = [
            p
            for p in folder.rglob("*")
            if p.is_file() and (hub.is_pickle(p.name, fmt) or p.name == "model.bin")
        ]
        size = sum(p.stat().st_size for p in weights)
        bytes_per = (
            1.0
            if fmt == ModelFormat.CTRANSLATE2 and "int8" in json.dumps(config)
            else 4.0
            if fmt != ModelFormat.CTRANSLATE2
            else 2.0
        )
        params = int(size / bytes_per) if size else None
        estimated = True
        if params:
            notes.append(
                f"parameter count estimated from file size ({size:,} bytes at {bytes_per:g} bytes/parameter)"
            )
    special, tok_vocab = _tokenizer_facts(folder)
    archs = config.get("architectures") or []
    return {
        "parameters": params,
        "parameters_estimated": estimated,
        "architecture": archs[0] if archs else None,
        "model_type": config.get("model_type"),
        "context_length": _context(config),
        "vocab_size": config.get("vocab_size")
        or (config.get("text_config") or {}).get("vocab_size")
        or tok_vocab,
        "special_tokens": special,
        "stored_dtype": stored or config.get("torch_dtype") or config.get("dtype"),
        "notes": notes,
    }


def _hub_info(
    resolved: ResolvedModel,
) -> tuple[dict[str, Any], list[str], dict[str, int], str | None]:
    """Read config + tokenizer files and safetensors headers only — weights stay on the Hub."""
    from .. import settings

    files, sha, sizes = hub.list_files(resolved.hub_id, resolved.revision)
    folder = hub.snapshot(resolved.hub_id, resolved.revision, hub.META_PATTERNS)
    facts = _folder_info(folder, resolved.format)
    weights = hub.weight_files(files)
    if weights["safetensors"] and not settings.offline():
        with hub.hub_errors(resolved.hub_id, resolved.revision):
            meta = hub.api().get_safetensors_metadata(resolved.hub_id, revision=sha)
        facts["parameters"] = sum(meta.parameter_count.values())
        facts["stored_dtype"] = "/".join(sorted(meta.parameter_count))
        facts["parameters_estimated"] = False
        facts["notes"] = []
    elif not facts.get("parameters"):
        size = sum(sizes.get(f, 0) for f in weights["safetensors"] + weights["pickle"])
        if size:
            facts["parameters"] = int(size / 4)
            facts["parameters_estimated"] = True
            facts["notes"] = [
                f"parameter count estimated from file sizes ({size:,} bytes at 4 bytes/parameter)"
            ]
    return facts, files, sizes, sha


def inspect(model: str | None = None, *, revision: str | None = None) -> ModelInfo:
    resolved = resolve(model, task=TEXT_GENERATION, revision=revision)
    notes: list[str] = []
    if resolved.source == ModelSource.HUB:
        facts, names, sizes, rev = _hub_info(resolved)
        files = [FileInfo(n, sizes.get(n, 0), *_kind(n, resolved.format)) for n in sorted(names)]
        path = None
    else:
        folder = resolved.path
        assert folder is not None
        if resolved.format == ModelFormat.GGUF:
            target = folder / resolved.file
            facts = _gguf_info(target)
            facts["parameters_estimated"] = False
            names = [resolved.file]
            from ..models.loading import file_sha256

            rev = f"sha256:{file_sha256(target)}"
            if facts.pop("chat_template"):
                notes.append("has a chat template (applied automatically by generate/chat)")
            notes.append(
                f"GGUF {facts.pop('stored_dtype')} weights; loading dequantizes them to float"
            )
            facts["stored_dtype"] = "gguf"
            facts.pop("name", None)
        else:
            facts = _folder_info(folder, resolved.format)
            names = [
                str(p.relative_to(folder))
                for p in sorted(folder.rglob("*"))
                if p.is_file() and not p.name.startswith(".")
            ]
            rev = None
        files = [
            FileInfo(n, (folder / n).stat().st_size, *_kind(n, resolved.format)) for n in names
        ]
        path = str(folder)
    notes = facts.pop("notes", []) + notes
    if any(f.pickle for f in files):
        notes.append(
            "contains pickle weights: loading them needs --trust-pickle (they can run code)"
        )
    parameters = facts.pop("parameters", None)
    info = ModelInfo(
        model=resolved.alias or resolved.id,
        source=resolved.source,
        format=resolved.format,
        revision=rev,
        path=path,
        files=files,
        parameters=parameters,
        parameters_estimated=facts.pop("parameters_estimated", False),
        ram_estimate_bytes=ram_estimates(parameters),
        notes=notes,
        **{
            k: facts.get(k)
            for k in (
                "architecture",
                "model_type",
                "context_length",
                "vocab_size",
                "special_tokens",
                "stored_dtype",
            )
        },
    )
    runlog.annotate(task="inspect", model=info.model, revision=rev)
    return info
