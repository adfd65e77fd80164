"""pretrained — run, fine-tune, evaluate and ship pre-trained models.

    >>> import pretrained
    >>> pretrained.generate("The future of AI is", temperature=0, max_new_tokens=20).text
    >>> pretrained.tokenize("coconut").ids
    >>> pretrained.inspect("smollm2-135m-instruct").parameters

Load options (revision, device, dtype, quantize, engine, trust_remote_code, trust_pickle) are
keywords on every task here (`pretrained.embed(["hi"], device="cpu")`): they are split once
from the task's own keywords into a `LoadOptions` (or given whole as `load_options=`), which
the task hands to the models/ loaders; an unknown keyword is a one-line error.

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


def generate(
    prompt: str, model: str | None = None, *, backend=None, load_options=None, **kwargs: Any
):
    """Generate text from one prompt (→ GenerateResult). Knobs (temperature, max_new_tokens,
    top_k, top_p, stop, seed, system …) and load options (revision, device, dtype, quantize,
    engine …) are keyword arguments; they are split once into GenerateOptions and a
    LoadOptions (also accepted whole as `load_options=`), and an unknown one is an error
    naming the known ones."""
    from .tasks.generate import generate as _generate

    options, load = _split(kwargs, load_options)
    return _generate(prompt, model, options, backend=backend, load_options=load)


def generate_many(
    prompts: list[str], model: str | None = None, *, backend=None, load_options=None, **kwargs: Any
):
    """Generate from each prompt of a list, batched (→ list of GenerateResult); keywords as
    in generate()."""
    from .tasks.generate import generate_many as _generate_many

    options, load = _split(kwargs, load_options)
    return _generate_many(prompts, model, options, backend=backend, load_options=load)


def stream(
    prompt: str, model: str | None = None, *, backend=None, load_options=None, **kwargs: Any
):
    """Iterate over text pieces as they are generated; `.result` holds the totals afterwards."""
    from .tasks.generate import stream as _stream

    options, load = _split(kwargs, load_options)
    return _stream(prompt, model, options, backend=backend, load_options=load)


def chat(
    messages: list[dict[str, str]],
    model: str | None = None,
    *,
    backend=None,
    load_options=None,
    **kwargs: Any,
):
    """One assistant reply to OpenAI-style messages [{"role": "user", "content": "Hi"}]."""
    from .tasks.chat import chat as _chat

    options, load = _split(kwargs, load_options)
    return _chat(messages, model, options, backend=backend, load_options=load)


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


def _split(kwargs: dict[str, Any], load_options=None):
    """Generation keywords → (GenerateOptions, LoadOptions), split once."""
    from .models.load_options import LoadOptions
    from .options import names, reject_unknown
    from .tasks.generate import GenerateOptions

    reject_unknown(kwargs, [*names(GenerateOptions), *LoadOptions.keys()], "generate")
    load, knobs = LoadOptions.split(kwargs)
    return GenerateOptions.from_kwargs(**knobs), _merge(load_options, load)


def _merge(given, keywords):
    """A LoadOptions passed whole, with the load keywords given beside it on top."""
    from dataclasses import replace

    if given is None:
        return keywords
    return replace(given, **keywords.given())


# tasks whose model loads by a LoadOptions: the front takes its fields as keywords too
_WITH_LOAD_KEYWORDS = ("embed", "classify", "summarize", "ask", "speak", "imagine", "run", "rerank")
_LOAD_KEYWORDS_DOC = """

    Load options (revision, device, dtype, quantize, engine, trust_remote_code, trust_pickle)
    may be given as keywords (`device="cpu"`) or whole as `load_options=LoadOptions(...)`;
    an unknown keyword is an error naming the known ones."""


def _with_load_keywords(task: Any) -> Any:
    """`task(..., load_options=LoadOptions(device="cpu"))` called as `task(..., device="cpu")`:
    the keywords are split once into the task's own and a LoadOptions."""
    import functools
    import inspect

    from .models.load_options import LoadOptions
    from .options import reject_unknown

    own = inspect.signature(task).parameters

    @functools.wraps(task)
    def call(*args: Any, load_options: Any = None, **kwargs: Any) -> Any:
        reject_unknown(kwargs, [*own, *LoadOptions.keys()], task.__name__)
        load, rest = LoadOptions.split({k: v for k, v in kwargs.items() if k not in own})
        rest.update({k: v for k, v in kwargs.items() if k in own})
        return task(*args, load_options=_merge(load_options, load), **rest)

    call.__doc__ = (task.__doc__ or "") + _LOAD_KEYWORDS_DOC
    return call


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("pretrained.errors")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pretrained' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    if name in _WITH_LOAD_KEYWORDS:
        value = _with_load_keywords(value)
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
