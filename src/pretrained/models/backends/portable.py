"""Engines for exported models (`pretrained export`): ONNX graphs run by onnxruntime and
CTranslate2 folders run by ctranslate2. An export folder holds the weights, the tokenizer and
`export.json` (what was exported, from which model, and its parity figures).

`load_portable(folder)` gives a small runtime object (logits for the export parity checks);
`PortableTextBackend` wraps an ONNX generator export in the TextBackend protocol (so
`pretrained generate --model EXPORT` works; CTranslate2 generator exports run on the
ctranslate2 engine, backends/ctranslate2.py, which also opens the folders here) and
`PortableEmbedder` wraps an embedding export (`encode`, like the sentence-transformers engine).

ONNX generator graphs take the whole sequence and return logits for every position (no KV
cache), so each new token re-reads the sequence: fine for short outputs and parity checks;
CTranslate2 exports generate with their own KV-cached decoder.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...errors import ModelLoadError, UnsupportedModelError
from ..registry import ExportFormat
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
from .exports import EXPORT_FILE, read_export  # noqa: F401 - importable from here too


def _tokenizer(folder: Path):
    from transformers import AutoTokenizer

    from ..loading import quiet_transformers

    with quiet_transformers():
        tok = AutoTokenizer.from_pretrained(folder)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


class _Portable:
    runtime = "?"

    def __init__(self, folder: Path, info: dict[str, Any]) -> None:
        self.folder = folder
        self.info = info
        self.kind = info.get("kind", "generate")
        self.tokenizer = _tokenizer(folder)
        config = json.loads((folder / "config.json").read_text())
        self.context_length = config.get("max_position_embeddings") or config.get("n_positions")

    # embed / classify
    def forward_texts(self, texts: list[str]):
        raise NotImplementedError

    # generate
    def logits(self, ids: list[int]):
        """Logits at every position of one sequence: (seq, vocab)."""
        raise NotImplementedError

    def next_logits(self, batch: list[list[int]]):
        """Logits of the next token for each (unpadded) sequence: (batch, vocab)."""
        raise NotImplementedError

    def greedy(self, ids: list[int], max_new_tokens: int, eos: list[int]) -> list[int]:
        out: list[int] = []
        seq = list(ids)
        for _ in range(max_new_tokens):
            token = int(self.next_logits([seq])[0].argmax())
            out.append(token)
            seq.append(token)
            if token in eos:
                break
        return out


class OnnxModel(_Portable):
    runtime = "onnxruntime"

    def __init__(self, folder: Path, info: dict[str, Any]) -> None:
        super().__init__(folder, info)
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - part of the export extra
            from ...errors import missing_dependency

            raise missing_dependency("onnxruntime", "export") from exc
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]

    def _run(self, ids, mask):
        import numpy as np

        feed = {"input_ids": np.asarray(ids, dtype=np.int64)}
        if "attention_mask" in self.input_names:
            feed["attention_mask"] = np.asarray(mask, dtype=np.int64)
        return self.session.run(None, feed)[0]

    def forward_texts(self, texts: list[str]):
        enc = self.tokenizer(texts, padding=True, truncation=True, return_tensors="np")
        return self._run(enc["input_ids"], enc["attention_mask"])

    def logits(self, ids: list[int]):
        return self._run([ids], [[1] * len(ids)])[0]

    def next_logits(self, batch: list[list[int]]):
        width = max(len(s) for s in batch)
        pad = self.tokenizer.pad_token_id or 0
        ids = [[pad] * (width - len(s)) + s for s in batch]  # left padding
        mask = [[0] * (width - len(s)) + [1] * len(s) for s in batch]
        return self._run(ids, mask)[:, -1, :]


class Ct2Model(_Portable):
    runtime = "ctranslate2"

    def __init__(self, folder: Path, info: dict[str, Any]) -> None:
        from . import ctranslate2

        super().__init__(folder, info)
        if not ctranslate2.available():  # pragma: no cover - part of the export extra
            from ...errors import missing_dependency

            raise missing_dependency("ctranslate2", "export")
        compute = "int8" if info.get("quantize") == "int8" else "default"
        self.model = ctranslate2.open_model(folder, kind=self.kind, compute_type=compute)

    def _tokens(self, ids: list[int]) -> list[str]:
        return self.tokenizer.convert_ids_to_tokens(ids)

    def forward_texts(self, texts: list[str]):
        import numpy as np

        enc = self.tokenizer(texts, truncation=True)
        ids = enc["input_ids"]
        out = self.model.forward_batch(ids)
        hidden = np.array(out.last_hidden_state)  # (batch, seq, dim), padded on the right
        lengths = np.array([len(s) for s in ids])
        mask = (np.arange(hidden.shape[1])[None, :] < lengths[:, None]).astype(hidden.dtype)
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        if self.info.get("normalize"):
            pooled = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled

    def logits(self, ids: list[int]):
        import numpy as np

        return np.array(self.model.forward_batch([self._tokens(ids)]))[0]

    def next_logits(self, batch: list[list[int]]):
        import numpy as np

        return np.stack([self.logits(s)[-1] for s in batch])

    def greedy(self, ids: list[int], max_new_tokens: int, eos: list[int]) -> list[int]:
        result = self.model.generate_batch(
            [self._tokens(ids)],
            max_length=max_new_tokens,
            sampling_topk=1,
            include_prompt_in_result=False,
            end_token=eos or None,
        )[0]
        return list(result.sequences_ids[0])


def load_portable(folder: Path) -> _Portable:
    folder = Path(folder)
    info = read_export(folder)
    fmt = info.get("format")
    if fmt == ExportFormat.ONNX:
        return OnnxModel(folder, info)
    if fmt == ExportFormat.CT2:
        return Ct2Model(folder, info)
    raise ModelLoadError(f"'{folder}' holds an export in an unknown format '{fmt}'")


# ---------------------------------------------------------------- sampling (numpy)
def _sample(logits, seq: list[int], params: SamplingParams, rng) -> int:
    import numpy as np

    logits = logits.astype(np.float64)
    if params.repetition_penalty != 1.0 and seq:
        seen = np.unique(np.asarray(seq))
        picked = logits[seen]
        logits[seen] = np.where(
            picked < 0, picked * params.repetition_penalty, picked / params.repetition_penalty
        )
    if params.greedy:
        return int(logits.argmax())
    logits = logits / params.temperature
    if params.top_k and params.top_k < logits.shape[0]:
        cut = np.partition(logits, -params.top_k)[-params.top_k]
        logits = np.where(logits < cut, -np.inf, logits)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    if params.top_p < 1.0:
        order = np.argsort(-probs)
        cumulative = np.cumsum(probs[order])
        keep = order[: int(np.searchsorted(cumulative, params.top_p) + 1)]
        mask = np.zeros_like(probs)
        mask[keep] = probs[keep]
        probs = mask / mask.sum()
    return int(rng.choice(probs.shape[0], p=probs))


class PortableTextBackend(HFTokenizerChat):
    """TextBackend over an exported generator (ONNX or CTranslate2)."""

    def __init__(self, portable: _Portable, resolved, load_seconds: float) -> None:
        if portable.kind != "generate":
            raise UnsupportedModelError(
                f"{resolved.label} is a {portable.kind} export, not a text generator",
                hint="export a causal language model for generation",
            )
        self.portable = portable
        self.tokenizer = portable.tokenizer
        self.engine = "onnx" if portable.runtime == "onnxruntime" else "ctranslate2"
        self.model_id = str(resolved.path)
        self.revision = portable.info.get("source_revision")
        self.device = "cpu"
        self.dtype = portable.info.get("quantize") or "float32"
        self.load_seconds = load_seconds
        self.context_length = portable.context_length
        self.eos = [
            i for i in {self.tokenizer.eos_token_id, *self._generation_eos()} if isinstance(i, int)
        ]

    def _generation_eos(self) -> list[int]:
        path = self.portable.folder / "generation_config.json"
        if not path.exists():
            return []
        value = json.loads(path.read_text()).get("eos_token_id")
        return value if isinstance(value, list) else [value]

    def _steps(self, ids: list[int], params: SamplingParams, rng, cancel) -> Iterator[int]:
        seq = list(ids)
        for _ in range(params.max_new_tokens):
            if cancel is not None and cancel.is_set():
                return
            token = _sample(self.portable.next_logits([seq])[0], seq, params, rng)
            yield token
            seq.append(token)
            if token in self.eos:
                return

    def _completion(self, new_ids: list[int], params: SamplingParams) -> Completion:
        finish, count = "length", len(new_ids)
        for i, token in enumerate(new_ids):
            if token in self.eos:
                new_ids, count, finish = new_ids[:i], i + 1, "stop"
                break
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        text, hit = cut_at_stop(text, params.stop)
        return Completion(text, "stop" if hit else finish, count)

    def generate(
        self, prompts: list[str], params: SamplingParams, *, add_special_tokens: bool = True
    ) -> list[BackendOutput]:
        import numpy as np

        check_cancelled()
        cancel = cancel_event()
        rng = np.random.default_rng(params.seed)
        results = []
        for prompt in prompts:
            start = time.perf_counter()
            ids = self.tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"]
            completions = []
            first = None
            for _ in range(params.num_return_sequences):
                new: list[int] = []
                for token in self._steps(ids, params, rng, cancel):
                    if first is None:
                        first = time.perf_counter() - start
                    new.append(token)
                    if params.stop and cut_at_stop(self.tokenizer.decode(new), params.stop)[1]:
                        break
                check_cancelled()
                completions.append(self._completion(new, params))
            results.append(BackendOutput(len(ids), completions, first, time.perf_counter() - start))
        return results

    def stream(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        add_special_tokens: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamChunk]:
        import numpy as np

        start = time.perf_counter()
        rng = np.random.default_rng(params.seed)
        ids = self.tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"]
        watcher = StopWatcher(params.stop)
        new: list[int] = []
        shown = ""
        first = None
        for token in self._steps(ids, params, rng, cancel):
            if first is None:
                first = time.perf_counter() - start
            if token in self.eos:
                new.append(token)
                break
            new.append(token)
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            piece = watcher.feed(text[len(shown) :])
            shown = text
            if piece:
                yield StreamChunk(text=piece)
            if watcher.stopped:
                break
        tail = watcher.flush()
        if tail:
            yield StreamChunk(text=tail)
        completion = self._completion(new, params)
        yield StreamChunk(
            done=True,
            finish_reason="stop" if watcher.stopped else completion.finish_reason,
            prompt_tokens=len(ids),
            completion_tokens=completion.completion_tokens,
            first_token_s=first,
        )


def load_text_backend(resolved, **options: Any) -> PortableTextBackend:
    start = time.time()
    return PortableTextBackend(load_portable(resolved.path), resolved, time.time() - start)


class PortableEmbedder:
    """An embedding export behind the embedder interface (encode, count_tokens, dims)."""

    def __init__(self, folder: Path, model_id: str | None = None) -> None:
        start = time.time()
        self.portable = load_portable(folder)
        if self.portable.kind != "embed":
            raise UnsupportedModelError(
                f"'{folder}' is a {self.portable.kind} export, not an embedding model",
                hint="export a sentence-transformers model for embeddings",
            )
        self.model_id = model_id or str(folder)
        self.revision = self.portable.info.get("source_revision")
        self.device = "cpu"
        self.engine = self.portable.runtime
        self.max_tokens = getattr(self.portable.tokenizer, "model_max_length", 512)
        if not isinstance(self.max_tokens, int) or self.max_tokens > 100_000:
            self.max_tokens = self.portable.context_length or 512
        self.dims = int(self.portable.forward_texts(["dimension probe"]).shape[1])
        self.load_seconds = time.time() - start

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.portable.tokenizer(list(texts))["input_ids"]]

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        enc = self.portable.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(span) for span in enc["offset_mapping"]]

    def encode(self, texts: list[str], *, batch_size: int = 32, normalize: bool = True):
        import numpy as np

        parts = [
            self.portable.forward_texts(list(texts[i : i + batch_size]))
            for i in range(0, len(texts), batch_size)
        ]
        vectors = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, self.dims))
        if normalize:
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
        return vectors
