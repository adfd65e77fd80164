"""The transformers engine: any causal LM, any device, the reference for every other engine."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..loading import LoadedLM
from ..registry import ModelFormat
from .base import (
    BackendOutput,
    Completion,
    HFTokenizerChat,
    SamplingParams,
    StopWatcher,
    StreamChunk,
    cancel_event,
    check_cancelled,
    cut_at_stop,
)
from .stopping import stop_when


class _FirstTokenTimer:
    """A generate() streamer that only notes when the first new token arrives.
    generate() calls put() once with the prompt, then once per decoding step."""

    def __init__(self) -> None:
        self.calls = 0
        self.first: float | None = None

    def put(self, value: Any) -> None:
        self.calls += 1
        if self.calls == 2 and self.first is None:
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


class TransformersTextBackend(HFTokenizerChat):
    engine = "transformers"
    constrains = True  # grammars through a logits processor (models/structured), logprobs

    def __init__(self, loaded: LoadedLM) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.model_id = loaded.resolved.alias or loaded.resolved.id
        self.revision = loaded.revision
        self.device = loaded.device
        self.dtype = loaded.dtype
        self.load_seconds = loaded.load_seconds
        self.import_seconds = loaded.import_seconds
        self.cache_hit = loaded.cache_hit
        config = self.model.config
        self.context_length = getattr(config, "max_position_embeddings", None) or getattr(
            config, "n_positions", None
        )
        tok = self.tokenizer
        if tok.pad_token_id is None:
            # GPT-2 and friends have no pad token. For generation, padding is masked out by the
            # attention mask, so reusing EOS as pad is safe here (not for training labels).
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"  # decoder-only batches must be left-padded
        self._eos_ids = self._collect_eos_ids()

    # ------------------------------------------------------------ chat / tokens
    def _collect_eos_ids(self) -> list[int]:
        ids: list[int] = []
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        for value in (gen_eos if isinstance(gen_eos, list) else [gen_eos]) + [
            self.tokenizer.eos_token_id
        ]:
            if value is not None and value not in ids:
                ids.append(int(value))
        return ids

    # ------------------------------------------------------------ generation
    def _generation_kwargs(self, params: SamplingParams) -> dict[str, Any]:
        from transformers import GenerationConfig

        config: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "num_return_sequences": params.num_return_sequences,
            "repetition_penalty": params.repetition_penalty,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self._eos_ids or None,
            "bos_token_id": getattr(self.model.generation_config, "bos_token_id", None),
        }
        if params.logprobs is not None:  # the raw logits of every step, kept only when asked
            config.update(output_logits=True, return_dict_in_generate=True)
        if params.greedy:
            config.update(do_sample=False)
        else:
            config.update(
                do_sample=True,
                temperature=params.temperature,
                top_k=params.top_k,
                top_p=params.top_p,
            )
        kwargs: dict[str, Any] = {"generation_config": GenerationConfig(**config)}
        if params.stop:
            kwargs["generation_config"].stop_strings = list(params.stop)
            kwargs["tokenizer"] = self.tokenizer
        return kwargs

    def _structured_kwargs(self, params: SamplingParams, rows: int) -> dict[str, Any]:
        """generate() arguments of a constraint: a grammar mask per batch row."""
        from transformers import LogitsProcessorList

        extra: dict[str, Any] = {}
        if params.grammar:
            from ..structured.masking import logits_processor

            mask = logits_processor(self.tokenizer, params.grammar, rows)
            extra["logits_processor"] = LogitsProcessorList([mask])
        return extra

    def _logprobs(self, out: Any, row: int, count: int, params: SamplingParams):
        if params.logprobs is None:
            return None
        from ..structured.masking import step_logprobs

        ids = out.sequences[row, out.sequences.shape[1] - len(out.logits) :].tolist()
        ids = [t for t in ids[:count] if t not in self._eos_ids]
        return step_logprobs(out.logits, row, ids, params.logprobs, self.tokenizer)

    def _seed(self, params: SamplingParams) -> None:
        if params.seed is not None:
            import torch

            torch.manual_seed(params.seed)

    def _encode(self, prompts: list[str], add_special_tokens: bool):
        enc = self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=add_special_tokens
        )
        return {
            k: v.to(self.model.device)
            for k, v in enc.items()
            if k in ("input_ids", "attention_mask")
        }

    def _completion(
        self, new_ids: list[int], params: SamplingParams, out: Any = None, row: int = 0
    ) -> Completion:
        """Cut one generated sequence at EOS, decode it, and cut at stop sequences."""
        finish = "length"
        count = len(new_ids)
        for i, token in enumerate(new_ids):
            if token in self._eos_ids:
                new_ids, count, finish = new_ids[:i], i + 1, "stop"
                break
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        text, hit = cut_at_stop(text, params.stop)
        if hit:
            finish = "stop"
        logprobs = self._logprobs(out, row, count, params) if out is not None else None
        return Completion(text, finish, count, logprobs)

    def generate(
        self, prompts: list[str], params: SamplingParams, *, add_special_tokens: bool = True
    ) -> list[BackendOutput]:
        import torch

        check_cancelled()
        cancel = cancel_event()
        start = time.perf_counter()
        self._seed(params)
        n = params.num_return_sequences
        batch = prompts
        if params.greedy and n > 1:
            # transformers refuses num_return_sequences > 1 without sampling; n greedy copies
            # of each prompt give the same rows (prompt i, sequence j at i * n + j)
            batch = [p for p in prompts for _ in range(n)]
            params = dataclasses.replace(params, num_return_sequences=1)
        inputs = self._encode(batch, add_special_tokens)
        timer = _FirstTokenTimer()
        extra = {"stopping_criteria": stop_when(cancel)} if cancel is not None else {}
        extra.update(self._structured_kwargs(params, len(batch) * params.num_return_sequences))
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, **self._generation_kwargs(params), streamer=timer, **extra
            )
        full, out = out, getattr(out, "sequences", out)
        check_cancelled()
        seconds = time.perf_counter() - start
        width = inputs["input_ids"].shape[1]
        first = timer.first - start if timer.first else None
        results = []
        for i in range(len(prompts)):
            prompt_tokens = int(inputs["attention_mask"][i * len(batch) // len(prompts)].sum())
            completions = [
                self._completion(out[i * n + j, width:].tolist(), params, full, i * n + j)
                for j in range(n)
            ]
            results.append(BackendOutput(prompt_tokens, completions, first, seconds))
        return results

    def stream(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        add_special_tokens: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamChunk]:
        import torch
        from transformers import TextIteratorStreamer

        cancel = cancel or threading.Event()
        start = time.perf_counter()
        self._seed(params)
        inputs = self._encode([prompt], add_special_tokens)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with torch.inference_mode():
                    result["out"] = self.model.generate(
                        **inputs,
                        **self._generation_kwargs(params),
                        **self._structured_kwargs(params, 1),
                        streamer=streamer,
                        stopping_criteria=stop_when(cancel),
                    )
            except BaseException as exc:  # surfaced in the consuming thread
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        watcher = StopWatcher(params.stop)
        first: float | None = None
        try:
            for delta in streamer:
                if first is None and delta:
                    first = time.perf_counter() - start
                piece = watcher.feed(delta)
                if piece:
                    yield StreamChunk(text=piece)
                if watcher.stopped:
                    cancel.set()
                    break
            cancelled = cancel.is_set()  # by the caller, or by a stop sequence
            tail = "" if cancelled else watcher.flush()
            if tail:
                yield StreamChunk(text=tail)
        finally:
            cancel.set()
            thread.join()
        if "error" in result:
            raise result["error"]
        full = result["out"]
        new_ids = getattr(full, "sequences", full)[0, inputs["input_ids"].shape[1] :].tolist()
        completion = self._completion(new_ids, params, full if full is not None else None)
        finish = "stop" if cancelled else completion.finish_reason
        yield StreamChunk(
            done=True,
            finish_reason=finish,
            prompt_tokens=int(inputs["attention_mask"][0].sum()),
            completion_tokens=completion.completion_tokens,
            first_token_s=first,
            extra={"logprobs": completion.logprobs} if params.logprobs is not None else {},
        )


def load_text_backend(resolved, **options: Any):
    from ..loading import load_causal_lm, prepare

    if resolved.format == ModelFormat.TRANSFORMERS:
        # Encoder-decoder checkpoints (BART, T5, Pegasus) load through AutoModelForSeq2SeqLM.
        from .seq2seq import is_encoder_decoder, load_seq2seq_backend

        prepared = prepare(resolved, trust_pickle=options.get("trust_pickle", False))
        if is_encoder_decoder(prepared.path):
            return load_seq2seq_backend(resolved, prepared, **options)
    return TransformersTextBackend(load_causal_lm(resolved, **options))
