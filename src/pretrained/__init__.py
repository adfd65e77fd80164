"""pretrained — run, fine-tune, evaluate and ship pre-trained models.

    >>> import pretrained
    >>> pretrained.generate("The future of AI is", temperature=0, max_new_tokens=20).text
    >>> pretrained.tokenize("coconut").ids
    >>> pretrained.inspect("smollm2-135m-instruct").parameters

Everything is imported lazily: `import pretrained` is instant, torch loads on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._util import __version__ as __version__

# public name → module that defines it
_EXPORTS: dict[str, str] = {
    "load": "pretrained.models",
    "LoadOptions": "pretrained.models.load_options",
    "resolve": "pretrained.models.registry",
    "GenerateOptions": "pretrained.tasks.generate",
    "GenerateResult": "pretrained.tasks.generate",
    "ChatSession": "pretrained.tasks.chat",
    "TokenizeResult": "pretrained.tasks.tokenize",
    "decode": "pretrained.tasks.tokenize",
    "inspect": "pretrained.tasks.inspect",
    "ModelInfo": "pretrained.tasks.inspect",
    "transcribe": "pretrained.tasks.transcribe",
    "TranscribeOptions": "pretrained.tasks.transcribe",
    "TranscribeResult": "pretrained.tasks.transcribe",
    "transcribe_inputs": "pretrained.jobs.transcribe",
    "load_transcriber": "pretrained.models",
    "doctor": "pretrained.tasks.doctor",
    "list_models": "pretrained.tasks.models",
    "PretrainedError": "pretrained.errors",
    "speak": "pretrained.tasks.speak",
    "SpeakOptions": "pretrained.tasks.speak",
    "imagine": "pretrained.tasks.imagine",
    "ImagineOptions": "pretrained.tasks.imagine",
    "run": "pretrained.tasks.run",
    "RunOptions": "pretrained.tasks.run",
    "embed": "pretrained.tasks.embed",
    "EmbedOptions": "pretrained.tasks.embed",
    "EmbedResult": "pretrained.tasks.embed",
    "classify": "pretrained.tasks.classify",
    "ClassifyOptions": "pretrained.tasks.classify",
    "ClassifyResult": "pretrained.tasks.classify",
    "summarize": "pretrained.tasks.summarize",
    "SummarizeOptions": "pretrained.tasks.summarize",
    "SummaryResult": "pretrained.tasks.summarize",
    "load_text": "pretrained.sources",
    "ask": "pretrained.tasks.ask",
    "AskOptions": "pretrained.tasks.ask",
    "rerank": "pretrained.tasks.rerank",
    "RerankOptions": "pretrained.tasks.rerank",
    "load_reranker": "pretrained.models",
    "Document": "pretrained.sources",
    "FinetuneOptions": "pretrained.train.finetune",
    "FinetuneResult": "pretrained.train.finetune",
    "push": "pretrained.ship.push",
}
__all__ = [
    "AskOptions",
    "ChatSession",
    "ClassifyOptions",
    "ClassifyResult",
    "Document",
    "EmbedOptions",
    "EmbedResult",
    "FinetuneOptions",
    "FinetuneResult",
    "SummarizeOptions",
    "SummaryResult",
    "classify",
    "embed",
    "load_text",
    "summarize",
    "GenerateOptions",
    "GenerateResult",
    "LoadOptions",
    "ImagineOptions",
    "ModelInfo",
    "PretrainedError",
    "RunOptions",
    "SpeakOptions",
    "TokenizeResult",
    "TranscribeOptions",
    "TranscribeResult",
    "ask",
    "chat",
    "decode",
    "doctor",
    "errors",
    "finetune",
    "generate",
    "generate_many",
    "imagine",
    "inspect",
    "list_models",
    "load",
    "push",
    "resolve",
    "run",
    "speak",
    "stream",
    "tokenize",
    "transcribe",
    "transcribe_inputs",
    "load_transcriber",
    "rerank",
    "RerankOptions",
    "load_reranker",
]


def generate(prompt: str, model: str | None = None, *, backend=None, **kwargs: Any):
    """Generate text from one prompt (→ GenerateResult). Knobs (temperature, max_new_tokens,
    top_k, top_p, stop, seed, system …) and load options (revision, device, dtype, quantize,
    engine …) are keyword arguments."""
    from .tasks.generate import generate as _generate

    options, load_options = _split(kwargs)
    return _generate(prompt, model, options, backend=backend, **load_options)


def generate_many(prompts: list[str], model: str | None = None, *, backend=None, **kwargs: Any):
    """Generate from each prompt of a list, batched (→ list of GenerateResult)."""
    from .tasks.generate import generate_many as _generate_many

    options, load_options = _split(kwargs)
    return _generate_many(prompts, model, options, backend=backend, **load_options)


def stream(prompt: str, model: str | None = None, *, backend=None, **kwargs: Any):
    """Iterate over text pieces as they are generated; `.result` holds the totals afterwards."""
    from .tasks.generate import stream as _stream

    options, load_options = _split(kwargs)
    return _stream(prompt, model, options, backend=backend, **load_options)


def chat(messages: list[dict[str, str]], model: str | None = None, *, backend=None, **kwargs: Any):
    """One assistant reply to OpenAI-style messages [{"role": "user", "content": "Hi"}]."""
    from .tasks.chat import chat as _chat

    options, load_options = _split(kwargs)
    return _chat(messages, model, options, backend=backend, **load_options)


def tokenize(text: str, model: str | None = None, **kwargs: Any):
    """Token ids, pieces, offsets and special tokens of `text` under `model`'s tokenizer."""
    from .tasks.tokenize import tokenize as _tokenize

    return _tokenize(text, model, **kwargs)


def finetune(data: str, model: str | None = None, *, options=None, reporter=None, **kwargs: Any):
    """Fine-tune `model` on `data` (a file or a Hub dataset id); knobs are keyword arguments
    (template, method, max_steps, lr, …) or a ready `FinetuneOptions` as `options=`."""
    from .train import FinetuneOptions
    from .train import finetune as _finetune

    if options is None:
        options = FinetuneOptions.from_kwargs(**kwargs)
    elif kwargs:
        from dataclasses import replace

        options = replace(options, **kwargs).validate()
    return _finetune(data, model, options, reporter=reporter)


def _split(kwargs: dict[str, Any]):
    from .models.load_options import LoadOptions
    from .tasks.generate import GenerateOptions

    load, knobs = LoadOptions.split(kwargs)
    return GenerateOptions.from_kwargs(**knobs), load.kwargs()


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("pretrained.errors")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pretrained' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from .errors import PretrainedError
    from .jobs.transcribe import transcribe_inputs
    from .models import load, load_reranker, load_transcriber
    from .models.registry import resolve
    from .ship.push import push
    from .sources import Document, load_text
    from .tasks.ask import AskOptions, ask
    from .tasks.chat import ChatSession
    from .tasks.classify import ClassifyOptions, ClassifyResult, classify
    from .tasks.doctor import doctor
    from .tasks.embed import EmbedOptions, EmbedResult, embed
    from .tasks.generate import GenerateOptions, GenerateResult
    from .tasks.imagine import ImagineOptions, imagine
    from .tasks.inspect import ModelInfo, inspect
    from .tasks.models import list_models
    from .tasks.rerank import RerankOptions, rerank
    from .tasks.run import RunOptions, run
    from .tasks.speak import SpeakOptions, speak
    from .tasks.summarize import SummarizeOptions, SummaryResult, summarize
    from .tasks.tokenize import TokenizeResult, decode
    from .tasks.transcribe import TranscribeOptions, TranscribeResult, transcribe
    from .train.finetune import FinetuneOptions, FinetuneResult
