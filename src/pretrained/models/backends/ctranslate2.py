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
beyond quantization (which is why `--engine auto` prefers llama.cpp for GGUF files).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...errors import ModelLoadError, UnsupportedModelError, missing_dependency
from ..registry import ResolvedModel
from .base import BackendOutput, Completion, SamplingParams, StopWatcher, StreamChunk
from .fast_tokenizer import FastTokenizer, IncrementalDecoder, TokenizerMethods
from .llamacpp import cpu_threads

QUANTIZATION = "int8"
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
)


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ctranslate2") is not None


class CTranslate2TextBackend(TokenizerMethods):
    engine = "ctranslate2"

    def __init__(
        self,
        folder: Path,
        *,
        model_id: str,
        revision: str | None,
        quantization: str = QUANTIZATION,
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
        self.dtype = quantization
        self.cache_hit = False
        self.folder = folder
        config = _read_config(folder)
        self.context_length = config.get("max_position_embeddings") or config.get("n_positions")
        self._ctranslate2 = ctranslate2
        self._generator_options = {
            "device": "cpu",
            "compute_type": quantization,
            "intra_threads": threads or cpu_threads(),
        }
        self.generator = ctranslate2.Generator(str(folder), **self._generator_options)
        self._lock = threading.Lock()
        self.load_seconds = time.perf_counter() - start

    def _generator(self, params: SamplingParams):
        """The generator for one call. CTranslate2's sampling RNG lives in its worker threads
        and is seeded only when they start, so `set_random_seed` has no effect on a warm
        generator (OpenNMT/CTranslate2#1757): seeded sampling gets a fresh generator (a reload
        from the page cache; greedy decoding, the common case, reuses the loaded one)."""
        if params.greedy or params.seed is None:
            return self.generator
        self._ctranslate2.set_random_seed(params.seed)
        try:
            return self._ctranslate2.Generator(str(self.folder), **self._generator_options)
        except RuntimeError as exc:  # the folder was deleted ('models cache clear')
            raise ModelLoadError(
                f"the converted model at {self.folder} is gone: {exc}",
                hint="load the model again (pretrained.load) to convert it again",
            ) from exc

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
        started = time.perf_counter()
        encoded = [self.tokenizer.encode(p, add_special_tokens) for p in prompts]
        n = params.num_return_sequences
        batch = [self.tokenizer.tokens(ids) for ids in encoded for _ in range(n)]
        first: list[float] = []
        texts: dict[int, IncrementalDecoder] = {}
        watchers = {i: StopWatcher(params.stop) for i in range(len(batch))}

        def callback(step) -> bool:
            if not first:
                first.append(time.perf_counter() - started)
            if not params.stop:
                return False
            decoder = texts.setdefault(step.batch_id, IncrementalDecoder(self.tokenizer))
            watchers[step.batch_id].feed(decoder.push(step.token_id))
            return watchers[step.batch_id].stopped

        with self._lock:
            generator = self._generator(params)
        results = generator.generate_batch(batch, callback=callback, **self._options(params))
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
        """generate_batch in a worker thread, its step callback feeding a queue: returning True
        from the callback ends decoding cleanly (an abandoned generate_tokens iterator whose
        generator is garbage-collected mid-decoding aborts the process)."""
        import queue

        cancel = cancel or threading.Event()
        started = time.perf_counter()
        ids = self.tokenizer.encode(prompt, add_special_tokens)
        steps: queue.Queue[Any] = queue.Queue()
        done = object()
        result: dict[str, Any] = {}

        def callback(step) -> bool:
            steps.put(step.token_id)
            return cancel.is_set()

        def work() -> None:
            try:
                with self._lock:
                    generator = self._generator(params)
                generator.generate_batch(
                    [self.tokenizer.tokens(ids)], callback=callback, **self._options(params)
                )
            except BaseException as exc:  # surfaced in the consuming thread
                result["error"] = exc
            finally:
                steps.put(done)

        decoder = IncrementalDecoder(self.tokenizer)
        watcher = StopWatcher(params.stop)
        first: float | None = None
        count = 0
        finish = "length"
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            while (token := steps.get()) is not done:
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
        finally:
            cancel.set()
            thread.join()
        if "error" in result:
            raise result["error"]
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
def _read_config(folder: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads((folder / "config.json").read_text())
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

    source = prepare(resolved, trust_pickle=options.get("trust_pickle", False))
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
        import ctranslate2

        from ..loading import quiet_transformers

        copy = [str(source.path / f) for f in _TOKENIZER_FILES if (source.path / f).exists()]
        converter = ctranslate2.converters.TransformersConverter(
            str(source.path), copy_files=copy, low_cpu_mem_usage=True
        )
        try:
            with quiet_transformers():
                converter.convert(str(tmp), quantization=quantization, force=True)
        except ValueError as exc:  # "No conversion is registered for the model configuration …"
            raise UnsupportedModelError(
                f"CTranslate2 cannot convert {resolved.label}: {str(exc).splitlines()[0]}",
                hint="use --engine transformers (or --engine auto, which falls back to it)",
            ) from exc

    return cached_build(name, build, meta, revision)


def load_text_backend(resolved: ResolvedModel, **options: Any) -> CTranslate2TextBackend:
    if not available():
        raise missing_dependency("ctranslate2", "fast")
    if resolved.format not in ("transformers", "gguf"):
        raise UnsupportedModelError(
            f"the ctranslate2 engine runs causal LMs; {resolved.label} is a {resolved.format} model",
            hint="use --engine transformers",
        )
    prepared = convert(resolved, **{k: v for k, v in options.items() if k == "trust_pickle"})
    try:
        backend = CTranslate2TextBackend(
            prepared.path, model_id=resolved.alias or resolved.id, revision=prepared.revision
        )
    except RuntimeError as exc:
        raise ModelLoadError(f"CTranslate2 could not load {resolved.label}: {exc}") from exc
    backend.cache_hit = prepared.cache_hit
    backend.load_seconds += prepared.seconds
    return backend
