"""The llama.cpp engine: GGUF files run as they are (no conversion), through `xllamacpp`.

Why this binding: llama-cpp-python ships only a source distribution on PyPI (14 CPU-minutes
of compiling llama.cpp at install time, measured); xllamacpp ships prebuilt CPU wheels
(installs in seconds) and exposes llama.cpp's own server loop in-process, which decodes the
prompts (or the `num_return_sequences` samples) of one request as one batch. See
docs/performance.md for the measurements behind the choice.

Parity with the transformers engine, by construction:
- prompts are tokenized by the model's Hugging Face tokenizer (`FastTokenizer`) and sent as
  token ids, so both engines see the same prompt tokens;
- chat templates are rendered by the same Jinja rules (`FastTokenizer.render_chat`);
- sampling is the transformers order (repetition penalty over prompt + output, temperature,
  top-k, top-p; no min-p), greedy when temperature is 0;
- stop sequences, finish reasons and token counts go through the helpers in base.py.
Outputs still differ where the weights differ: llama.cpp computes with the GGUF's quantized
weights (e.g. Q4_1) and 8-bit activations, transformers with the dequantized float32 copy.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import settings
from ...errors import ModelLoadError, UnsupportedModelError, missing_dependency
from ..registry import ModelFormat, ResolvedModel
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
from .cpu_threads import free_cpu_threads, watch_free_cpus
from .fast_tokenizer import FastTokenizer, TokenizerMethods

# Requests decoded together (llama.cpp server "slots"); larger batches queue.
PARALLEL = 8
# Context per sequence, capped so the shared KV cache stays small on laptops (and quick to
# allocate: it is part of every cold start).
MAX_CONTEXT = 4096
# One-shot processes (`pretrained generate …`: one request, then exit) start llama.cpp on the
# first request, sized to it — context rounded up to CONTEXT_STEP tokens (at least
# MIN_CONTEXT), as many slots as it has sequences — instead of MAX_CONTEXT × PARALLEL up front;
# a later, larger request starts it again at the larger size. Set by the CLI (one_shot()); a
# server, a REPL or the Python API keep the full size from the start.
MIN_CONTEXT, CONTEXT_STEP = 512, 256
_ONE_SHOT = False


def one_shot(enabled: bool = True) -> None:
    """Size llama.cpp to each request in this process (see _ONE_SHOT): for CLI commands that
    make one request and exit."""
    global _ONE_SHOT
    _ONE_SHOT = enabled


# The transformers warper order: penalty, temperature, top-k, top-p (llama.cpp's default
# order applies top-p before temperature and adds min-p 0.05).
_SAMPLERS = ["penalties", "temperature", "top_k", "top_p"]


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("xllamacpp") is not None


# GGUF value types (gguf spec): fixed sizes for scalars; 8 = string, 9 = array
_GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_FORMATS = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}


def gguf_scalars(
    path: Path, until: Callable[[dict[str, Any]], str] | None = None
) -> dict[str, Any]:
    """The scalar metadata of a GGUF file (strings and numbers; arrays such as the vocabulary
    are skipped, not parsed). gguf's GGUFReader builds an object per vocabulary entry, which
    takes seconds — the whole cold-start budget — for a value read on every start. With
    `until`, reading stops once the key `until(values so far)` names has been read."""
    import struct

    def read(fmt: str):
        return struct.unpack("<" + fmt, fh.read(struct.calcsize(fmt)))[0]

    def string() -> str:
        return fh.read(read("Q")).decode("utf-8", "replace")

    def skip(kind: int) -> None:
        if kind == 8:
            fh.seek(read("Q"), 1)
        elif kind == 9:
            item, count = read("I"), read("Q")
            if item in _GGUF_SIZES:
                fh.seek(_GGUF_SIZES[item] * count, 1)
            else:
                for _ in range(count):
                    skip(item)
        else:
            fh.seek(_GGUF_SIZES[kind], 1)

    out: dict[str, Any] = {}
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ModelLoadError(f"'{path.name}' is not a GGUF file (bad magic number)")
        read("I")  # version
        read("Q")  # tensor count
        for _ in range(read("Q")):
            key, kind = string(), read("I")
            if kind == 8:
                out[key] = string()
            elif kind in _GGUF_FORMATS:
                out[key] = read(_GGUF_FORMATS[kind])
            else:
                skip(kind)
            if until is not None and until(out) in out:
                break
    return out


def gguf_context_length(path: Path) -> int | None:
    """The trained context length, from the GGUF header (read up to that key: the vocabulary
    arrays after it take ≈ 0.1 s to skip, on every start)."""
    meta = gguf_scalars(path, until=lambda m: f"{m.get('general.architecture')}.context_length")
    value = meta.get(f"{meta.get('general.architecture')}.context_length")
    return int(value) if value else None


@dataclass
class _Run:
    """One sequence being generated: what the callback accumulates."""

    text: str = ""
    tokens: int = 0
    ids: list[int] = field(default_factory=list)  # the generated token ids (EOS included)
    chunks: int = 0  # streamed chunks received (one per token)
    finish: str | None = None
    first: float | None = None
    error: str | None = None
    logprobs: list[dict[str, Any]] = field(default_factory=list)  # llama.cpp's entries


class LlamaCppTextBackend(TokenizerMethods):
    engine = "llama.cpp"
    constrains = True  # grammars (llguidance, built into llama.cpp) and logprobs

    def __init__(
        self,
        gguf_path: Path,
        tokenizer: FastTokenizer,
        *,
        model_id: str,
        revision: str | None,
        threads: int | None = None,
        parallel: int = PARALLEL,
    ) -> None:
        began = time.perf_counter()
        import xllamacpp

        start = time.perf_counter()
        self.import_seconds = start - began
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.revision = revision
        self.device = "cpu"
        self.dtype = quant_name(gguf_path)
        self.gguf_path = gguf_path
        self.parallel = parallel
        self.cache_hit = False
        trained = gguf_context_length(gguf_path) or 2048
        self.context_length = min(trained, MAX_CONTEXT)
        self.threads = threads or free_cpu_threads()
        self._xllamacpp = xllamacpp
        self.server: Any = None
        self.size = (0, 0)  # (context, slots) of the running server
        self._sizing = threading.Lock()
        if not _ONE_SHOT:  # started now, at full size: a server's requests come in parallel
            self._start(self.context_length, parallel)
        self.load_seconds = time.perf_counter() - start

    def _start(self, context: int, slots: int) -> None:
        """(Re)start llama.cpp's in-process server with `context` tokens shared by `slots`."""
        params = self._xllamacpp.CommonParams()
        params.model.path = str(self.gguf_path)
        params.n_ctx = context
        params.n_parallel = slots
        params.kv_unified = True  # every slot may use the whole context, the cache is shared
        params.n_batch = 512
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.n_gpu_layers = 0
        params.warmup = False
        params.cache_ram_mib = 0
        params.api_keys = [secrets.token_hex(16)]  # the in-process server's port answers no one
        params.verbosity = 4 if settings.debug() else -1
        self.server = None  # the old one's memory goes before the new one takes its own
        began = time.perf_counter()
        try:
            self.server = self._xllamacpp.Server(params)
        except Exception as exc:  # xllamacpp raises RuntimeError with llama.cpp's reason
            self.size = (0, 0)
            raise ModelLoadError(
                f"llama.cpp could not load {self.gguf_path.name}: {exc}",
                hint="try --engine transformers",
            ) from exc
        self.size = (context, slots)
        if getattr(self, "load_seconds", None) is not None:  # started after load: part of it
            self.load_seconds += time.perf_counter() - began

    def start(self) -> None:
        """Start the full-size server now (MAX_CONTEXT × PARALLEL), even in a one-shot
        process: for work that sends many requests of many sizes (the calibration)."""
        if self.size != (self.context_length, self.parallel):
            self._start(self.context_length, self.parallel)

    def _fit(self, prompts: list[list[int]], params: SamplingParams) -> None:
        """A server big enough for this request. One-shot: started (or restarted larger) at
        the request's size. Otherwise the full-size one (started at load, or now for a backend
        made in a one-shot call that outlived it). A request beyond context_length is
        llama.cpp's to refuse (a one-line error, see _request)."""
        if self.size == (self.context_length, self.parallel):
            return  # full size already (not one-shot, or started by start())
        with self._sizing:
            if not _ONE_SHOT:
                self.start()
                return
            sequences = len(prompts) * params.num_return_sequences
            need = sum(len(p) for p in prompts) * params.num_return_sequences
            need += sequences * params.max_new_tokens
            context = max(MIN_CONTEXT, -(-need // CONTEXT_STEP) * CONTEXT_STEP)
            context = min(context, self.context_length)
            slots = min(self.parallel, sequences)
            if self.server is None or context > self.size[0] or slots > self.size[1]:
                self._start(max(context, self.size[0]), max(slots, self.size[1]))

    # ------------------------------------------------------------ one request
    def _body(self, prompts: list[list[int]], params: SamplingParams, ids: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": prompts if len(prompts) > 1 else prompts[0],
            "n": params.num_return_sequences,
            "max_tokens": params.max_new_tokens,
            "stream": True,
            # a reused prompt prefix is evaluated in a different batch shape, which moves
            # logits enough to flip near-ties: off, so the same call gives the same tokens
            "cache_prompt": False,
            "samplers": _SAMPLERS,
            "min_p": 0.0,
            "repeat_penalty": params.repetition_penalty,
            "repeat_last_n": self.context_length,
        }
        if ids:  # each token's id comes with its probability: costs a vocabulary sort per token
            body["logprobs"] = 1
        structured_body(body, params)
        if params.greedy:
            body.update(temperature=0.0, top_k=1)
        else:
            body.update(
                temperature=params.temperature,
                top_k=params.top_k,
                top_p=params.top_p,
                seed=params.seed % 2**32 if params.seed is not None else 0xFFFFFFFF,
            )
        return body

    def _request(
        self,
        prompts: list[list[int]],
        params: SamplingParams,
        started: float,
        on_text: Callable[[str], Any] | None = None,
        cancel: threading.Event | None = None,
        ids: bool = False,
    ) -> list[_Run]:
        """One llama.cpp request for several prompts (or one prompt × n sequences): all its
        sequences start in the same decoding step, so the batch — and the result — is the
        same every time. Returns one _Run per choice index (prompt i, or sequence j); with
        `ids`, each run also has its token ids (the parity tests use them)."""
        self._fit(prompts, params)
        count = len(prompts) * params.num_return_sequences
        runs = [_Run() for _ in range(count)]
        watchers = [StopWatcher(params.stop) for _ in range(count)]
        failure: list[str] = []

        def callback(chunk: dict[str, Any] | None) -> bool:
            if chunk is None:
                return False
            if "choices" not in chunk:
                error = chunk.get("error", chunk)
                failure.append(
                    error.get("message", str(error)) if isinstance(error, dict) else str(error)
                )
                return True
            usage = chunk.get("usage") or {}
            if count == 1 and "completion_tokens" in usage:
                runs[0].tokens = usage["completion_tokens"]  # EOS included
            for choice in chunk["choices"]:
                run, watcher = runs[choice.get("index", 0)], watchers[choice.get("index", 0)]
                if run.finish is not None:
                    continue  # stopped by a stop sequence; its batch-mates go on
                content = (choice.get("logprobs") or {}).get("content") or []
                run.ids.extend(item["id"] for item in content)
                if params.logprobs is not None:
                    run.logprobs.extend(content)
                delta = choice.get("text") or ""
                if delta:
                    if run.first is None:
                        run.first = time.perf_counter() - started
                    shown = watcher.feed(delta)
                    run.text += shown
                    if on_text is not None and shown:
                        on_text(shown)
                    if watcher.stopped:
                        run.finish = "stop"
                        continue
                if choice.get("finish_reason") is None:
                    run.chunks += 1  # one streamed chunk per token
                reason = choice.get("finish_reason")
                if reason:
                    tail = watcher.flush()
                    run.text += tail
                    if on_text is not None and tail:
                        on_text(tail)
                    run.finish = "length" if reason == "length" else "stop"
            return all(r.finish for r in runs) or bool(cancel is not None and cancel.is_set())

        body = self._body(prompts, params, ids)
        if on_text is None and cancel is None and not params.stop:
            # nothing to watch token by token: one reply at the end (no per-token callbacks)
            body["stream"] = False
            reply = self.server.handle_completions(body)
            callback(reply)
            prompt_ms = (reply.get("timings") or {}).get("prompt_ms")
            if prompt_ms is not None:  # the first token comes right after the prompt
                for run in runs:
                    run.first = prompt_ms / 1000
        else:
            self.server.handle_completions(body, callback)
        if failure:
            raise ModelLoadError(
                f"llama.cpp failed: {failure[0]}", hint="try --engine transformers"
            )
        for run in runs:
            run.finish = run.finish or "stop"  # cancelled by the caller
            # completion tokens, EOS included as the transformers engine counts it: exact
            # from the ids or llama.cpp's usage (one sequence); streamed chunks (one per
            # token) when cut short; else the text re-tokenized (a batched, non-streamed reply
            # has one usage for all sequences)
            if ids:
                run.tokens = len(run.ids)
            elif not run.tokens or count > 1:
                if run.chunks:
                    run.tokens = run.chunks
                else:
                    eos = run.finish == "stop" and not params.stop
                    run.tokens = len(self.tokenizer.encode(run.text, False)) + int(eos)
        return runs

    def _chunks(self, encoded: list[list[int]], new_tokens: int) -> Iterator[list[list[int]]]:
        """Prompts grouped into requests of at most `parallel` sequences whose prompts plus new
        tokens fit the shared KV cache together."""
        chunk: list[list[int]] = []
        used = 0
        for ids in encoded:
            need = len(ids) + new_tokens
            if chunk and (len(chunk) == self.parallel or used + need > self.context_length):
                yield chunk
                chunk, used = [], 0
            chunk.append(ids)
            used += need
        if chunk:
            yield chunk

    # ------------------------------------------------------------ the protocol
    def generate(
        self, prompts: list[str], params: SamplingParams, *, add_special_tokens: bool = True
    ) -> list[BackendOutput]:
        check_cancelled()
        cancel = cancel_event()  # None: one reply per request, no per-token callbacks
        started = time.perf_counter()
        encoded = [self.tokenizer.encode(p, add_special_tokens) for p in prompts]
        n = params.num_return_sequences
        runs: list[_Run] = []
        if n == 1:
            for chunk in self._chunks(encoded, params.max_new_tokens):
                runs += self._request(chunk, params, started, cancel=cancel)
                check_cancelled()
        else:  # n sequences of one prompt per request (llama.cpp seeds them seed, seed+1 …)
            for ids in encoded:
                runs += self._request([ids], params, started, cancel=cancel)
                check_cancelled()
        seconds = time.perf_counter() - started
        firsts = [r.first for r in runs if r.first is not None]
        return [
            BackendOutput(
                prompt_tokens=len(encoded[i]),
                completions=[
                    Completion(r.text, r.finish or "stop", r.tokens, self._logprobs(r, params))
                    for r in runs[i * n : (i + 1) * n]
                ],
                first_token_s=min(firsts) if firsts else None,
                seconds=seconds,
            )
            for i in range(len(prompts))
        ]

    def stream(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        add_special_tokens: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamChunk]:
        cancel = cancel or threading.Event()
        started = time.perf_counter()
        ids = self.tokenizer.encode(prompt, add_special_tokens)
        result: dict[str, Any] = {}

        def work(put) -> _Run:
            return self._request([ids], params, started, put, cancel)[0]

        with contextlib.closing(worker_stream(work, cancel, result)) as pieces:
            for piece in pieces:
                yield StreamChunk(text=piece)
        run: _Run = result["result"]
        yield StreamChunk(
            done=True,
            finish_reason=run.finish,
            prompt_tokens=len(ids),
            completion_tokens=run.tokens,
            first_token_s=run.first,
            extra={"logprobs": self._logprobs(run, params)} if params.logprobs is not None else {},
        )

    def _logprobs(self, run: _Run, params: SamplingParams) -> list[dict[str, Any]] | None:
        if params.logprobs is None:
            return None
        eos = set(self.tokenizer.eos_ids)
        return openai_logprobs(
            [item for item in run.logprobs if item.get("id") not in eos and item.get("bytes")],
            params.logprobs,
        )


def structured_body(body: dict[str, Any], params: SamplingParams) -> None:
    """The request fields of a constraint and of logprobs: llama.cpp runs llguidance grammars
    itself (a grammar text starting with `%llguidance`; models/structured makes the grammar)."""
    if params.grammar:
        body["grammar"] = "%llguidance {}\n" + params.grammar
    if params.logprobs is not None:
        body["logprobs"] = max(1, params.logprobs, body.get("logprobs", 0))


def openai_logprobs(items: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """llama.cpp's per-token entries in OpenAI's shape, `top` alternatives each."""
    return [
        {
            "token": item.get("token", ""),
            "logprob": item.get("logprob", 0.0),
            "bytes": item.get("bytes"),
            "top_logprobs": [
                {"token": a.get("token", ""), "logprob": a.get("logprob"), "bytes": a.get("bytes")}
                for a in (item.get("top_logprobs") or [])[:top]
            ],
        }
        for item in items
    ]


def quant_name(path: Path) -> str:
    """'Q4_1' from 'SmolLM2-135M-Instruct.Q4_1.gguf' (what the file name says), else 'gguf'."""
    import re

    match = re.search(
        r"(?:^|[.\-_])((?:I?Q\d+_[A-Z0-9_]+)|Q\d+|F16|F32|BF16)(?=\.gguf$)", path.name, re.I
    )
    return f"gguf {match.group(1).upper()}" if match else "gguf"


def load_text_backend(resolved: ResolvedModel, **options: Any) -> LlamaCppTextBackend:
    from ..loading import gguf_path, gguf_tokenizer_dir

    if not available():
        raise missing_dependency("xllamacpp", "fast")
    if resolved.format != ModelFormat.GGUF:
        raise UnsupportedModelError(
            f"the llama.cpp engine runs GGUF files; {resolved.label} is a {resolved.format} model",
            hint="use --engine auto (it picks an engine that fits) or --engine transformers",
        )
    free_cpus = watch_free_cpus()
    path = gguf_path(resolved)
    prepared = gguf_tokenizer_dir(path)
    tokenizer = FastTokenizer(prepared.path)
    backend = LlamaCppTextBackend(
        path,
        tokenizer,
        model_id=resolved.alias or resolved.id,
        revision=prepared.revision,
        threads=free_cpus(),
    )
    backend.cache_hit = prepared.cache_hit
    return backend
