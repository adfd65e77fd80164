"""GGUF files for transformers: the file itself (downloaded when it is a Hub model), its
tokenizer extracted once, and the model dequantized once into safetensors (cached by file hash;
transformers 5 dequantizes on every load and refuses to save a GGUF-loaded model)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from . import hub
from .cache import Prepared, cached_build, file_sha256
from .devices import quiet_transformers
from .registry import ModelFormat, ModelSource, ResolvedModel


def gguf_path(resolved: ResolvedModel) -> Path:
    """The .gguf file of a GGUF model (downloaded from the Hub when it is a Hub model)."""
    if resolved.source == ModelSource.HUB:
        snap = hub.download(
            resolved.hub_id, resolved.revision, fmt=ModelFormat.GGUF, gguf_file=resolved.file
        )
        gguf_files = sorted(f for f in snap.files if f.endswith(".gguf"))
        return snap.path / (resolved.file or gguf_files[0])
    assert resolved.path is not None and resolved.file is not None
    return resolved.path / resolved.file


def _gguf_entry(gguf_path: Path, kind: str) -> tuple[str, str, dict[str, Any]]:
    digest = file_sha256(gguf_path)
    meta = {"kind": f"gguf-{kind}", "source": str(gguf_path), "sha256": digest}
    if kind == "model":
        meta["quantization"] = "float32 (dequantized)"
    return f"gguf-{kind}-{digest[:16]}", f"sha256:{digest}", meta


def gguf_tokenizer_dir(gguf_path: Path) -> Prepared:
    """Tokenizer files extracted once from a GGUF file (≈7 s the first time, then instant)."""
    name, revision, meta = _gguf_entry(gguf_path, "tokenizer")

    def build(tmp: Path) -> None:
        from transformers import AutoTokenizer

        with quiet_transformers():
            tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
            tok.save_pretrained(tmp)

    return cached_build(name, build, meta, revision)


def gguf_model_dir(gguf_path: Path, progress: bool = True) -> Prepared:
    """Dequantize a GGUF checkpoint once into safetensors under the cache (keyed by file hash).

    transformers refuses to save a GGUF-loaded model, so rebuild it from its config and copy
    the state dict into a fresh instance that can be saved.
    """
    name, revision, meta = _gguf_entry(gguf_path, "model")

    def build(tmp: Path) -> None:
        import transformers.modeling_gguf_pytorch_utils  # noqa: F401 - so quiet_transformers can reach its tqdm
        from transformers import AutoModelForCausalLM

        if progress:
            print(
                f"converting {gguf_path.name} to safetensors once (cached for next time)…",
                file=sys.stderr,
            )
        with quiet_transformers(show_progress=progress):
            gguf_model = AutoModelForCausalLM.from_pretrained(
                gguf_path.parent, gguf_file=gguf_path.name
            )
        config = gguf_model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(gguf_model.state_dict())
        model.generation_config = gguf_model.generation_config
        with quiet_transformers():
            model.save_pretrained(tmp, safe_serialization=True)
        del gguf_model, model
        tok_dir = gguf_tokenizer_dir(gguf_path).path
        for item in tok_dir.iterdir():
            if item.name != ".complete":
                shutil.copy2(item, tmp / item.name)

    return cached_build(name, build, meta, revision)
