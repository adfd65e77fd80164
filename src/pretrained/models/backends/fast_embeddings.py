"""Sentence embeddings without torch on a CPU: a sentence-transformers model converted once
into the conversion cache, then run by CTranslate2 (or onnxruntime) with the model's own
pooling and normalization, tokenized by the `tokenizers` library alone.

Why CTranslate2 float32 first (measured, docs/performance.md): on the embedded
all-MiniLM-L6-v2 it gives the same vectors as sentence-transformers (min cosine 0.9999999 on
207 texts) at ≈3.5× onnxruntime's speed on the same graph, and it opens in 0.1 s (an
onnxruntime session: 0.25 s). int8 fails the fidelity bar on an AVX2 CPU (onnxruntime dynamic
int8: min cosine 0.86; CTranslate2 int8: 0.98), so both engines run float32. onnxruntime is
the engine for architectures CTranslate2 cannot convert (MPNet, for one).

What a conversion reads (modules.json, then the loaded sentence-transformers model itself):
- the Transformer module: its folder, `max_seq_length`, and the tokenizer exactly as
  sentence-transformers set it up (a lower-casing normalizer for `do_lower_case`), saved as
  `tokenizer.json` in the entry;
- the Pooling module: every mode (cls, max, mean, mean_sqrt_len_tokens, weightedmean,
  lasttoken, or several concatenated), applied here in numpy on the token embeddings;
- a Normalize module, and the default prompt (`default_prompt_name`).
Any other module (Dense, …), prompt-excluding pooling or custom code is not converted: the
caller falls back to sentence-transformers with a warning. Each conversion ends with a parity
check against sentence-transformers on fixed texts (short, empty, non-English, longer than the
model reads); below `MIN_COSINE` the entry is refused and the model falls back too. A model that
cannot be converted is remembered (`embed-unsupported.json` in the cache) so warm starts do not
try again.

The cache entry `embed-<engine>-<model>-<content hash>` is keyed by the model id and its Hub
commit or the sha256 of every file of a local/embedded folder (memoized by path, size, mtime).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..._util import first_line
from ...errors import InvalidOptionError, PretrainedError, UnsupportedModelError
from ..registry import ModelFormat, ResolvedModel

ENGINES = ("ctranslate2", "onnx")  # torch-free embedding engines, preferred first
RECIPE_FILE = "embedding.json"
FORMAT_VERSION = 1  # bump when the entry layout changes: older entries are rebuilt
MIN_COSINE = 0.9999  # conversion parity bar against sentence-transformers (float32)
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_MODULES = ("Transformer", "Pooling", "Normalize")
UNSUPPORTED_FILE = "embed-unsupported.json"
PARITY_TEXTS = (
    "I love it",
    "",
    "The quick brown fox jumps over the lazy dog.",
    "Quarterly revenue fell by 3% as shipping costs rose in EUROPE and Asia.",
    "Où est la bibliothèque ? Das Wetter ist heute schön. 東京は日本の首都です。",
    "   leading and trailing spaces   ",
    "one",
    # longer than most embedding models read (truncation must match too)
    " ".join(f"sentence {i} talks about models, data, engines and caches." for i in range(120)),
)


@dataclass(frozen=True)
class Recipe:
    """What the runtime needs besides the weights and tokenizer.json."""

    engine: str
    max_seq_length: int
    pooling: tuple[str, ...]
    normalize: bool
    prompt: str
    dims: int
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["pooling"] = list(self.pooling)
        return out

    @classmethod
    def read(cls, folder: Path) -> Recipe:
        data = json.loads((folder / RECIPE_FILE).read_text())
        return cls(
            engine=data["engine"],
            max_seq_length=int(data["max_seq_length"]),
            pooling=tuple(data["pooling"]),
            normalize=bool(data["normalize"]),
            prompt=data.get("prompt") or "",
            dims=int(data["dims"]),
            format_version=int(data.get("format_version", 0)),
        )


def check_engine(engine: str | None) -> str:
    """The embedding engine name, validated without importing anything heavy."""
    name = (engine or "auto").lower()
    aliases = {"ct2": "ctranslate2", "onnxruntime": "onnx", "st": "sentence-transformers"}
    name = aliases.get(name, name)
    if name not in ("auto", *ENGINES, "sentence-transformers"):
        raise InvalidOptionError(
            f"unknown embedding engine '{engine}'",
            hint="use one of: auto, ctranslate2, onnx, sentence-transformers",
        )
    return name


def engine_available(engine: str) -> bool:
    import importlib.util

    module = "ctranslate2" if engine == "ctranslate2" else "onnxruntime"
    return importlib.util.find_spec(module) is not None


# ---------------------------------------------------------------- pooling (numpy)
def pool(hidden, mask, modes: tuple[str, ...]):
    """sentence-transformers' Pooling on right-padded token embeddings (batch, seq, dim) with
    a 0/1 mask (batch, seq): the modes' vectors concatenated in order."""
    import numpy as np

    hidden = hidden.astype(np.float32, copy=False)
    m = mask.astype(np.float32)[..., None]
    lengths = mask.sum(1).astype(np.int64)
    out = []
    for mode in modes:
        if mode == "cls":
            out.append(hidden[:, 0])
        elif mode == "max":
            out.append(np.where(m > 0, hidden, -np.inf).max(1))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            total = (hidden * m).sum(1)
            count = np.clip(m.sum(1), 1e-9, None)
            out.append(total / (count if mode == "mean" else np.sqrt(count)))
        elif mode == "weightedmean":
            weights = m * np.arange(1, hidden.shape[1] + 1, dtype=np.float32)[None, :, None]
            out.append((hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None))
        elif mode == "lasttoken":
            out.append(hidden[np.arange(hidden.shape[0]), np.clip(lengths - 1, 0, None)])
        else:  # pragma: no cover - refused when the entry is built
            raise UnsupportedModelError(f"unknown pooling mode '{mode}'")
    return np.concatenate(out, axis=1) if len(out) > 1 else out[0]


# ---------------------------------------------------------------- the runtime
class FastEmbedder:
    """A converted sentence-transformers model behind the embedder interface (encode,
    count_tokens, token_offsets, dims, max_tokens), on CTranslate2 or onnxruntime."""

    device = "cpu"

    def __init__(
        self,
        folder: Path,
        resolved: ResolvedModel,
        revision: str | None,
        *,
        threads: int | None = None,
        cache_hit: bool = True,
    ) -> None:
        began = time.perf_counter()
        from tokenizers import Tokenizer

        self.folder = folder
        self.resolved = resolved
        self.model_id = resolved.alias or resolved.id
        self.revision = revision
        self.recipe = Recipe.read(folder)
        self.engine = self.recipe.engine
        self.dims = self.recipe.dims
        self.max_tokens = self.recipe.max_seq_length
        self.cache_hit = cache_hit
        # two tokenizers: one cuts at the model's limit (what the model reads), one counts
        self._cut = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._cut.no_padding()
        self._cut.enable_truncation(self.max_tokens)
        self._raw = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._raw.no_padding()
        self._raw.no_truncation()
        self._lock = threading.Lock()
        if self.engine == "ctranslate2":
            from .ctranslate2 import open_model

            self._model = open_model(folder, kind="embed", compute_type="float32", threads=threads)
        else:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            if threads:
                options.intra_op_num_threads = threads
            self._model = ort.InferenceSession(
                str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
            self._pad = self._cut.padding["pad_id"] if self._cut.padding else 0
        self.load_seconds = time.perf_counter() - began

    def _forward(self, batch: list[list[int]]):
        """→ (token embeddings (batch, seq, dim), mask (batch, seq)) for unpadded id lists."""
        import numpy as np

        width = max(len(ids) for ids in batch)
        lengths = np.array([len(ids) for ids in batch])
        mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
        with self._lock:
            if self.engine == "ctranslate2":
                out = self._model.forward_batch(batch)
                hidden = np.array(out.last_hidden_state)
            else:
                ids = np.zeros((len(batch), width), dtype=np.int64)
                for row, seq in enumerate(batch):
                    ids[row, : len(seq)] = seq
                hidden = self._model.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return hidden[:, :width], mask

    def encode(self, texts: list[str], *, batch_size: int = 32, normalize: bool = True):
        import numpy as np

        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        prompt = self.recipe.prompt
        encodings = self._cut.encode_batch([prompt + t for t in texts])
        ids = [e.ids for e in encodings]
        # longest first, like sentence-transformers: batches of similar lengths pad little
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        out = np.empty((len(ids), self.dims), dtype=np.float32)
        for start in range(0, len(order), max(1, batch_size)):
            rows = order[start : start + max(1, batch_size)]
            hidden, mask = self._forward([ids[i] for i in rows])
            out[rows] = pool(hidden, mask, self.recipe.pooling)
        if self.recipe.normalize or normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)
        return out

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text including special tokens, before any truncation."""
        if not texts:
            return []
        return [len(e.ids) for e in self._raw.encode_batch(list(texts))]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every (non-special) token."""
        return [tuple(span) for span in self._raw.encode(text, add_special_tokens=False).offsets]


# ---------------------------------------------------------------- conversion (cached)
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "--", text).strip("-")[-60:]


def folder_fingerprint(folder: Path) -> str:
    """sha256 over every file of a model folder (weights, configs, tokenizer, module folders);
    each file's hash is memoized by (path, size, mtime), so a warm start only stats them."""
    import hashlib

    from ..loading import file_sha256

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or path.name.startswith("README"):
            continue
        digest.update(f"{rel.as_posix()}:{file_sha256(path)}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def _read_modules(folder: Path) -> list[dict[str, Any]]:
    """modules.json, checked without torch: Transformer + Pooling (+ Normalize) only."""
    try:
        modules = json.loads((folder / "modules.json").read_text())
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(
            f"{folder} has no readable modules.json (not a sentence-transformers folder)"
        ) from exc
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    other = [k for k in kinds if k not in _MODULES]
    if other:
        raise UnsupportedModelError(
            f"the model has a {other[0]} module, which the torch-free engines do not run"
        )
    if not kinds or kinds[0] != "Transformer" or "Pooling" not in kinds:
        raise UnsupportedModelError("the model is not a Transformer followed by a Pooling module")
    return modules


def _pooling_modes(module: Any) -> tuple[str, ...]:
    mode = getattr(module, "pooling_mode", None)
    if isinstance(mode, str):
        modes: tuple[str, ...] = (mode,)
    elif isinstance(mode, (list, tuple)):
        modes = tuple(mode)
    else:  # sentence-transformers < 6: one boolean per mode
        config = module.get_config_dict()
        modes = tuple(v for k, v in _LEGACY_POOLING.items() if config.get(k)) or ("mean",)
    unknown = [m for m in modes if m not in POOLING_MODES]
    if unknown:
        raise UnsupportedModelError(f"unknown pooling mode '{unknown[0]}'")
    return modes


def _recipe_from(st: Any, engine: str) -> Recipe:
    """The recipe of a loaded SentenceTransformer (what it will really do), or Unsupported."""
    modules = list(st)
    kinds = [type(m).__name__ for m in modules]
    other = [k for k in kinds if k not in _MODULES]
    if other or kinds[:1] != ["Transformer"] or "Pooling" not in kinds:
        raise UnsupportedModelError(
            f"the model's modules are {', '.join(kinds)}; the torch-free engines run "
            "Transformer + Pooling (+ Normalize)"
        )
    pooling = modules[kinds.index("Pooling")]
    prompt = ""
    name = getattr(st, "default_prompt_name", None)
    if name:
        prompt = (getattr(st, "prompts", None) or {}).get(name) or ""
    if prompt and getattr(pooling, "include_prompt", True) is False:
        raise UnsupportedModelError("the model leaves its prompt out of the pooling")
    transformer = modules[0]
    limit = transformer.max_seq_length
    positions = getattr(transformer.auto_model.config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0 or limit > 1_000_000:
        limit = positions or 512
    if isinstance(positions, int) and positions > 0:
        limit = min(limit, positions)
    dims = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return Recipe(
        engine=engine,
        max_seq_length=int(limit),
        pooling=_pooling_modes(pooling),
        normalize="Normalize" in kinds,
        prompt=prompt,
        dims=int(dims()),
    )


def _load_sentence_transformer(folder: Path, trust_remote_code: bool = False):
    import logging

    from ..loading import quiet_transformers

    # sentence-transformers imports peft → bitsandbytes, which warns about an optional 4-bit
    # CPU kernel that embedding never uses
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - part of the [text] extra
        from ...errors import missing_dependency

        raise missing_dependency("sentence-transformers", "text") from exc
    with quiet_transformers():
        model = SentenceTransformer(
            str(folder), device="cpu", local_files_only=True, trust_remote_code=trust_remote_code
        )
    return model.eval()


def _export_onnx(st: Any, tokenizer_json: Path, target: Path) -> None:
    """The Transformer module's encoder → an ONNX graph of its token embeddings."""
    import torch
    from tokenizers import Tokenizer

    from .onnx_export import torch_to_onnx

    inner = st[0].auto_model.float().eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = inner

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_truncation()
    tok.enable_padding(pad_id=tok.padding["pad_id"] if tok.padding else 0)
    examples = tok.encode_batch(["an example input", "a second, somewhat longer example input"])
    ids = torch.tensor([e.ids for e in examples])
    mask = torch.tensor([e.attention_mask for e in examples])
    torch_to_onnx(TokenEmbeddings().eval(), (ids, mask), target, "token_embeddings")


def _build(
    engine: str,
    source: Path,
    modules: list[dict[str, Any]],
    tmp: Path,
    label: str,
    meta: dict[str, Any],
    resolved: ResolvedModel,
) -> None:
    import numpy as np

    print(
        f"converting {label} for the {engine} embedding engine once (cached for next time)…",
        file=sys.stderr,
    )
    st = _load_sentence_transformer(source)
    recipe = _recipe_from(st, engine)
    transformer_dir = source / (modules[0].get("path") or "")
    if engine == "ctranslate2":
        from .ctranslate2 import convert_folder

        convert_folder(transformer_dir, tmp, "float32", label=label)
    # the tokenizer exactly as sentence-transformers set it up (do_lower_case, limits)
    st.tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))
    if engine == "onnx":
        _export_onnx(st, tmp / "tokenizer.json", tmp / "model.onnx")
    (tmp / RECIPE_FILE).write_text(json.dumps(recipe.to_dict(), indent=1) + "\n")

    texts = list(PARITY_TEXTS)
    reference = st.encode(texts, convert_to_numpy=True, show_progress_bar=False)
    got = FastEmbedder(tmp, resolved, None, cache_hit=False).encode(texts, normalize=False)
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(got, axis=1)
    cosine = float(((reference * got).sum(1) / np.clip(norms, 1e-12, None)).min())
    meta["parity"] = {
        "reference": "sentence-transformers encode",
        "texts": len(texts),
        "min_cosine": round(cosine, 7),
        "max_abs_diff": float(np.abs(reference - got).max()),
        "threshold": f"min_cosine ≥ {MIN_COSINE}",
    }
    meta.update(recipe.to_dict())
    if cosine < MIN_COSINE:
        raise UnsupportedModelError(
            f"its {engine} conversion differs from sentence-transformers "
            f"(min cosine {cosine:.5f} < {MIN_COSINE})"
        )


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("sentence-transformers", "ctranslate2", "onnxruntime", "transformers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    return out


def _unsupported(name: str) -> str | None:
    """Why the entry `name` could not be built before (with these library versions), or None."""
    from ... import settings

    try:
        memo = json.loads((settings.cache_dir() / UNSUPPORTED_FILE).read_text())
    except (OSError, ValueError):
        return None
    entry = memo.get(name)
    if not entry or entry.get("versions") != _versions():
        return None
    return entry.get("reason")


def _remember_unsupported(name: str, reason: str) -> None:
    from ... import settings
    from ..._util import atomic_write

    path = settings.cache_dir() / UNSUPPORTED_FILE
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError):
        memo = {}
    memo[name] = {"reason": reason, "versions": _versions()}
    atomic_write(path, json.dumps(memo, indent=1) + "\n")


def load_fast_embedder(
    resolved: ResolvedModel, engine: str, *, trust_pickle: bool = False
) -> FastEmbedder:
    """The converted model for `engine` (ctranslate2 | onnx), converting it once; raises
    UnsupportedModelError (with the reason) when the model cannot run there."""
    from ..loading import cached_build, prepare

    if not engine_available(engine):
        from ...errors import missing_dependency

        package = "ctranslate2" if engine == "ctranslate2" else "onnxruntime"
        raise missing_dependency(package, "fast" if engine == "ctranslate2" else "export")
    if resolved.format != ModelFormat.SENTENCE_TRANSFORMERS:
        raise UnsupportedModelError(
            f"{resolved.label} is not a sentence-transformers folder (no modules.json)"
        )
    source = prepare(resolved, trust_pickle=trust_pickle)
    modules = _read_modules(source.path)
    revision = source.revision or folder_fingerprint(source.path)
    digest = revision.split(":")[-1][:16]
    tag = "ct2" if engine == "ctranslate2" else "onnx"
    name = f"embed-{tag}-v{FORMAT_VERSION}-{_slug(resolved.id)}-{digest}"
    reason = _unsupported(name)
    if reason:
        raise UnsupportedModelError(reason)
    meta: dict[str, Any] = {
        "kind": f"embedding-{engine}",
        "model": resolved.id,
        "revision": revision,
        "quantization": "float32",
        "source": str(source.path),
    }
    label = resolved.alias or resolved.id

    def build(tmp: Path) -> None:
        try:
            _build(engine, source.path, modules, tmp, label, meta, resolved)
        except (PretrainedError, OSError, MemoryError):
            raise
        except Exception as exc:  # an exporter or converter that trips over this model
            first = first_line(exc)
            raise UnsupportedModelError(f"its {engine} conversion failed: {first[:200]}") from exc

    try:
        built = cached_build(name, build, meta, revision)
    except UnsupportedModelError as exc:
        _remember_unsupported(name, str(exc))
        raise
    return FastEmbedder(built.path, resolved, source.revision, cache_hit=built.cache_hit)
