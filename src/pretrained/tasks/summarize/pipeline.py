"""The entry point: choose a mode, run it, build the result."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ... import runlog as runs
from ...errors import EmptyInputError
from ...models.load_options import LoadOptions
from .abstractive import Abstractive, first_sentences
from .extractive import run_extractive
from .length import fit_words, source_filler
from .options import Progress, SummarizeOptions, SummaryResult, target_length
from .source_check import check_against_source


# ---------------------------------------------------------------- entry point
def choose_mode(options: SummarizeOptions) -> tuple[str, str]:
    """auto → abstractive on a GPU or when a generative --model is given; else extractive."""
    if options.mode != "auto":
        return options.mode, f"--mode {options.mode}"
    if options.model:
        return "abstractive", f"--model {options.model} given"
    try:
        from ...models.loading import cuda_available

        if cuda_available():
            return "abstractive", "a CUDA GPU is available"
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    return (
        "extractive",
        "CPU: extractive takes seconds (--mode abstractive for a model-written summary)",
    )


def _extractive_result(text, options, engine, on_progress, reason: str) -> SummaryResult:
    picked, timings, info = run_extractive(text, options, engine, on_progress)
    found = info.pop("chapters", [])
    summary = " ".join(p["text"] for p in picked)
    result = SummaryResult(
        summary=summary,
        mode="extractive",
        model=engine.model_id,
        method="sentence embeddings → topic segments → relevance (centrality + position"
        + (" + focus" if options.focus else "")
        + ") → MMR",
        reason=reason,
        input_words=len(text.split()),
        output_words=len(summary.split()),
        chunks=info["segments"],
        sentences=picked,
        timings={k: round(v, 3) for k, v in timings.items()},
    )
    result.levels = [{"stage": "extractive", **info}]
    result.chapters = found
    runs.annotate(task="summarize", model=engine.model_id, device=engine.device, mode="extractive")
    return result


def _checked(worker: Abstractive, summary: str, text: str, options, get_embedder, on_progress):
    """(the model's summary without what the source does not back, the dropped sentences,
    whether nothing was backed and the summary is extractive instead)."""
    summary, unsupported = check_against_source(summary, text)
    if unsupported:
        worker.warnings.append(
            f"{len(unsupported)} generated sentence(s) dropped: the source does not back "
            "them (--json lists them)"
        )
    if unsupported and not summary.strip():
        worker.warnings.append(
            "nothing the model wrote was backed by the source: this is an extractive "
            "summary instead"
        )
        picked, _, _ = run_extractive(
            text, replace(options, mode="extractive"), get_embedder(), on_progress
        )
        return " ".join(p["text"] for p in picked), unsupported, True
    return summary, unsupported, False


def _abstractive_result(
    text, options, backend, get_embedder, on_progress, reason: str
) -> SummaryResult:
    input_words = len(text.split())
    max_words, max_sentences = target_length(options, input_words)
    start = time.perf_counter()
    worker = Abstractive(backend, options, get_embedder, on_progress)
    summary = worker.run(text, max_words, max_sentences)
    if max_sentences is not None:
        summary = first_sentences(summary, max_sentences)
    checked = _checked(worker, summary, text, options, get_embedder, on_progress)
    summary, unsupported, fallback = checked
    if max_words is not None and (options.words or options.ratio) and summary.strip():
        summary, notes = fit_words(summary, max_words, source_filler(text, get_embedder))
        if summary.rstrip().endswith((".", "!", "?", "…", '"', "”")):  # no cut sentence left
            final = ("a summarizing output", "a final summary output")
            worker.warnings = [w for w in worker.warnings if not w.startswith(final)]
        worker.warnings.extend(notes)
    depth = max((lv.get("level", 0) for lv in worker.levels), default=0)
    result = SummaryResult(
        summary=summary,
        mode="abstractive",
        model=backend.model_id,
        method="map-reduce over chunks measured by the model's tokenizer"
        if len(worker.levels) > 1
        else "one pass (the text fits the context)",
        reason=reason,
        input_words=input_words,
        input_tokens=worker.count([text])[0] if input_words < 2_000_000 else None,
        output_words=len(summary.split()),
        chunks=worker.levels[0]["chunks"],
        depth=depth,
        levels=worker.levels,
        warnings=worker.warnings,
        timings={
            "generate_s": round(time.perf_counter() - start, 3),
            "model_calls": worker.calls,
            "prompt_tokens": worker.prompt_tokens,
            "new_tokens": worker.new_tokens,
        },
    )
    result.engine = backend.engine
    result.unsupported = unsupported
    result.extractive_fallback = fallback
    if not summary.strip():
        result.warnings.append("the model returned an empty summary")
    runs.annotate(
        task="summarize",
        model=backend.model_id,
        revision=backend.revision,
        device=backend.device,
        engine=backend.engine,
        mode="abstractive",
    )
    return result


def summarize(
    text_or_document: Any,
    options: SummarizeOptions | None = None,
    *,
    backend: Any = None,
    embedder: Any = None,
    on_progress: Progress | None = None,
    load_options: LoadOptions | None = None,
) -> SummaryResult:
    """Summarize a text (str) or a `sources.Document`. See the package docstring.
    `load_options` load the abstractive model; the embedder takes their device."""
    began = time.perf_counter()
    load_options = load_options or LoadOptions()
    options = (options or SummarizeOptions()).validate()
    if isinstance(text_or_document, str):
        text, title, source = text_or_document, None, None
    else:
        document = text_or_document
        text, title, source = document.text, document.title, document.location
    if not isinstance(text, str) or not text.strip():
        raise EmptyInputError("nothing to summarize: the text is empty")
    if backend is not None and options.mode == "auto":
        options = replace(options, mode="abstractive")
    mode, reason = choose_mode(options)

    def get_embedder():
        nonlocal embedder
        if embedder is None:
            from ..embed import get_embedder as load

            embedder = load(None, options.embedding_model, load_options.device_only())
        return embedder

    if mode == "extractive":
        result = _extractive_result(text, options, get_embedder(), on_progress, reason)
    else:
        if backend is None:
            from ...models import load

            backend = load_options.call(load, options.model, task="summarize")
        result = _abstractive_result(text, options, backend, get_embedder, on_progress, reason)
    result.title, result.source = title, source
    result.timings["total_s"] = round(time.perf_counter() - began, 3)
    return result
