"""Turning a `ResolvedModel` into objects in memory: device, dtype, quantization, safety,
and the GGUF → safetensors conversion cache.

Heavy libraries (torch, transformers) are imported inside functions so `pretrained --help`
and error paths stay fast.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import settings
from .._util import atomic_write, first_line
from ..errors import (
    DeviceUnavailableError,
    InvalidOptionError,
    ModelLoadError,
    PickleRefusedError,
    QuantizationUnavailableError,
    UnsupportedModelError,
)
from . import hub
from .registry import ResolvedModel

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "float16", "bfloat16")
QUANTIZE = ("8bit", "4bit")


# ---------------------------------------------------------------- device / dtype / quantization
def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def check_device(requested: str | None) -> str:
    """The device name, lower-cased and validated (no torch import: engines that never touch
    torch validate --device too)."""
    requested = (requested or "auto").lower()
    if requested.split(":")[0] not in DEVICES:
        raise InvalidOptionError(
            f"unknown device '{requested}'", hint="use one of: auto, cpu, cuda, cuda:N, mps"
        )
    return requested


def choose_device(requested: str | None = None) -> str:
    """auto → cuda → mps → cpu. An explicit device that is absent is an error, not a fallback."""
    requested = check_device(requested)
    base = requested.split(":")[0]
    if base == "auto":
        if cuda_available():
            return "cuda"
        if mps_available():
            return "mps"
        return "cpu"
    if base == "cuda" and not cuda_available():
        raise DeviceUnavailableError(
            "--device cuda was asked for but this machine has no CUDA GPU (or torch is a CPU build)",
            hint="drop --device to pick the best available device, or use --device cpu",
        )
    if base == "mps" and not mps_available():
        raise DeviceUnavailableError("--device mps was asked for but MPS is not available here")
    return requested


def choose_dtype(device: str, requested: str | None = None):
    """auto: bf16 on GPUs that support it, else fp16 on GPU; fp32 on CPU."""
    import torch

    requested = (requested or "auto").lower()
    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "float16": torch.float16,
        "fp16": torch.float16,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
    }
    if requested != "auto":
        if requested not in names:
            raise InvalidOptionError(
                f"unknown dtype '{requested}'", hint="use auto, float32, float16 or bfloat16"
            )
        return names[requested]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def quantization_config(quantize: str | None, device: str):
    """A BitsAndBytesConfig for 8bit/4bit (4bit = nf4 + double quant), or None."""
    if not quantize:
        return None
    if quantize not in QUANTIZE:
        raise InvalidOptionError(
            f"unknown quantization '{quantize}'", hint="use --quantize 8bit or --quantize 4bit"
        )
    if not device.startswith("cuda"):
        raise QuantizationUnavailableError(
            f"--quantize {quantize} needs a CUDA GPU; this run is on {device}",
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise QuantizationUnavailableError(
            f"--quantize {quantize} needs the bitsandbytes package",
            hint="pip install 'pretrained[quantize]'",
        ) from exc
    import torch
    from transformers import BitsAndBytesConfig

    if quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
    )


def dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


@contextlib.contextmanager
def quiet_transformers(show_progress: bool = False):
    """Silence transformers' warnings and tqdm bars while loading local files (we show our own
    status line); keep a bar for long conversions when stderr is a terminal."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    show = show_progress and sys.stderr.isatty()
    gguf_utils = sys.modules.get("transformers.modeling_gguf_pytorch_utils")
    gguf_tqdm = getattr(gguf_utils, "tqdm", None)
    if not show:
        hf_logging.disable_progress_bar()
        if gguf_tqdm is not None:  # the GGUF converter uses tqdm directly, not transformers' switch
            gguf_utils.tqdm = functools.partial(gguf_tqdm, disable=True)
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if enabled:
            hf_logging.enable_progress_bar()
        if gguf_tqdm is not None:
            gguf_utils.tqdm = gguf_tqdm


@contextlib.contextmanager
def quiet_peft():
    """peft imports bitsandbytes, which logs about optional CPU kernels, and peft/transformers
    emit deprecation notices that are not the user's to act on: off while we show our own status."""
    import logging
    import warnings

    names = ("bitsandbytes", "peft", "accelerate", "torch.distributed")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


# ---------------------------------------------------------------- file hashing (memoized)
def file_sha256(path: Path) -> str:
    """sha256 of a file, memoized by (path, size, mtime) so warm starts skip the hashing."""
    path = path.resolve()
    stat = path.stat()
    memo_file = settings.cache_dir() / "file-hashes.json"
    key = f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
    memo: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        memo = json.loads(memo_file.read_text())
    if key in memo:
        return memo[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    memo[key] = digest.hexdigest()
    atomic_write_text(memo_file, json.dumps(memo, indent=0))
    return memo[key]


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, text)


def publish_dir(tmp: Path, final: Path) -> Path:
    """Atomically move a finished temp folder into place; if another process won the race,
    keep theirs and drop ours."""
    try:
        os.rename(tmp, final)
    except OSError:
        if (final / ".complete").exists():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            raise
    return final


# ---------------------------------------------------------------- GGUF conversion cache
@dataclass
class Prepared:
    """A folder transformers can load from, plus provenance for the run log."""

    path: Path
    revision: str | None  # commit sha (Hub) or 'sha256:<file hash>' (GGUF)
    converted: bool = False
    cache_hit: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _build_lock(final: Path):
    """An exclusive lock next to a cache entry, so a second process waits for the first one's
    conversion instead of doing the same work (the rename in publish_dir is what keeps the
    entry whole; the lock only saves the duplicate work)."""
    from filelock import FileLock

    return FileLock(str(final.parent / f".{final.name}.lock"))


def cached_build(name: str, build, meta: dict[str, Any], revision: str | None) -> Prepared:
    """The cache entry `name` under the cache folder, built once by `build(tmp_folder)`.

    The build writes into a fresh temp folder; a `.complete` file with `meta` is added and the
    folder is renamed into place, so readers only ever see complete entries, a crash leaves
    only a `.tmp-*` folder behind, and two racing processes end up sharing one entry."""
    final = settings.cache_dir() / name
    if (final / ".complete").exists():
        return Prepared(final, revision, cache_hit=True)
    with _build_lock(final):
        if (final / ".complete").exists():  # another process built it while we waited
            return Prepared(final, revision, cache_hit=True)
        start = time.time()
        tmp = Path(tempfile.mkdtemp(dir=settings.cache_dir(), prefix=".tmp-"))
        try:
            build(tmp)
            record = {**meta, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
            (tmp / ".complete").write_text(json.dumps(record, indent=1))
            publish_dir(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return Prepared(final, revision, converted=True, seconds=time.time() - start)


ON_CLEAR: list[Callable[[], object]] = []  # called before clear_cache deletes entries


def cache_entries() -> list[dict[str, Any]]:
    """Every complete entry of the conversion cache, with what it was made from and its size."""
    root = settings.cache_dir()
    out = []
    for entry in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        marker = entry / ".complete"
        if not marker.exists():
            continue
        try:
            meta = json.loads(marker.read_text())
        except ValueError:
            meta = {}
        size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
        out.append({"name": entry.name, "path": str(entry), "size_bytes": size, **meta})
    return out


def clear_cache(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Delete the named cache entries (all of them when `names` is None); → what was deleted.

    Leftover temp folders of crashed conversions go too, but only when older than an hour,
    so a conversion running in another process right now is left alone."""
    entries = cache_entries()
    if names is not None:
        known = {e["name"] for e in entries}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InvalidOptionError(
                f"no cache entry named {', '.join(repr(n) for n in unknown)}",
                hint="run 'pretrained models cache list' to see the entries",
            )
        entries = [e for e in entries if e["name"] in names]
    for hook in ON_CLEAR:  # models/__init__ unloads its models: one from a deleted entry breaks
        hook()
    root = settings.cache_dir()
    for entry in entries:
        # rename first so a reader never sees a half-deleted entry as complete
        doomed = root / f".tmp-del-{entry['name']}-{os.getpid()}"
        with contextlib.suppress(OSError):
            os.rename(entry["path"], doomed)
            shutil.rmtree(doomed, ignore_errors=True)
    if names is None:
        # remembered verdicts and tables go with the entries (models/calibrate.py,
        # backends/fast_embeddings.py, tasks/run.py): a clean cache decides again
        shutil.rmtree(root / "calibration", ignore_errors=True)
        for record in (*root.glob("embed-unsupported.json"), *root.glob("pipeline-tasks-*.json")):
            record.unlink(missing_ok=True)
        for stale in root.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > 3600:
                    shutil.rmtree(stale, ignore_errors=True)
    return entries


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


# ---------------------------------------------------------------- safe local folders
def check_local_weights(folder: Path, trust_pickle: bool) -> None:
    names = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
    weights = hub.weight_files(names)
    if weights["pickle"] and not weights["safetensors"] and not trust_pickle:
        raise PickleRefusedError(
            f"'{folder}' only has pickle weights ({', '.join(weights['pickle'][:3])}), which are refused by default"
        )


def gguf_path(resolved: ResolvedModel) -> Path:
    """The .gguf file of a GGUF model (downloaded from the Hub when it is a Hub model)."""
    if resolved.source == "hub":
        snap = hub.download(resolved.hub_id, resolved.revision, fmt="gguf", gguf_file=resolved.file)
        gguf_files = sorted(f for f in snap.files if f.endswith(".gguf"))
        return snap.path / (resolved.file or gguf_files[0])
    assert resolved.path is not None and resolved.file is not None
    return resolved.path / resolved.file


def prepare(
    resolved: ResolvedModel, *, trust_pickle: bool = False, tokenizer_only: bool = False
) -> Prepared:
    """A local folder with config + safetensors (+ tokenizer) for a transformers load."""
    if resolved.format == "gguf":
        path = gguf_path(resolved)
        return gguf_tokenizer_dir(path) if tokenizer_only else gguf_model_dir(path)
    if resolved.source == "hub":
        start = time.time()
        snap = hub.download(
            resolved.hub_id, resolved.revision, fmt=resolved.format, trust_pickle=trust_pickle
        )
        return Prepared(snap.path, snap.sha, seconds=time.time() - start)
    assert resolved.path is not None
    if not tokenizer_only:
        check_local_weights(resolved.path, trust_pickle)
    return Prepared(resolved.path, None)


def load_tokenizer(resolved: ResolvedModel, *, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    prepared = prepare(resolved, tokenizer_only=True)
    try:
        with quiet_transformers():
            return AutoTokenizer.from_pretrained(
                prepared.path, trust_remote_code=trust_remote_code
            ), prepared
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"could not load a tokenizer for {resolved.label}: {first_line(exc)}",
            hint="check that the model folder has tokenizer files (tokenizer.json / vocab)",
        ) from exc


@dataclass
class LoadedLM:
    model: Any
    tokenizer: Any
    resolved: ResolvedModel
    revision: str | None
    device: str
    dtype: str
    quantize: str | None
    load_seconds: float
    import_seconds: float = 0.0
    cache_hit: bool = False
    converted: bool = False


def load_causal_lm(
    resolved: ResolvedModel,
    *,
    device: str | None = None,
    dtype: str | None = None,
    quantize: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
) -> LoadedLM:
    """Load a causal LM + tokenizer on the chosen device, safely (safetensors unless trusted).

    `import_seconds` (torch + transformers imports, paid once per process) is kept apart
    from `load_seconds` (resolving, converting if needed, reading weights)."""
    began = time.time()
    import torch  # noqa: F401
    import transformers.modeling_utils  # noqa: F401 - library import cost, same for every model
    import transformers.tokenization_utils_tokenizers  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.time()
    import_seconds = start - began
    if resolved.format in ("sentence-transformers", "ctranslate2", "diffusers", "espeak"):
        raise UnsupportedModelError(
            f"{resolved.label} is a {resolved.format} model, not a text-generation model",
            hint="pick a causal language model, e.g. --model smollm2-135m-instruct",
        )
    layered = {"finetune-run": _load_run, "peft-adapter": _load_adapter}.get(resolved.format)
    if layered is not None:  # a base model plus something on top: loaded through this function
        return layered(
            resolved,
            device=device,
            dtype=dtype,
            quantize=quantize,
            trust_remote_code=trust_remote_code,
            trust_pickle=trust_pickle,
        )
    chosen = choose_device(device)
    torch_dtype = choose_dtype(chosen, dtype)
    bnb = quantization_config(quantize, chosen)
    prepared = prepare(resolved, trust_pickle=trust_pickle)
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code}
    if not trust_pickle:
        kwargs["use_safetensors"] = True
    if bnb is not None:
        kwargs["quantization_config"] = bnb
        kwargs["device_map"] = {"": chosen if ":" in chosen else f"{chosen}:0"}
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(
                prepared.path, trust_remote_code=trust_remote_code
            )
            model = AutoModelForCausalLM.from_pretrained(prepared.path, **kwargs)
    except ValueError as exc:
        message = first_line(exc)
        if "trust_remote_code" in str(exc):
            raise UnsupportedModelError(
                f"{resolved.label} needs custom code from its repository to load",
                hint="pass --trust-remote-code only if you trust the publisher",
            ) from exc
        if (
            "Unrecognized" in message
            or "not supported" in message
            or "does not recognize" in message
        ):
            raise UnsupportedModelError(
                f"{resolved.label} is not a causal language model transformers can load: {message}",
                hint="use a text-generation model (e.g. an *-Instruct or *-chat model)",
            ) from exc
        raise ModelLoadError(f"could not load {resolved.label}: {message}") from exc
    except OSError as exc:
        raise ModelLoadError(f"could not load {resolved.label}: {first_line(exc)}") from exc
    if bnb is None:
        model.to(chosen)
    model.eval()
    return LoadedLM(
        model=model,
        tokenizer=tokenizer,
        resolved=resolved,
        revision=prepared.revision,
        device=chosen,
        dtype=dtype_name(torch_dtype) if bnb is None else f"{quantize} (bitsandbytes)",
        quantize=quantize,
        load_seconds=time.time() - start,
        import_seconds=import_seconds,
        cache_hit=prepared.cache_hit,
        converted=prepared.converted,
    )


def read_run_config(folder: Path) -> dict[str, Any] | None:
    """The config.yaml of a `pretrained finetune` run folder, or None for any other folder."""
    path = folder / "config.yaml"
    if not path.is_file():
        return None
    import yaml

    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ModelLoadError(f"'{path}' is not valid YAML: {first_line(exc)}") from exc
    return config if isinstance(config, dict) and "base_model" in config else None


def run_base(config: dict[str, Any]) -> ResolvedModel:
    """The base model a run was trained from, exactly as recorded (embedded alias, local path,
    or Hub id pinned to the commit that was used)."""
    from .registry import resolve

    base = config["base_model"]
    if base.get("source") == "embedded":
        return resolve(base["name"])
    if base.get("source") == "local":
        return resolve(base["path"])
    return resolve(base["hub_id"], revision=base.get("resolved_revision") or base.get("revision"))


def _load_run(resolved: ResolvedModel, **options: Any) -> LoadedLM:
    """A fine-tuning run folder: its merged model if there is one, else its fully fine-tuned
    model, else base + adapter. A run trained on plain-text templates continues text, so its
    prompts are not wrapped in the chat template."""
    from .registry import resolve

    assert resolved.path is not None
    config = read_run_config(resolved.path)
    if config is None:
        raise ModelLoadError(f"'{resolved.path}' has no readable config.yaml of a fine-tuning run")
    start = time.time()
    for sub in ("merged", "model"):
        if (resolved.path / sub / "config.json").exists():
            loaded = load_causal_lm(resolve(str(resolved.path / sub)), **options)
            break
    else:
        adapter = resolve(str(resolved.path / "adapter"))
        loaded = _load_adapter(adapter, base=run_base(config), **options)
    if (config.get("data") or {}).get("format") != "chat":
        loaded.tokenizer.chat_template = None
    loaded.resolved = resolved
    loaded.load_seconds = time.time() - start
    return loaded


def _load_adapter(
    resolved: ResolvedModel, base: ResolvedModel | None = None, **options: Any
) -> LoadedLM:
    """A PEFT adapter folder: load its base model, then the adapter on top. The base comes
    from the run folder around it when there is one, else from adapter_config.json."""
    from .registry import resolve

    assert resolved.path is not None
    if base is None:
        run = read_run_config(resolved.path.parent)
        if run is not None:
            base = run_base(run)
    if base is None:
        config = json.loads((resolved.path / "adapter_config.json").read_text())
        base_name = config.get("base_model_name_or_path")
        if not base_name:
            raise ModelLoadError(f"adapter '{resolved.path}' does not name its base model")
        base = resolve(base_name, revision=config.get("revision"))
    with quiet_peft():
        try:
            from peft import PeftModel
        except ImportError as exc:
            from ..errors import missing_dependency

            raise missing_dependency("peft", "train") from exc
    start = time.time()
    loaded = load_causal_lm(base, **options)
    with quiet_peft():
        loaded.model = PeftModel.from_pretrained(loaded.model, resolved.path)
    loaded.model.eval()
    loaded.resolved = resolved
    loaded.load_seconds = time.time() - start
    return loaded


# ---------------------------------------------------------------- other modalities
def prepare_diffusers(
    resolved: ResolvedModel, *, variant: str | None = None, trust_pickle: bool = False
) -> tuple[Prepared, str | None]:
    """A local diffusers pipeline folder (downloaded from the Hub when needed) and the weights
    variant to load ('fp16' when the repo has it and fp16 was asked for, else None)."""
    if resolved.source == "hub":
        start = time.time()
        snap, variant = hub.download_diffusers(
            resolved.hub_id, resolved.revision, variant=variant, trust_pickle=trust_pickle
        )
        return Prepared(snap.path, snap.sha, seconds=time.time() - start), variant
    if resolved.format != "diffusers" or resolved.path is None:
        raise UnsupportedModelError(
            f"{resolved.label} is not a diffusers pipeline (no model_index.json)",
            hint="pass a folder saved with DiffusionPipeline.save_pretrained, or a Hub id",
        )
    check_local_weights(resolved.path, trust_pickle)
    names = [p.name for p in resolved.path.rglob("*.safetensors")]
    if variant and not any(hub.weight_variant(n) == variant for n in names):
        variant = None
    return Prepared(resolved.path, None), variant


def diffusers_quantization(quantize: str | None, device: str, components: list[str]):
    """A diffusers PipelineQuantizationConfig (bitsandbytes 8/4-bit) for the denoiser and the
    text encoders, or None. Same rules as text models: CUDA + bitsandbytes only."""
    bnb = quantization_config(quantize, device)  # validates the value, the device and the package
    if bnb is None:
        return None
    from diffusers.quantizers import PipelineQuantizationConfig

    targets = [
        c for c in components if c in ("unet", "transformer") or c.startswith("text_encoder")
    ]
    kwargs = (
        {"load_in_8bit": True}
        if quantize == "8bit"
        else {
            "load_in_4bit": True,
            "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_compute_dtype": bnb.bnb_4bit_compute_dtype,
        }
    )
    return PipelineQuantizationConfig(
        quant_backend=f"bitsandbytes_{quantize}",
        quant_kwargs=kwargs,
        components_to_quantize=targets,
    )


def load_failure(resolved: ResolvedModel, exc: BaseException, what: str, hint: str):
    """The error for a model that failed to load: custom code refused, or anything else."""
    if "trust_remote_code" in str(exc):
        return UnsupportedModelError(
            f"{resolved.label} needs custom code from its repository to load",
            hint="pass --trust-remote-code only if you trust the publisher",
        )
    return ModelLoadError(f"could not load {resolved.label} {what}: {first_line(exc)}", hint=hint)


_first_line = first_line  # the name train/data.py imports
