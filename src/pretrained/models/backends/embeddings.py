"""Sentence embeddings: the protocol every embedding engine follows, and the
sentence-transformers engine (the embedded all-MiniLM-L6-v2 or any Hub/local embedding model).

An engine turns a batch of texts into one float32 matrix in ONE forward pass per batch, and
counts tokens with the model's own tokenizer so callers (chunkers, the index, the server) can
tell when a text is longer than the model reads (`max_tokens`) instead of truncating silently.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Protocol, runtime_checkable

from ..._util import first_line
from ...errors import InvalidOptionError, ModelLoadError, UnsupportedModelError
from ..registry import ModelFormat, ModelSource, ResolvedModel


@runtime_checkable
class EmbeddingBackend(Protocol):
    engine: str
    model_id: str  # what to show and log (alias, Hub id or path)
    revision: str | None
    device: str
    dims: int
    max_tokens: int  # the model reads at most this many tokens per text (the rest is cut)
    load_seconds: float

    def encode(self, texts: list[str], *, batch_size: int = 32, normalize: bool = True): ...

    def count_tokens(self, texts: list[str]) -> list[int]: ...

    def token_offsets(self, text: str) -> list[tuple[int, int]]: ...


class SentenceTransformerBackend:
    """sentence-transformers engine. `encode` returns an (n, dims) float32 numpy array."""

    engine = "sentence-transformers"

    def __init__(self, model: Any, resolved: ResolvedModel, revision: str | None, load_s: float):
        self.model = model
        self.resolved = resolved
        self.model_id = resolved.alias or resolved.id
        self.revision = revision
        self.device = str(model.device)
        dims = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        self.dims = int(dims())
        self.max_tokens = int(model.max_seq_length or 512)
        self.load_seconds = load_s
        self.tokenizer = model.tokenizer

    def encode(self, texts: list[str], *, batch_size: int = 32, normalize: bool = True):
        import numpy as np

        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=normalize,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text including special tokens, before any truncation."""
        if not texts:
            return []
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)[
            "input_ids"
        ]
        return [len(x) for x in ids]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every (non-special) token: lets chunkers cut at token boundaries."""
        enc = self.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        return [tuple(span) for span in enc["offset_mapping"]]


def auto_embedding_engines(
    resolved: ResolvedModel, device: str | None = None, *, trust_remote_code: bool = False
) -> list[str]:
    """The engines `auto` tries for an embedding model, best first; sentence-transformers last.

    On a CPU a sentence-transformers folder runs torch-free (CTranslate2, then onnxruntime:
    see fast_embeddings.py for the measurements); GPUs (an explicit cuda/mps device, or an
    NVIDIA GPU with the device left to auto) and custom code stay on sentence-transformers."""
    from . import nvidia_gpu_present
    from .fast_embeddings import ENGINES, engine_available

    device = (device or "auto").lower()
    gpu = device.startswith(("cuda", "mps")) or (device == "auto" and nvidia_gpu_present())
    if gpu or trust_remote_code:
        return ["sentence-transformers"]
    return [e for e in ENGINES if engine_available(e)] + ["sentence-transformers"]


def create_embedder(
    resolved: ResolvedModel,
    *,
    device: str | None = None,
    engine: str | None = "auto",
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
):
    """An embedding backend for `resolved` on `engine` (auto | ctranslate2 | onnx |
    sentence-transformers). `auto` on a CPU converts a sentence-transformers model once and runs
    it without torch; when no torch-free engine can run it, it says why on stderr and uses
    sentence-transformers (never a silently different model)."""
    from ..loading import check_device
    from .fast_embeddings import check_engine, load_fast_embedder

    name = check_engine(engine)
    device = check_device(device)
    if (
        resolved.format in (ModelFormat.ONNX, ModelFormat.CTRANSLATE2)
        and resolved.source == ModelSource.LOCAL
    ):
        return load_sentence_transformer(resolved, device=device)  # an export: its own runtime
    if name == "sentence-transformers":
        return load_sentence_transformer(
            resolved, device=device, trust_remote_code=trust_remote_code, trust_pickle=trust_pickle
        )
    if name != "auto":
        if device not in ("auto", "cpu"):
            raise InvalidOptionError(
                f"the {name} embedding engine runs on the CPU, not on {device}",
                hint="leave --device out, or use --engine sentence-transformers on a GPU",
            )
        return load_fast_embedder(resolved, name, trust_pickle=trust_pickle)
    candidates = auto_embedding_engines(resolved, device, trust_remote_code=trust_remote_code)
    reasons: dict[str, list[str]] = {}  # why → the engines that said so
    for candidate in candidates[:-1]:
        try:
            return load_fast_embedder(resolved, candidate, trust_pickle=trust_pickle)
        except UnsupportedModelError as exc:
            reasons.setdefault(exc.message, []).append(candidate)
    if reasons:
        why = "; ".join(f"{' and '.join(engines)}: {msg}" for msg, engines in reasons.items())
        print(
            f"warning: {resolved.alias or resolved.id} runs on sentence-transformers (torch, "
            f"slower start), not on a torch-free engine ({why})",
            file=sys.stderr,
        )
    return load_sentence_transformer(
        resolved, device=device, trust_remote_code=trust_remote_code, trust_pickle=trust_pickle
    )


def load_sentence_transformer(
    resolved: ResolvedModel,
    *,
    device: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
) -> SentenceTransformerBackend:
    """Load an embedding model from the embedded package, the Hub (safe download) or a folder."""
    from ..loading import check_local_weights, choose_device, prepare, quiet_transformers

    if (
        resolved.format in (ModelFormat.ONNX, ModelFormat.CTRANSLATE2)
        and resolved.source == ModelSource.LOCAL
    ):
        # an embedding export written by `pretrained export`: its own runtime
        from .portable import PortableEmbedder

        return PortableEmbedder(resolved.path, resolved.id)  # type: ignore[return-value]
    if resolved.format in (ModelFormat.GGUF, ModelFormat.CTRANSLATE2, ModelFormat.PEFT_ADAPTER):
        raise UnsupportedModelError(
            f"{resolved.label} is a {resolved.format} model, not a sentence-embedding model",
            hint="use an embedding model, e.g. --model minilm-l6 or sentence-transformers/all-MiniLM-L6-v2",
        )
    # sentence-transformers imports peft → bitsandbytes, which warns on every start about an
    # optional 4-bit CPU kernel that embedding never uses
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - part of the [text] extra
        from ...errors import missing_dependency

        raise missing_dependency("sentence-transformers", "text") from exc
    start = time.time()
    prepared = prepare(resolved, trust_pickle=trust_pickle)
    if resolved.source == ModelSource.LOCAL:
        check_local_weights(prepared.path, trust_pickle)
    chosen = choose_device(device)
    try:
        with quiet_transformers():
            model = SentenceTransformer(
                str(prepared.path),
                device=chosen,
                trust_remote_code=trust_remote_code,
                local_files_only=True,
            )
    except (OSError, ValueError, KeyError) as exc:
        first = first_line(exc)
        raise ModelLoadError(
            f"could not load {resolved.label} as an embedding model: {first}",
            hint="pass a sentence-transformers model or a transformers encoder (BERT-like)",
        ) from exc
    model.eval()
    return SentenceTransformerBackend(model, resolved, prepared.revision, time.time() - start)
