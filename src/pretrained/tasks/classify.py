"""Text classification, batched: sentiment by default, any labels zero-shot.

Three methods, always reported in the result (`method`):
- ``zero-shot-embedding`` (default, offline): cosine similarity between the text and label
  descriptions under a sentence-embedding model (the embedded MiniLM); softmax over labels.
  Sentiment (no --labels) compares with the centroids of example sentences per label.
- ``sequence-classification``: a fine-tuned classifier with its own labels
  (e.g. distilbert/distilbert-base-uncased-finetuned-sst-2-english).
- ``zero-shot-nli``: an NLI model (e.g. facebook/bart-large-mnli) scoring "this text entails
  <hypothesis about label>" for each label.

Texts longer than an embedding model reads are embedded window by window and averaged, so the
whole text counts; classifiers cut at their limit and the result says how many were cut.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .. import runlog
from ..errors import EmptyInputError, InvalidOptionError, UsageError
from ..models.load_options import LoadOptions
from ..models.registry import ModelFormat, languages_of
from ..options import option, validate

METHODS = ("auto", "embedding", "nli", "sequence-classification")

# The default (sentiment) task: each label is the centroid of plain example sentences
# (package data, data/sentiment_examples.tsv) embedded with the same model, texts and examples
# both read as "Sentiment: <text>" (the prefix pulls a small model's vector towards the
# sentence's tone, away from its topic). On 80 dev sentences: 78/80, where three label
# descriptions per label scored 70/80 and the centroids without the prefix 76/80
# (benchmarks/data/README.md).
SENTIMENT_LABELS = ("positive", "negative")
SENTIMENT_EXAMPLES = "sentiment_examples.tsv"
SENTIMENT_PREFIX = "Sentiment: "


@functools.cache
def sentiment_examples() -> dict[str, tuple[str, ...]]:
    """label → its example sentences (prefixed), read from the package's data folder."""
    from importlib.resources import files

    out: dict[str, list[str]] = {label: [] for label in SENTIMENT_LABELS}
    text = files("pretrained").joinpath("data", SENTIMENT_EXAMPLES).read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            label, _, sentence = line.partition("\t")
            out[label].append(SENTIMENT_PREFIX + sentence.strip())
    return {label: tuple(sentences) for label, sentences in out.items()}


ZERO_SHOT_TEMPLATE = "This text is about {}."
NLI_TEMPLATE = "This example is {}."
SENTIMENT_NLI_TEMPLATE = "The sentiment of this text is {}."


@dataclass(frozen=True)
class ClassifyOptions:
    batch_size: int = option(32, "Texts per model call.", ge=1, example=32)
    method: str = option("auto", "How labels are scored.", choices=METHODS, example="nli")
    template: str | None = None  # hypothesis / description template with {} for the label
    multi_label: bool = False  # NLI: score each label independently
    # embedding method: softmax temperature over cosine similarities
    temperature: float = option(0.05, "Softmax temperature.", gt=0, le=10, example=0.05)

    def validate(self) -> ClassifyOptions:
        validate(self)
        if self.template is not None and "{}" not in self.template:
            raise InvalidOptionError(
                "--template must contain {} where the label goes",
                hint='e.g. --template "This review is {}."',
            )
        return self


@dataclass
class Classification:
    text: str
    label: str
    score: float
    scores: dict[str, float]
    warnings: list[str] = field(default_factory=list)  # e.g. a language the model does not read

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "label": self.label,
            "score": round(self.score, 4),
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "warnings": self.warnings,
        }


@dataclass
class ClassifyResult:
    items: list[Classification]
    labels: list[str]
    model: str
    revision: str | None
    method: str
    truncated: int = 0  # texts a classifier read only in part (its token limit)
    engine: str | None = None  # what ran the model (ctranslate2, onnx, sentence-transformers …)
    multi_label: bool = False
    timings: dict[str, float | None] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        """One text: its warnings. A batch: how many texts have one, and the first."""
        flagged = [item for item in self.items if item.warnings]
        if len(self.items) == 1 or not flagged:
            return list(self.items[0].warnings) if flagged else []
        first = flagged[0].warnings[0]
        return [f"{len(flagged)} of {len(self.items)} texts have warnings, e.g. {first}"]

    @property
    def label(self) -> str:
        return self.items[0].label

    @property
    def scores(self) -> dict[str, float]:
        return self.items[0].scores

    def describe(self) -> str:
        """One line for humans: which model and method produced the labels."""
        how = {
            "zero-shot-embedding": "zero-shot by embedding similarity to label descriptions",
            "zero-shot-nli": "zero-shot by natural-language inference",
            "sequence-classification": "the model's own classification head",
        }[self.method]
        if self.method == "zero-shot-embedding" and tuple(self.labels) == SENTIMENT_LABELS:
            how = "zero-shot by embedding similarity to example sentences of each label"
        return f"labels by {self.model} — {how}; labels: {', '.join(self.labels)}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "revision": self.revision,
            "method": self.method,
            "engine": self.engine,
            "labels": self.labels,
            "multi_label": self.multi_label,
            "results": [item.to_dict() for item in self.items],
            "truncated": self.truncated,
            "warnings": self.warnings,
            "timings": self.timings,
        }
        if len(self.items) == 1:
            out.update(
                label=self.label,
                score=round(self.items[0].score, 4),
                scores=out["results"][0]["scores"],
            )
        return out


def parse_labels(labels: str | list[str] | None) -> list[str] | None:
    """'a,b,c' or ['a', 'b'] → ['a', 'b', 'c']; duplicates and blanks are errors."""
    if labels is None:
        return None
    items = labels.split(",") if isinstance(labels, str) else list(labels)
    clean = [str(x).strip() for x in items]
    if any(not x for x in clean) or len(clean) < 2:
        raise InvalidOptionError(
            "--labels needs at least two non-empty labels",
            hint='e.g. --labels "sports,politics,technology"',
        )
    names = [x.split("=", 1)[0].strip() for x in clean]
    if len(set(names)) != len(names):
        raise InvalidOptionError("--labels has duplicates", hint="give each label once")
    return clean


def _softmax(row: list[float]) -> list[float]:
    top = max(row)
    exps = [math.exp(x - top) for x in row]
    total = sum(exps)
    return [x / total for x in exps]


# ---------------------------------------------------------------- zero-shot by embeddings
_label_cache: dict[tuple, Any] = {}
_label_lock = threading.Lock()


def _descriptions(
    labels: list[str] | None, template: str | None
) -> tuple[list[str], list[list[str]]]:
    if labels is None:
        examples = sentiment_examples()
        return list(SENTIMENT_LABELS), [list(examples[label]) for label in SENTIMENT_LABELS]
    names, texts = [], []
    for item in labels:
        name, _, description = item.partition("=")
        name = name.strip()
        names.append(name)
        if description.strip():  # "spam=an unsolicited advertisement"
            texts.append([description.strip()])
        else:
            texts.append([name, (template or ZERO_SHOT_TEMPLATE).format(name)])
    return names, texts


def _disk_key(engine: Any, descriptions: list[list[str]]) -> str | None:
    """A file name for these label vectors under this model (None: a few texts, embed them)."""
    import hashlib
    import json

    if sum(len(d) for d in descriptions) < 16:
        return None
    ident = [engine.model_id, engine.revision, getattr(engine, "engine", None), descriptions]
    return hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:32] + ".npy"


def _label_vectors(engine: Any, descriptions: list[list[str]]):
    """Mean of the normalized description vectors per label (cached per model + labels in
    memory, and on disk for long example sets such as the sentiment examples: the file keeps
    the vector of the first example too, and is used only while the model still gives it)."""
    import numpy as np

    from ..settings import cache_dir

    key = (id(engine), tuple(tuple(d) for d in descriptions))
    with _label_lock:
        if key in _label_cache:
            return _label_cache[key]
    name = _disk_key(engine, descriptions)
    path = cache_dir() / "label-vectors" / name if name else None
    matrix = None
    if path is not None and path.is_file():
        stored = np.load(path)
        probe = engine.encode(descriptions[0][:1], normalize=True)[0]
        if stored.shape[1] == probe.shape[0] and float(stored[-1] @ probe) > 0.9999:
            matrix = stored[:-1]
    if matrix is None:
        flat = [text for group in descriptions for text in group]
        vectors = engine.encode(flat, normalize=True)
        out, i = [], 0
        for group in descriptions:
            mean = vectors[i : i + len(group)].mean(axis=0)
            out.append(mean / (np.linalg.norm(mean) or 1.0))
            i += len(group)
        matrix = np.stack(out).astype(np.float32)
        if path is not None:
            _save(path, np.vstack([matrix, vectors[:1]]))
    with _label_lock:
        if len(_label_cache) > 64:
            _label_cache.clear()
        _label_cache[key] = matrix
    return matrix


def _save(path, matrix) -> None:
    import numpy as np

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(partial, matrix)
        partial.replace(path)
    except OSError:  # a read-only cache only costs the embedding next time
        pass


def embed_whole(engine: Any, texts: list[str], batch_size: int = 32):
    """Normalized vectors for texts of any length: a text longer than the model reads is cut
    into token windows (by the model's own tokenizer) whose vectors are averaged."""
    import numpy as np

    counts = engine.count_tokens(texts)
    limit = engine.max_tokens - 2  # room for [CLS]/[SEP]
    pieces: list[str] = []
    owners: list[int] = []
    for i, (text, n) in enumerate(zip(texts, counts, strict=True)):
        if n <= engine.max_tokens:
            pieces.append(text)
            owners.append(i)
            continue
        spans = engine.token_offsets(text)
        for start in range(0, len(spans), limit):
            window = spans[start : start + limit]
            pieces.append(text[window[0][0] : window[-1][1]])
            owners.append(i)
    vectors = engine.encode(pieces, batch_size=batch_size, normalize=True)
    if len(pieces) == len(texts):
        return vectors, counts
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    np.add.at(out, np.asarray(owners), vectors)
    out /= np.linalg.norm(out, axis=1, keepdims=True).clip(min=1e-12)
    return out, counts


def _by_embedding(
    engine, texts, labels, options, on_progress
) -> tuple[list[str], list[list[float]]]:
    names, descriptions = _descriptions(labels, options.template)
    label_matrix = _label_vectors(engine, descriptions)
    rows: list[list[float]] = []
    for start in range(0, len(texts), options.batch_size):
        batch = texts[start : start + options.batch_size]
        if labels is None:  # sentiment: read the way the examples were
            batch = [SENTIMENT_PREFIX + text for text in batch]
        vectors, _ = embed_whole(engine, batch, options.batch_size)
        sims = vectors @ label_matrix.T
        rows.extend(_softmax([float(s) / options.temperature for s in row]) for row in sims)
        if on_progress:
            on_progress(len(batch))
    return names, rows


# ---------------------------------------------------------------- classifier models
def _by_classifier(engine, texts, options, on_progress) -> tuple[list[str], list[list[float]], int]:
    rows: list[list[float]] = []
    truncated = 0
    for start in range(0, len(texts), options.batch_size):
        batch = texts[start : start + options.batch_size]
        probs, cut = engine.predict(batch, batch_size=options.batch_size)
        truncated += cut
        rows.extend(p.tolist() for p in probs)
        if on_progress:
            on_progress(len(batch))
    return list(engine.labels), rows, truncated


def _by_nli(
    engine, texts, labels, options, on_progress
) -> tuple[list[str], list[list[float]], int]:
    names = [x.split("=", 1)[0].strip() for x in labels] if labels else list(SENTIMENT_LABELS)
    template = options.template or (NLI_TEMPLATE if labels else SENTIMENT_NLI_TEMPLATE)
    hypotheses = [template.format(n) for n in names]
    entail, contra = engine.entailment_id, engine.contradiction_id
    rows: list[list[float]] = []
    truncated = 0
    per_batch = max(1, options.batch_size // len(names))
    for start in range(0, len(texts), per_batch):
        batch = texts[start : start + per_batch]
        premises = [t for t in batch for _ in names]
        probs, cut = engine.predict_pairs(
            premises, hypotheses * len(batch), batch_size=options.batch_size
        )
        truncated += cut // len(names)
        for i in range(len(batch)):
            block = probs[i * len(names) : (i + 1) * len(names)]
            if options.multi_label and contra is not None:
                rows.append([float(b[entail] / (b[entail] + b[contra] + 1e-12)) for b in block])
            else:
                logits = [math.log(float(b[entail]) + 1e-12) for b in block]
                rows.append(_softmax(logits))
        if on_progress:
            on_progress(len(batch))
    return names, rows, truncated


def _language_warning(text: str, model: str, reads: tuple[str, ...]) -> list[str]:
    from .language import language_warning

    warning = language_warning(text, model, reads)
    return [warning] if warning else []


def _pick_method(model: str | None, options: ClassifyOptions, backend: Any) -> str:
    if options.method != "auto":
        return options.method
    if backend is not None:
        if hasattr(backend, "predict"):
            return "nli" if getattr(backend, "is_nli", False) else "sequence-classification"
        return "embedding"
    from ..models.registry import resolve

    resolved = resolve(model, task="classify")
    return "embedding" if resolved.format == ModelFormat.SENTENCE_TRANSFORMERS else "classifier"


def classify(
    texts: str | list[str],
    labels: str | list[str] | None = None,
    model: str | None = None,
    options: ClassifyOptions | None = None,
    *,
    backend: Any = None,
    on_progress: Callable[[int], None] | None = None,
    load_options: LoadOptions | None = None,
) -> ClassifyResult:
    """Classify one text or a batch. `labels=None` → sentiment (positive / negative).
    The model loads by `load_options` (LoadOptions), unless a `backend` is given."""
    items = [texts] if isinstance(texts, str) else list(texts)
    if not items:
        raise EmptyInputError("no texts to classify", hint='pass a text, e.g. "I love it"')
    if any(not isinstance(t, str) for t in items):
        raise InvalidOptionError("every text to classify must be a string", hint='e.g. ["a", "b"]')
    if len(items) == 1 and not items[0].strip():
        raise EmptyInputError("the text is empty", hint='pass some text, e.g. "I love it"')
    options = (options or ClassifyOptions()).validate()
    parsed = parse_labels(labels)
    began = time.perf_counter()
    method = _pick_method(model, options, backend)
    truncated = 0
    if method == "embedding":
        from .embed import get_embedder

        engine = backend or get_embedder(None, model, load_options)
        load_s = engine.load_seconds
        start = time.perf_counter()
        names, rows = _by_embedding(engine, items, parsed, options, on_progress)
        name = "zero-shot-embedding"
    else:
        if backend is not None:
            engine = backend
        else:
            from ..models import load_classifier

            load_options = load_options or LoadOptions()
            embedding_engine = load_options.engine
            if embedding_engine not in (None, "auto"):
                raise UsageError(
                    f"--engine {embedding_engine} picks the embedding engine; "
                    f"{model} is classified by its own head",
                    hint="drop --engine, or use a sentence-transformers model (zero-shot)",
                )
            engine = replace(load_options, engine=None).call(load_classifier, model)
        load_s = engine.load_seconds
        start = time.perf_counter()
        if method in ("nli", "classifier") and engine.is_nli:
            names, rows, truncated = _by_nli(engine, items, parsed, options, on_progress)
            name = "zero-shot-nli"
        elif method == "nli":
            raise UsageError(
                f"{engine.model_id} is not an NLI model (its labels: {', '.join(engine.labels)})",
                hint="pass an NLI model such as facebook/bart-large-mnli, or drop --method",
            )
        else:
            if parsed is not None:
                raise UsageError(
                    f"{engine.model_id} has fixed labels ({', '.join(engine.labels)}); "
                    "--labels needs a zero-shot method",
                    hint="drop --labels, use an NLI model (facebook/bart-large-mnli), "
                    "or drop --model for zero-shot embeddings",
                )
            names, rows, truncated = _by_classifier(engine, items, options, on_progress)
            name = "sequence-classification"
    seconds = time.perf_counter() - start
    results = []
    reads = languages_of(engine.model_id)
    for text, row in zip(items, rows, strict=True):
        scores = dict(zip(names, (float(x) for x in row), strict=True))
        best = max(scores, key=scores.__getitem__)
        warning = _language_warning(text, engine.model_id, reads)
        results.append(Classification(text, best, scores[best], scores, warning))
    result = ClassifyResult(
        items=results,
        labels=names,
        model=engine.model_id,
        revision=engine.revision,
        method=name,
        truncated=truncated,
        engine=getattr(engine, "engine", None),
        multi_label=options.multi_label and name == "zero-shot-nli",
        timings={
            "load_s": round(load_s, 3),
            "classify_s": round(seconds, 3),
            "total_s": round(time.perf_counter() - began, 3),
            "texts_per_s": round(len(items) / seconds, 1) if seconds > 0 else None,
        },
    )
    runlog.annotate(
        task="classify",
        model=engine.model_id,
        revision=engine.revision,
        device=engine.device,
        method=name,
        texts=len(items),
    )
    return result
