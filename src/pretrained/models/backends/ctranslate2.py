"""The CTranslate2 engine: Hugging Face causal LMs converted once to int8, run on the CPU.

The first use of a model converts it (`ct2-transformers-converter`'s converter, with
quantization) into the conversion cache, keyed by model id + revision (Hub commit, GGUF file
hash, or a hash of a local folder's weights) + quantization; later runs load the converted
folder in well under a second, without importing torch or transformers. Token handling and
chat templates come from the model's own tokenizer files (`FastTokenizer`), like the
llama.cpp engine. int8 weights make greedy outputs drift from the float32 transformers engine
after a while; `quantization="float32"` reproduces them (tests/models/test_fast_engines.py).
One semantic difference remains: CTranslate2's repetition penalty applies to generated tokens
only, transformers' to the prompt as well, so with --repetition-penalty ≠ 1 outputs differ
beyond quantization (`--engine llama.cpp` keeps transformers' semantics for GGUF files).

This module is also the one place that converts to CTranslate2 (`convert_folder`, used by the
cache and by `pretrained export --format ct2`) and opens a CTranslate2 folder (`open_model`,
used by this engine, by CT2 exports run through `pretrained generate --model EXPORT`, and by
the export parity checks and embedding exports in portable.py).
"""

from __future__ import annotations

import atexit
import contextlib
import re
import shutil
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..._util import first_line
from ...errors import ModelLoadError, UnsupportedModelError, missing_dependency
from ..registry import ModelFormat, ModelSource, ResolvedModel
from .base import (
    BackendOutput,
    Completion,
    SamplingParams,
    StopWatcher,
    StreamChunk,
    cancel_event,
    check_cancelled,
    worker_stream,
)
from .cpu_threads import cpu_threads
from .fast_tokenizer import TOKENIZER_FILES, FastTokenizer, IncrementalDecoder, TokenizerMethods

QUANTIZATION = "int8"
# CTranslate2 writes a config.json of its own; the original model's one is kept beside it under
# this name (the context length and architecture live there).
SOURCE_CONFIG = "source_config.json"
_backends: weakref.WeakSet[CTranslate2TextBackend] = weakref.WeakSet()
_retired: list[Any] = []  # generators unloaded on a foreign thread, destroyed at exit


@atexit.register
def _release_models() -> None:
    """Free the loaded generators before the interpreter finalizes: a Generator that ran
    generate_batch with a Python callback and is destroyed during interpreter shutdown aborts
    the process ('terminate called without an active exception') about half the time."""
    for backend in list(_backends):
        backend.generator = None
    _retired.clear()


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ctranslate2") is not None


# Prompts decoded in one generate_batch call may differ in length by at most this factor.
# Measured on the embedded SmolLM2 (int8, 2 cores): four summarization chunks of 1570, 1574,
# 1574 and 631 tokens took 93 s as one batch, 10.8 s for the first three, 18 s one by one —
# a short prompt padded to the longest one makes the whole batch crawl.
MAX_LENGTH_RATIO = 1.25


def length_groups(lengths: list[int], ratio: float = MAX_LENGTH_RATIO) -> list[list[int]]:
    """Indices grouped so that, within a group, the longest is at most `ratio` × the shortest
    (indices sorted by length; input order is restored by the caller)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and lengths[i] <= ratio * max(1, lengths[groups[-1][0]]):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


# Compute types worth trying on a CPU, fastest first where they work. int8_float32 is the same
# kernels as int8 on a CPU; float16 has no CPU kernels.
_CPU_COMPUTE_TYPES = ("int8", "int16", "int8_bfloat16", "bfloat16", "float32")


def cpu_compute_types() -> list[str]:
    """The compute types this CPU (and this CTranslate2 build) supports, from that list."""
    import ctranslate2

    supported = ctranslate2.get_supported_compute_types("cpu")
    return [ct for ct in _CPU_COMPUTE_TYPES if ct in supported]


def open_model(
    folder: Path,
    *,
    kind: str = "generate",
    compute_type: str = "default",
    threads: int | None = None,
):
    """A CTranslate2 folder in memory: a Generator (causal LMs) or an Encoder (embedders)."""
    import ctranslate2

    cls = ctranslate2.Generator if kind == "generate" else ctranslate2.Encoder
    try:
        return cls(
            str(folder),
            device="cpu",
            compute_type=compute_type,
            intra_threads=threads or cpu_threads(),
        )
    except RuntimeError as exc:  # a missing or deleted folder ('models cache clear'), bad files
        raise ModelLoadError(
            f"CTranslate2 could not load {folder}: {exc}",
            hint="load the model again (a cached conversion is rebuilt on the next load)",
        ) from exc


def convert_folder(source: Path, out: Path, quantization: str | None, *, label: str) -> None:
    """Convert a transformers folder (config + safetensors + tokenizer) into CTranslate2 files
    in `out` (replaced), with the tokenizer files copied alongside."""
    import ctranslate2

    from ..loading import quiet_transformers

    copy = [str(source / f) for f in TOKENIZER_FILES if (source / f).exists()]
    converter = ctranslate2.converters.TransformersConverter(
        str(source), copy_files=copy, low_cpu_mem_usage=True
    )
    try:
        with quiet_transformers(), contextlib.redirect_stdout(sys.stderr):
            converter.convert(str(out), quantization=quantization, force=True)
        shutil.copyfile(source / "config.json", out / SOURCE_CONFIG)
    except (ValueError, KeyError, AttributeError, NotImplementedError) as exc:
        # "No conversion is registered for the model configuration …", or a converter that
        # half-knows the architecture and trips over its config
        raise UnsupportedModelError(
            f"CTranslate2 cannot convert {label}: {first_line(exc)}",
            hint="use --engine transformers (or --engine auto, which falls back to it)",
        ) from exc


class CTranslate2TextBackend(TokenizerMethods):
    engine = "ctranslate2"

    def __init__(
        self,
        folder: Path,
        *,
        model_id: str,
        revision: str | None,
        quantization: str = QUANTIZATION,
        compute_type: str | None = None,
        threads: int | None = None,
    ) -> None:
        began = time.perf_counter()
        import ctranslate2

        start = time.perf_counter()
        self.import_seconds = start - began
        self.tokenizer = FastTokenizer(folder)
        self.model_id = model_id
        self.revision = revision
        self.device = "cpu"
        # what the matrix products run in: the stored weights are converted at load time
        self.dtype = compute_type if compute_type not in (None, "default") else quantization
        self.cache_hit = False
        self.folder = folder
        config = _read_config(folder / SOURCE_CONFIG) or _read_config(folder / "config.json")
        self.context_length = config.get("max_position_embeddings") or config.get("n_positions")
        self._ctranslate2 = ctranslate2
        self._open = {"compute_type": compute_type or quantization, "threads": threads}
        self.generator = open_model(folder, **self._open)
        self._lock = threading.Lock()
        _backends.add(self)
        self.load_seconds = time.perf_counter() - start

    def close(self) -> None:
        """Free the generator now. Measured: a backend dropped with its generator still set
        (its attributes freed in dict order) aborts the next Generator created in this
        process ('Resource deadlock avoided'); freeing the generator first does not.
        A generator must not be destroyed on one of CTranslate2's own threads (the garbage
        collector can run there, inside a decoding callback, and its thread pool would join
        itself): there, its weights are unloaded and the object is kept until exit."""
        generator, self.generator = getattr(self, "generator", None), None
        if generator is not None and isinstance(threading.current_thread(), threading._DummyThread):
            generator.unload_model()
            _retired.append(generator)

    def __del__(self) -> None:
        self.close()

    def _generator(self, params: SamplingParams):
        """The generator for one call. CTranslate2's sampling RNG lives in its worker threads
        and is seeded only when they start, so `set_random_seed` has no effect on a warm
        generator (OpenNMT/CTranslate2#1757): seeded sampling gets a fresh generator (a reload
        from the page cache; greedy decoding, the common case, reuses the loaded one)."""
        if params.greedy or params.seed is None:
            return self.generator
        self._ctranslate2.set_random_seed(params.seed)
        return open_model(self.folder, **self._open)

    def _options(self, params: SamplingParams) -> dict[str, Any]:
        options: dict[str, Any] = {
            "max_length": params.max_new_tokens,
            "include_prompt_in_result": False,
            "repetition_penalty": params.repetition_penalty,
            "end_token": self.tokenizer.eos_ids or None,
        }
        if params.greedy:
            options["sampling_topk"] = 1
        else:
            options.update(
                sampling_topk=params.top_k,
                sampling_topp=params.top_p,
                sampling_temperature=params.temperature,
            )
        return options

    def _completion(self, ids: list[int], stopped: bool, params: SamplingParams) -> Completion:
        """Decode one sequence; EOS is not in `ids` (CTranslate2 drops it), so count it."""
        text = self.tokenizer.decode(ids)
        watcher = StopWatcher(params.stop)
        text = watcher.feed(text) + watcher.flush()
        if watcher.stopped or stopped:
            return Completion(text, "stop", len(ids) + (0 if watcher.stopped else 1))
        return Completion(text, "length", len(ids))

    def generate(
        self, prompts: list[str], params: SamplingParams, *, add_special_tokens: bool = True
    ) -> list[BackendOutput]:
        check_cancelled()
        cancel = cancel_event()
        started = time.perf_counter()
        encoded = [self.tokenizer.encode(p, add_special_tokens) for p in prompts]
        n = params.num_return_sequences
        batch = [self.tokenizer.tokens(ids) for ids in encoded for _ in range(n)]
        first: list[float] = []
        texts: dict[int, IncrementalDecoder] = {}
        watchers = {i: StopWatcher(params.stop) for i in range(len(batch))}
        group: list[int] = []  # the batch indices of the call running now

        def callback(step) -> bool:  # True ends decoding (of that sequence)
            if not first:
                first.append(time.perf_counter() - started)
            if cancel is not None and cancel.is_set():
                return True
            if not params.stop:
                return False
            i = group[step.batch_id]
            decoder = texts.setdefault(i, IncrementalDecoder(self.tokenizer))
            watchers[i].feed(decoder.push(step.token_id))
            return watchers[i].stopped

        with self._lock:
            generator = self._generator(params)
        results: list[Any] = [None] * len(batch)
        for indices in length_groups([len(b) for b in batch]):
            group[:] = indices
            done = generator.generate_batch(
                [batch[i] for i in indices], callback=callback, **self._options(params)
            )
            for i, result in zip(indices, done, strict=True):
                results[i] = result
            if cancel is not None and cancel.is_set():
                break
        check_cancelled()
        seconds = time.perf_counter() - started
        outputs = []
        for i in range(len(prompts)):
            completions = []
            for j in range(n):
                ids = results[i * n + j].sequences_ids[0]
                completions.append(self._completion(ids, len(ids) < params.max_new_tokens, params))
            outputs.append(
                BackendOutput(len(encoded[i]), completions, first[0] if first else None, seconds)
            )
        return outputs

    def stream(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        add_special_tokens: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamChunk]:
        """generate_batch in a worker thread, its step callback feeding the stream: returning
        True from the callback ends decoding cleanly (an abandoned generate_tokens iterator
        whose generator is garbage-collected mid-decoding aborts the process)."""
        cancel = cancel or threading.Event()
        started = time.perf_counter()
        ids = self.tokenizer.encode(prompt, add_special_tokens)

        def work(put) -> None:
            def callback(step) -> bool:
                put(step.token_id)
                return cancel.is_set()

            with self._lock:
                generator = self._generator(params)
            generator.generate_batch(
                [self.tokenizer.tokens(ids)], callback=callback, **self._options(params)
            )

        decoder = IncrementalDecoder(self.tokenizer)
        watcher = StopWatcher(params.stop)
        first: float | None = None
        count = 0
        finish = "length"
        with contextlib.closing(worker_stream(work, cancel, {})) as tokens:
            for token in tokens:
                if finish == "stop":
                    continue  # drain what the worker produced before it saw the stop
                if cancel.is_set():  # cancelled by the caller
                    finish = "stop"
                    continue
                count += 1
                if token in self.tokenizer.eos_ids:
                    finish = "stop"
                    continue
                piece = watcher.feed(decoder.push(token))
                if piece:
                    if first is None:
                        first = time.perf_counter() - started
                    yield StreamChunk(text=piece)
                if watcher.stopped:
                    finish = "stop"
                    cancel.set()
        if finish == "length":
            tail = watcher.flush()
            if tail:
                yield StreamChunk(text=tail)
        yield StreamChunk(
            done=True,
            finish_reason=finish,
            prompt_tokens=len(ids),
            completion_tokens=count,
            first_token_s=first,
        )


# ---------------------------------------------------------------- conversion (cached)
def _read_config(path: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "--", text).strip("-")[-60:]


def _folder_fingerprint(folder: Path) -> str:
    """A revision for a local folder: the hash of its config and weight files."""
    import hashlib

    from ..loading import file_sha256

    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and (
            path.suffix in (".safetensors", ".bin") or path.name == "config.json"
        ):
            digest.update(f"{path.name}:{file_sha256(path)}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def convert(resolved: ResolvedModel, quantization: str = QUANTIZATION, **options: Any):
    """→ Prepared: the converted CTranslate2 folder for this model, from the cache when there.

    Key: model id + revision (Hub commit / GGUF file hash / local weights hash) + quantization."""
    from ..loading import cached_build, prepare
    from .seq2seq import is_encoder_decoder

    source = prepare(resolved, trust_pickle=options.get("trust_pickle", False))
    if is_encoder_decoder(source.path):
        raise UnsupportedModelError(
            f"the ctranslate2 engine runs causal LMs; {resolved.label} is an encoder-decoder model",
            hint="use --engine transformers (or --engine auto, which picks it)",
        )
    if not (source.path / "tokenizer.json").exists():
        raise UnsupportedModelError(
            f"{resolved.label} has no tokenizer.json, which the fast engines need",
            hint="use --engine transformers for models with only a slow (sentencepiece) tokenizer",
        )
    revision = source.revision or _folder_fingerprint(source.path)
    digest = revision.split(":")[-1][:16]
    name = f"ct2-{_slug(resolved.id)}-{digest}-{quantization}"
    meta = {
        "kind": "ctranslate2",
        "model": resolved.id,
        "revision": revision,
        "quantization": quantization,
        "source": str(source.path),
    }

    def build(tmp: Path) -> None:
        print(
            f"converting {resolved.label} to CTranslate2 {quantization} once "
            "(cached for next time)…",
            file=sys.stderr,
        )
        convert_folder(source.path, tmp, quantization, label=resolved.label)

    return cached_build(name, build, meta, revision)


def load_text_backend(
    resolved: ResolvedModel, *, compute_type: str | None = None, **options: Any
) -> CTranslate2TextBackend:
    """`compute_type`: what the calibration chose on this CPU (models/calibrate.py); the weights
    are stored in int8 once and converted at load time (float32 reproduces the int8 weights
    without 8-bit activations: the fallback where the int8 kernels are wrong on a CPU)."""
    if not available():
        raise missing_dependency("ctranslate2", "fast")
    if resolved.format == ModelFormat.CTRANSLATE2 and resolved.source == ModelSource.LOCAL:
        return _load_export(resolved)
    if resolved.format not in (ModelFormat.TRANSFORMERS, ModelFormat.GGUF):
        raise UnsupportedModelError(
            f"the ctranslate2 engine runs causal LMs; {resolved.label} is a {resolved.format} model",
            hint="use --engine transformers",
        )
    prepared = convert(resolved, **{k: v for k, v in options.items() if k == "trust_pickle"})
    backend = CTranslate2TextBackend(
        prepared.path,
        model_id=resolved.alias or resolved.id,
        revision=prepared.revision,
        compute_type=compute_type,
    )
    backend.cache_hit = prepared.cache_hit
    backend.load_seconds += prepared.seconds
    return backend


def _load_export(resolved: ResolvedModel) -> CTranslate2TextBackend:
    """A folder written by `pretrained export --format ct2` (its export.json says what it is)."""
    from .exports import read_export

    assert resolved.path is not None
    info = read_export(resolved.path)
    if info.get("kind", "generate") != "generate":
        raise UnsupportedModelError(
            f"{resolved.label} is a {info.get('kind')} export, not a text generator",
            hint="export a causal language model for generation",
        )
    quantize = info.get("quantize")
    return CTranslate2TextBackend(
        resolved.path,
        model_id=str(resolved.path),
        revision=info.get("source_revision"),
        quantization=quantize or "float32",
        compute_type="int8" if quantize == "int8" else "default",
    )
