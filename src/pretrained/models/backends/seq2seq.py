"""Encoder-decoder models (BART, T5, Pegasus …) behind the same TextBackend protocol, through
`AutoModelForSeq2SeqLM.generate` (transformers 5 removed the summarization pipeline).

`context_length` is what the ENCODER reads; inputs longer than that crash BART-style models, so
the summarize task packs chunks to it with this model's tokenizer — nothing is truncated here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from ..._util import first_line
from .base import (
    BackendOutput,
    Completion,
    SamplingParams,
    StreamChunk,
    cancel_event,
    check_cancelled,
    cut_at_stop,
)
from .stopping import stop_when


class Seq2SeqTextBackend:
    engine = "transformers"
    is_encoder_decoder = True

    def __init__(self, model: Any, tokenizer: Any, resolved, revision, device, dtype, load_s):
        self.model = model
        self.tokenizer = tokenizer
        self.model_id = resolved.alias or resolved.id
        self.revision = revision
        self.device = device
        self.dtype = dtype
        self.load_seconds = load_s
        config = model.config
        limits = [
            getattr(config, "max_position_embeddings", None),
            getattr(config, "n_positions", None),
            tokenizer.model_max_length if tokenizer.model_max_length < 1_000_000 else None,
        ]
        self.context_length = min((x for x in limits if x), default=512)
        params = getattr(config, "task_specific_params", None) or {}
        self.task_prefix = (params.get("summarization") or {}).get("prefix", "")

    @property
    def has_chat_template(self) -> bool:
        return False

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return "\n\n".join(m["content"] for m in messages if m["role"] != "assistant")

    def count_tokens(self, text: str, add_special_tokens: bool = True) -> int:
        return len(
            self.tokenizer(text, add_special_tokens=add_special_tokens, verbose=False)["input_ids"]
        )

    def generate(
        self, prompts: list[str], params: SamplingParams, *, add_special_tokens: bool = True
    ) -> list[BackendOutput]:
        import torch

        check_cancelled()
        cancel = cancel_event()
        start = time.perf_counter()
        if params.seed is not None:
            torch.manual_seed(params.seed)
        n = params.num_return_sequences
        batch = prompts
        if params.greedy and n > 1:  # transformers refuses n > 1 without sampling: n copies
            batch = [p for p in prompts for _ in range(n)]
        enc = self.tokenizer(
            batch, return_tensors="pt", padding=True, add_special_tokens=True, verbose=False
        )
        too_long = int(enc["attention_mask"].sum(dim=1).max())
        if too_long > self.context_length:
            from ...errors import InvalidOptionError

            raise InvalidOptionError(
                f"the input has {too_long} tokens; {self.model_id} reads at most "
                f"{self.context_length}",
                hint="use pretrained summarize, which splits long inputs into chunks",
            )
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "num_return_sequences": 1 if batch is not prompts else n,
            "repetition_penalty": params.repetition_penalty,
        }
        if params.greedy:
            kwargs["do_sample"] = False
        else:
            kwargs.update(
                do_sample=True,
                temperature=params.temperature,
                top_k=params.top_k,
                top_p=params.top_p,
            )
        if cancel is not None:
            kwargs["stopping_criteria"] = stop_when(cancel)
        with torch.inference_mode():
            out = self.model.generate(**enc, **kwargs)
        check_cancelled()
        seconds = time.perf_counter() - start
        eos = self.tokenizer.eos_token_id
        results = []
        for i in range(len(prompts)):
            completions = []
            for j in range(n):
                ids = out[i * n + j].tolist()
                specials = set(self.tokenizer.all_special_ids)
                body = [t for t in ids if t not in specials]
                finish = "stop" if eos in ids[1:] else "length"
                text, hit = cut_at_stop(self.tokenizer.decode(body), params.stop)
                completions.append(Completion(text.strip(), "stop" if hit else finish, len(body)))
            results.append(
                BackendOutput(
                    int(enc["attention_mask"][i * len(batch) // len(prompts)].sum()),
                    completions,
                    None,
                    seconds,
                )
            )
        return results

    def stream(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        add_special_tokens: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamChunk]:
        out = self.generate([prompt], params)[0]
        completion = out.completions[0]
        if completion.text:
            yield StreamChunk(text=completion.text)
        yield StreamChunk(
            done=True,
            finish_reason=completion.finish_reason,
            prompt_tokens=out.prompt_tokens,
            completion_tokens=completion.completion_tokens,
        )


def is_encoder_decoder(path) -> bool:
    import json
    from pathlib import Path

    config = Path(path) / "config.json"
    try:
        return bool(json.loads(config.read_text()).get("is_encoder_decoder"))
    except (OSError, ValueError):
        return False


def load_seq2seq_backend(resolved, prepared, **options: Any) -> Seq2SeqTextBackend:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ...errors import ModelLoadError
    from ..loading import choose_device, choose_dtype, dtype_name, quiet_transformers

    start = time.time()
    device = choose_device(options.get("device"))
    dtype = choose_dtype(device, options.get("dtype"))
    trust = bool(options.get("trust_remote_code"))
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(prepared.path, trust_remote_code=trust)
            model = AutoModelForSeq2SeqLM.from_pretrained(
                prepared.path,
                dtype=dtype,
                trust_remote_code=trust,
                use_safetensors=None if options.get("trust_pickle") else True,
            )
    except (OSError, ValueError) as exc:
        first = first_line(exc)
        raise ModelLoadError(f"could not load {resolved.label}: {first}") from exc
    model.to(device)
    model.eval()
    return Seq2SeqTextBackend(
        model,
        tokenizer,
        resolved,
        prepared.revision,
        device,
        dtype_name(dtype),
        time.time() - start,
    )
