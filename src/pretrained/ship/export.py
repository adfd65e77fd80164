"""Portable exports: ONNX (onnxruntime), CTranslate2 and GGUF (llama.cpp, Ollama), each checked
against the original.

    export_model("minilm-l6", "out/minilm-onnx", ExportOptions(format="onnx"))
    export_model("smollm2-135m-instruct", "out/smol-ct2", ExportOptions(format="ct2", quantize="int8"))
    export_model("runs/quotes", "out/quotes-gguf", ExportOptions(format="gguf", quantize="q8_0", ollama=True))

What is exported depends on the model:
- embed     a sentence-transformers model (or a bare encoder): one graph from token ids to the
            pooled (and, if the model normalizes, unit-length) sentence embedding;
- classify  a sequence-classification model: token ids → logits;
- generate  a causal LM (a GGUF file is converted to safetensors first; a LoRA adapter is merged
            into its base): token ids + attention mask → logits for every position.

ONNX graphs come from PyTorch's own exporter (`torch.onnx.export(dynamo=True)`) with dynamic
batch and sequence axes. (Optimum's ONNX exporter now lives in the `optimum-onnx` package,
which requires transformers < 4.58; this project is on transformers 5.) `--quantize int8` is
onnxruntime's dynamic int8 quantization. CTranslate2 exports use its own Transformers converter.

GGUF exports (ship/gguf.py: the `gguf` package + llama.cpp's conversion logic) are generators
only; `--ollama` adds a Modelfile (ship/modelfile.py).

Every export ends with a parity check run on the exported files through their native runtime:
the largest absolute difference of embeddings/logits against the original model on sample
inputs, and for generators the greedy continuations of sample prompts (ship/parity.py), equal
or parting only at near-ties (a pass with warnings that say where and by how much). The
figures go to `export.json` in the output folder; an export that fails its check raises
`ExportError`.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import runlog as runs
from ..errors import ExportError, InvalidOptionError, UnsupportedModelError
from ..models.backends.fast_tokenizer import TOKENIZER_FILES
from ..models.backends.onnx_export import torch_to_onnx
from ..models.registry import ExportFormat, ModelFormat

FORMATS = tuple(ExportFormat)
KINDS = ("auto", "embed", "classify", "generate")
QUANTIZE = ("int8",)
SAMPLE_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "I absolutely loved this film, the acting was superb!",
    "Quarterly revenue fell by 3% as shipping costs rose.",
    "Où est la bibliothèque ?",
)
SAMPLE_PROMPTS = ("The capital of France is", "Once upon a time, there was a")
EXPORT_FILE = "export.json"


def default_prompts(model: str) -> tuple[str, ...]:
    """The greedy parity prompts when --prompt is not given: for a fine-tuning run folder,
    the prompts its evaluation sampled ("Quote by Oscar Wilde:"), so the check runs on what the
    model was trained to do, plus one general prompt; else SAMPLE_PROMPTS."""
    try:
        metrics = json.loads((Path(model) / "metrics.json").read_text())
        samples = (metrics.get("after") or metrics.get("before") or {}).get("samples") or []
    except (OSError, ValueError, AttributeError):
        return SAMPLE_PROMPTS
    trained = list(dict.fromkeys(s["prompt"] for s in samples if s.get("prompt")))[:3]
    return (*trained, SAMPLE_PROMPTS[0]) if trained else SAMPLE_PROMPTS


@dataclass(frozen=True)
class ExportOptions:
    format: str = ExportFormat.ONNX
    quantize: str | None = None  # int8
    kind: str = "auto"  # auto | embed | classify | generate
    max_new_tokens: int = 16  # greedy parity check length for generators
    opset: int = 18
    ollama: bool = False  # gguf: also write an Ollama Modelfile
    prompts: tuple[str, ...] = ()  # generators: greedy parity prompts (default SAMPLE_PROMPTS)

    def validate(self) -> ExportOptions:
        if self.format not in FORMATS:
            raise InvalidOptionError(
                f"unknown export format '{self.format}'", hint="use --format onnx, ct2 or gguf"
            )
        if self.format == ExportFormat.GGUF:
            from .gguf import check_quantize

            check_quantize(self.quantize)
            if self.kind not in ("auto", "generate"):
                raise InvalidOptionError(
                    "a GGUF export is a text generator", hint="drop --task or use --task generate"
                )
        elif self.ollama:
            raise InvalidOptionError("--ollama goes with --format gguf", hint="add --format gguf")
        elif self.quantize is not None and self.quantize not in QUANTIZE:
            raise InvalidOptionError(
                f"unknown quantization '{self.quantize}' for export",
                hint="use --quantize int8 (or leave it out for float32)",
            )
        if self.kind not in KINDS:
            raise InvalidOptionError(
                f"unknown export task '{self.kind}'", hint=f"use one of: {', '.join(KINDS)}"
            )
        if len(self.prompts) > 16 or not all(isinstance(p, str) and p for p in self.prompts):
            raise InvalidOptionError(
                "--prompt takes up to 16 non-empty prompts", hint='e.g. --prompt "Quote by"'
            )
        if not isinstance(self.max_new_tokens, int) or not 1 <= self.max_new_tokens <= 512:
            raise InvalidOptionError(
                f"--max-new-tokens must be between 1 and 512 (got {self.max_new_tokens!r})"
            )
        return self


@dataclass
class ExportResult:
    output: str
    format: str
    kind: str
    model: str
    revision: str | None
    quantize: str | None
    passed: bool
    parity: dict[str, Any]
    files: list[str]
    size_bytes: int
    seconds: float
    runtime: str
    notes: list[str] = field(default_factory=list)  # parity warnings: what differed and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- what to export
@dataclass
class _Source:
    folder: Path  # config + safetensors + tokenizer
    kind: str
    model_id: str
    revision: str | None
    pooling: str | None = None  # embed: mean | cls | max
    normalize: bool = False
    st_root: Path | None = None  # a sentence-transformers model: the reference for parity
    cleanup: list[Path] = field(default_factory=list)


def _kind_from_config(folder: Path) -> str:
    config = json.loads((folder / "config.json").read_text())
    archs = " ".join(config.get("architectures") or [])
    if "ForCausalLM" in archs or "LMHeadModel" in archs:
        return "generate"
    if "ForSequenceClassification" in archs:
        return "classify"
    return "embed"


def _sentence_transformers_layout(folder: Path) -> tuple[Path, str, bool]:
    """→ (folder of the transformer module, pooling mode, normalize) from modules.json."""
    modules = json.loads((folder / "modules.json").read_text())
    transformer, pooling, normalize = folder, "mean", False
    for module in modules:
        kind = module.get("type", "")
        path = folder / module.get("path", "")
        if kind.endswith("models.Transformer"):
            transformer = path
        elif kind.endswith("models.Pooling"):
            config = json.loads((path / "config.json").read_text())
            if config.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif config.get("pooling_mode_max_tokens"):
                pooling = "max"
            elif config.get("pooling_mode_mean_tokens"):
                pooling = "mean"
            else:
                raise UnsupportedModelError(
                    f"the pooling of {folder} is not mean, cls or max",
                    hint="export a model with mean/cls/max pooling",
                )
        elif kind.endswith("models.Normalize"):
            normalize = True
        elif not kind.endswith(("models.Transformer", "models.Pooling", "models.Normalize")):
            raise UnsupportedModelError(
                f"{folder} has a {kind.rsplit('.', 1)[-1]} module, which export does not handle",
                hint="export models made of Transformer + Pooling (+ Normalize) modules",
            )
    return transformer, pooling, normalize


def _merge_adapter(resolved, trust_remote_code: bool, trust_pickle: bool) -> Path:
    """Load a LoRA adapter (or a fine-tuning run folder) with its base, merge the adapter into
    the weights, save the plain model to a temp folder."""
    import tempfile

    from ..models.loading import load_causal_lm, quiet_transformers

    loaded = load_causal_lm(
        resolved, device="cpu", trust_remote_code=trust_remote_code, trust_pickle=trust_pickle
    )
    merged = loaded.model
    if hasattr(merged, "merge_and_unload"):  # a PEFT model; a run's merged/full model is plain
        merged = merged.merge_and_unload()
    folder = Path(tempfile.mkdtemp(prefix="pretrained-merged-"))
    with quiet_transformers():
        merged.save_pretrained(folder, safe_serialization=True)
        loaded.tokenizer.save_pretrained(folder)
    return folder


def _source(model: str, revision: str | None, options: ExportOptions, trust: dict) -> _Source:
    from ..models.loading import prepare
    from ..models.registry import resolve

    resolved = resolve(model, task="text-generation", revision=revision)
    label = resolved.alias or resolved.id
    if resolved.format == ModelFormat.CTRANSLATE2 or resolved.format == ModelFormat.ONNX:
        raise UnsupportedModelError(
            f"{resolved.label} is already an export ({resolved.format})",
            hint="export the original model (a Hub id, alias or a folder with safetensors)",
        )
    if resolved.format in (ModelFormat.PEFT_ADAPTER, ModelFormat.FINETUNE_RUN):
        folder = _merge_adapter(resolved, **trust)
        return _Source(folder, "generate", label, None, cleanup=[folder])
    prepared = prepare(resolved, trust_pickle=trust["trust_pickle"])
    folder = Path(prepared.path)
    if resolved.format == ModelFormat.SENTENCE_TRANSFORMERS:
        transformer, pooling, normalize = _sentence_transformers_layout(folder)
        kind = options.kind if options.kind != "auto" else "embed"
        return _Source(transformer, kind, label, prepared.revision, pooling, normalize, folder)
    kind = options.kind if options.kind != "auto" else _kind_from_config(folder)
    return _Source(folder, kind, label, prepared.revision, pooling="mean")


# ---------------------------------------------------------------- torch modules to export
def _wrapper(src: _Source, trust_remote_code: bool):
    import torch
    from transformers import (
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
    )

    from ..models.loading import quiet_transformers

    kwargs = {"dtype": torch.float32, "trust_remote_code": trust_remote_code}
    with quiet_transformers():
        if src.kind == "generate":
            inner = AutoModelForCausalLM.from_pretrained(src.folder, **kwargs)
        elif src.kind == "classify":
            inner = AutoModelForSequenceClassification.from_pretrained(src.folder, **kwargs)
        else:
            inner = AutoModel.from_pretrained(src.folder, **kwargs)
    inner.eval()
    if hasattr(inner.config, "use_cache"):
        inner.config.use_cache = False

    class Generate(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = inner

        def forward(self, input_ids, attention_mask):
            # position ids as generate() makes them for left-padded batches
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=False,
            )
            return out.logits

    class Classify(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = inner

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    class Embed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = inner

        def forward(self, input_ids, attention_mask):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
            if src.pooling == "cls":
                pooled = hidden[:, 0]
            elif src.pooling == "max":
                pooled = hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
            else:
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if src.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            return pooled

    module = {"generate": Generate, "classify": Classify, "embed": Embed}[src.kind]()
    return module.eval(), inner


OUTPUT_NAMES = {"generate": "logits", "classify": "logits", "embed": "sentence_embedding"}


def _export_onnx(src: _Source, out: Path, options: ExportOptions, trust_remote_code: bool):
    from transformers import AutoTokenizer

    module, _ = _wrapper(src, trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(src.folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    example = tokenizer(
        ["an example input", "a second, somewhat longer example input"],
        return_tensors="pt",
        padding=True,
    )
    target = out / "model.onnx"
    torch_to_onnx(
        module,
        (example["input_ids"], example["attention_mask"]),
        target,
        OUTPUT_NAMES[src.kind],
        opset=options.opset,
    )
    if options.quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        fp32 = out / "model.fp32.onnx"
        target.rename(fp32)
        quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8)
        fp32.unlink()
        for extra in out.glob("model.fp32.onnx*"):
            extra.unlink()
    return module


def _export_ct2(src: _Source, out: Path, options: ExportOptions) -> None:
    from ..models.backends import ctranslate2

    if not ctranslate2.available():  # pragma: no cover - part of the export extra
        from ..errors import missing_dependency

        raise missing_dependency("ctranslate2", "export")
    if src.kind == "classify":
        raise UnsupportedModelError(
            "CTranslate2 has no sequence-classification head",
            hint="export classifiers with --format onnx",
        )
    if src.kind == "embed" and src.pooling != "mean":
        raise UnsupportedModelError(
            f"CTranslate2 exports of embedders support mean pooling, not {src.pooling}",
            hint="use --format onnx",
        )
    staging = out / "ct2"
    ctranslate2.convert_folder(src.folder, staging, options.quantize, label=src.model_id)
    for item in staging.iterdir():
        shutil.move(str(item), out / item.name)
    staging.rmdir()


# ---------------------------------------------------------------- parity
def _reference_embeddings(src: _Source, module, texts) -> Any:
    import torch
    from transformers import AutoTokenizer

    if src.st_root is not None and src.kind == "embed":
        # the library itself is the reference, not our re-implementation of its pooling
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(src.st_root), device="cpu")
        return model.encode(list(texts), convert_to_numpy=True, show_progress_bar=False)

    tokenizer = AutoTokenizer.from_pretrained(src.folder)
    enc = tokenizer(list(texts), return_tensors="pt", padding=True)
    with torch.inference_mode():
        return module(enc["input_ids"], enc["attention_mask"]).numpy()


def _parity(src: _Source, out: Path, options: ExportOptions, module) -> dict[str, Any]:
    import numpy as np

    from ..models.backends.portable import load_portable

    portable = load_portable(out)
    quantized = options.quantize is not None
    if src.kind in ("embed", "classify"):
        ref = _reference_embeddings(src, module, SAMPLE_TEXTS)
        got = portable.forward_texts(list(SAMPLE_TEXTS))
        diff = float(np.abs(ref - got).max())
        report: dict[str, Any] = {"samples": len(SAMPLE_TEXTS), "max_abs_diff": diff}
        if src.kind == "embed":
            cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
            report["min_cosine"] = float(cos.min())
            report["threshold"] = "min_cosine ≥ 0.98" if quantized else "max_abs_diff ≤ 1e-4"
            report["passed"] = bool(cos.min() >= 0.98) if quantized else diff <= 1e-4
        else:
            same = (ref.argmax(1) == got.argmax(1)).mean()
            report["label_agreement"] = float(same)
            report["threshold"] = "labels equal" if quantized else "max_abs_diff ≤ 1e-3"
            report["passed"] = bool(same == 1.0) if quantized else diff <= 1e-3
        return report
    from .parity import portable_generation

    prompts = tuple(options.prompts) or SAMPLE_PROMPTS
    return portable_generation(src, portable, module, options, prompts, SAMPLE_TEXTS)


# ---------------------------------------------------------------- the command
def default_output(model: str, options: ExportOptions) -> Path:
    base = Path(model.rstrip("/")).name or "model"
    quantize = options.quantize or ("f16" if options.format == ExportFormat.GGUF else None)
    suffix = f"-{quantize}" if quantize else ""
    return Path(f"{base}-{options.format}{suffix}")


RUNTIMES = {
    ExportFormat.ONNX: "onnxruntime",
    ExportFormat.CT2: "ctranslate2",
    ExportFormat.GGUF: "llama.cpp",
}


def _write(src: _Source, staging: Path, options: ExportOptions, trust_remote_code: bool):
    """The exported files in `staging` → (the torch module parity compares against, or None;
    what the format adds to export.json)."""
    if options.format == ExportFormat.ONNX:
        module = _export_onnx(src, staging, options, trust_remote_code)
        for name in ("config.json", *TOKENIZER_FILES):
            if (src.folder / name).exists():
                shutil.copy2(src.folder / name, staging / name)
        return module, {}
    if options.format == ExportFormat.CT2:
        _export_ct2(src, staging, options)
        module, _ = _wrapper(src, trust_remote_code)
        if not (staging / "config.json").exists():
            shutil.copy2(src.folder / "config.json", staging / "config.json")
        return module, {}
    if src.kind != "generate":
        raise UnsupportedModelError(
            f"{src.model_id} is not a text generator: GGUF exports are for causal LMs",
            hint="export embedders and classifiers with --format onnx or ct2",
        )
    from ..models.backends import llamacpp
    from .gguf import check_quantize, convert

    if not llamacpp.available():  # the parity check runs the file in llama.cpp
        from ..errors import missing_dependency

        raise missing_dependency("xllamacpp", "export")
    quantize = check_quantize(options.quantize)
    name = f"{Path(src.model_id.rstrip('/')).name}.{quantize.upper()}.gguf"
    info = convert(src.folder, staging / name, quantize, name=src.model_id)
    extra: dict[str, Any] = {"file": name, "quantize": quantize, "gguf": info}
    extra.update(inputs=None, output=None)
    if options.ollama:
        from .modelfile import write_modelfile

        config = json.loads((src.folder / "config.json").read_text())
        context = config.get("max_position_embeddings") or config.get("n_positions")
        extra["ollama"] = write_modelfile(src.folder, name, staging / "Modelfile", context)
    return None, extra


def export_model(
    model: str,
    output: str | Path | None = None,
    options: ExportOptions | None = None,
    *,
    revision: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
    force: bool = False,
    on_status=None,
) -> ExportResult:
    """Export `model` and check the export against it. See the module docstring."""
    options = (options or ExportOptions()).validate()
    if not options.prompts:
        options = replace(options, prompts=default_prompts(model))
    status = on_status or (lambda message: None)
    began = time.perf_counter()
    out = Path(output) if output else default_output(model, options)
    if out.exists() and any(out.iterdir()) and not force:
        raise InvalidOptionError(
            f"{out} already exists and is not empty",
            hint="pass --force to replace it, or choose another --output",
        )
    trust = {"trust_remote_code": trust_remote_code, "trust_pickle": trust_pickle}
    status(f"preparing {model}…")
    src = _source(model, revision, options, trust)
    staging = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        status(f"exporting {src.model_id} ({src.kind}) to {options.format}…")
        module, extra = _write(src, staging, options, trust_remote_code)
        manifest = {
            "format": options.format,
            "kind": src.kind,
            "source_model": src.model_id,
            "source_revision": src.revision,
            "quantize": options.quantize,
            "pooling": src.pooling if src.kind == "embed" else None,
            "normalize": src.normalize if src.kind == "embed" else None,
            "inputs": ["input_ids", "attention_mask"],
            "output": OUTPUT_NAMES[src.kind],
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **extra,
        }
        (staging / EXPORT_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        status("checking parity with the original…")
        if options.format == ExportFormat.GGUF:
            from .parity import gguf_generation

            parity = gguf_generation(
                src.folder,
                staging / extra["file"],
                options,
                tuple(options.prompts) or SAMPLE_PROMPTS,
                src.model_id,
            )
        else:
            parity = _parity(src, staging, options, module)
        manifest["parity"] = parity
        manifest["passed"] = parity["passed"]
        (staging / EXPORT_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        for folder in src.cleanup:
            shutil.rmtree(folder, ignore_errors=True)
    files = sorted(p.name for p in out.iterdir())
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    result = ExportResult(
        output=str(out),
        format=options.format,
        kind=src.kind,
        model=src.model_id,
        revision=src.revision,
        quantize=manifest["quantize"],
        passed=bool(parity["passed"]),
        parity=parity,
        files=files,
        size_bytes=size,
        seconds=round(time.perf_counter() - began, 2),
        runtime=RUNTIMES[options.format],
        notes=list(parity.get("warnings") or [])
        + list(manifest.get("ollama", {}).get("notes", [])),
    )
    runs.annotate(task="export", model=src.model_id, revision=src.revision, format=options.format)
    if not result.passed:
        raise ExportError(
            f"the {options.format} export of {src.model_id} failed its parity check: "
            + "; ".join(parity.get("problems") or [parity["threshold"]]),
            hint=f"the files are in {out}; see {out / EXPORT_FILE} for the figures",
        )
    return result
