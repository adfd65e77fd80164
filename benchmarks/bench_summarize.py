"""Summarization quality and scale, each next to a baseline measured in the same run.

- ROUGE-1/2/L of the extractive summarizer vs LEAD-3 on ../shared/data/cnn_dailymail_val15.jsonl
  (3 sentences each, rouge-score with stemming, F1 × 100).
- Keyword coverage on the bundled almanac (20 unrelated essays): a 200-word summary vs the first
  1,024 tokens of the same text.
- A 1 MB document summarized extractively in a fresh process: wall time and peak RSS, next to
  the same process summarizing a 1 KB text (model load + imports, the fixed cost).
- Throughput in chars/s: extractive vs a bare sentence-transformers centroid summarizer;
  abstractive on the auto (fast) engine vs the transformers engine.
- The demo's abstractive summary of the 24 KB almanac (--words 80) on the engine `auto` picks
  here, side by side with the very same model calls (prompts, token limits, greedy) replayed
  on that engine called directly: our overhead over the raw engine.
- (BENCH_ABSTRACTIVE=1) a ~100 KB text through SmolLM2 map-reduce: chunks, depth, wall time (one run).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import PEAK_RSS_SOURCE

HERE = Path(__file__).resolve().parent
# ../shared/data beside the repository (CI), or wherever BENCH_DATA points (a worktree)
DATA = Path(os.environ.get("BENCH_DATA") or HERE.parent.parent / "shared" / "data")
CNN = DATA / "cnn_dailymail_val15.jsonl"
QUOTES = DATA / "english_quotes.jsonl"
KEYWORDS = ["glockenspiel", "narwhal", "saffron", "axolotl", "zeppelin", "obsidian", "tardigrade",
            "theremin", "fjord", "origami", "sextant", "kombucha", "bonsai", "monsoon", "papyrus",
            "lichen", "trebuchet", "sundial", "quinoa", "abacus"]  # fmt: skip

_CHILD = (
    PEAK_RSS_SOURCE
    + """
import json, sys, time
start = time.perf_counter()
from pretrained.sources import load_text
from pretrained.tasks.summarize import SummarizeOptions, summarize
doc = load_text(sys.argv[1])
from pretrained.models.load_options import LoadOptions
load = LoadOptions(engine=sys.argv[4]) if len(sys.argv) > 4 else None
result = summarize(doc, SummarizeOptions(mode=sys.argv[2], words=int(sys.argv[3])), load_options=load)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "rss_mb": peak_rss_mib(),
                  "result": result.to_dict()}))
"""
)


def almanac() -> str:
    from importlib.resources import files

    return (files("pretrained") / "data" / "almanac.md").read_text()


def big_document(size: int) -> str:
    """Varied prose from the shared data (news articles, quotes, the almanac) to `size` bytes."""
    parts = [json.loads(line)["article"] for line in CNN.read_text().splitlines() if line.strip()]
    quotes = [json.loads(line)["text"].strip('“”" ') for line in QUOTES.read_text().splitlines()]
    for i in range(0, len(quotes), 8):
        parts.append(" ".join(quotes[i : i + 8]))
    parts.append(almanac())
    out, total, i = [], 0, 0
    while total < size:
        part = parts[i % len(parts)]
        out.append(part)
        total += len(part.encode()) + 2
        i += 1
    return "\n\n".join(out)[:size]


def run_child(path: Path, mode: str, words: int, *engine: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), mode, str(words), *engine],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rouge_rows() -> list[dict]:
    from pretrained.tasks.summarize import SummarizeOptions
    from pretrained.tasks.summary_eval import METRICS, NAMES, evaluate_summaries

    result = evaluate_summaries(CNN, SummarizeOptions(mode="extractive", sentences=3))
    return [
        {
            "name": f"{NAMES[m]} extractive, CNN/DM val ×{result.n}",
            "ours": result.ours[m],
            "baseline": result.baseline[m],
            "baseline_name": "LEAD-3",
            "unit": "F1×100",
        }
        for m in METRICS
    ]


def coverage_row() -> dict:
    from pretrained.models import load_embedder
    from pretrained.tasks.summarize import SummarizeOptions, summarize

    texts = [s.strip() for s in re.split(r"^## .*$", almanac(), flags=re.M)[1:]]
    document = "\n\n".join(texts)
    spans = load_embedder().token_offsets(document)
    first = document[: spans[1023][1]]  # the first 1,024 tokens
    summary = summarize(document, SummarizeOptions(mode="extractive", words=200)).summary
    return {
        "name": "keywords covered of 20 (200-word summary)",
        "ours": sum(k in summary.lower() for k in KEYWORDS),
        "baseline": sum(k in first.lower() for k in KEYWORDS),
        "baseline_name": "first 1,024 tokens",
        "unit": "keywords",
    }


def scale_rows(repeat: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.txt", Path(tmp) / "small.txt"
        big.write_text(big_document(1_000_000))
        small.write_text(big_document(1_000))
        runs_big = [run_child(big, "extractive", 250) for _ in range(repeat)]
        runs_small = [run_child(small, "extractive", 50) for _ in range(repeat)]
    levels = runs_big[0]["result"]["levels"][0]
    note = f"{levels['sentences']} sentences, {levels['candidates']} embedded"
    return [
        {
            "name": "1 MB extractive: wall time incl. imports + load",
            "ours": statistics.median(r["seconds"] for r in runs_big),
            "baseline": statistics.median(r["seconds"] for r in runs_small),
            "baseline_name": "same on a 1 KB text",
            "unit": "s",
            "higher_is_better": False,
            "note": note,
        },
        {
            "name": "1 MB extractive: peak RSS",
            "ours": statistics.median(r["rss_mb"] for r in runs_big),
            "baseline": statistics.median(r["rss_mb"] for r in runs_small),
            "baseline_name": "same on a 1 KB text",
            "unit": "MB",
            "higher_is_better": False,
        },
    ]


def speed_rows(repeat: int) -> list[dict]:
    """Summarization throughput in characters per second of input, warm models.

    Extractive: ours on a 60 KB document vs the textbook embedding summarizer written with
    bare sentence-transformers (embed every sentence, keep those closest to the centroid), same
    model, same process, alternating. Abstractive: the same 4 KB text summarized with the
    auto engine vs --engine transformers, each in its own process (model calls only)."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from pretrained.models import load_embedder
    from pretrained.tasks.chunking import split_sentences
    from pretrained.tasks.summarize import SummarizeOptions, summarize

    text = big_document(60_000)
    embedder = load_embedder()
    bare = SentenceTransformer(str(embedder.resolved.path), device="cpu")

    def naive() -> str:
        sentences = [s.text for s in split_sentences(text)]
        vectors = bare.encode(sentences, batch_size=32, normalize_embeddings=True)
        centroid = vectors.mean(0)
        best = sorted(np.argsort(-(vectors @ centroid))[:10])
        return " ".join(sentences[i] for i in best)

    options = SummarizeOptions(mode="extractive", sentences=10)
    summarize(text[:5_000], options, embedder=embedder)  # warm both
    naive_t, ours_t = [], []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        summarize(text, options, embedder=embedder)
        ours_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        naive()
        naive_t.append(time.perf_counter() - start)
    rows = [
        {
            "name": "extractive chars/s (60 KB, 10 sentences)",
            "ours": len(text) / statistics.median(ours_t),
            "baseline": len(text) / statistics.median(naive_t),
            "baseline_name": "bare sentence-transformers: every sentence, nearest the centroid",
            "unit": "chars/s",
        }
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "4k.txt"
        path.write_text(big_document(4_000))
        runs = {"auto": [], "transformers": []}
        for _ in range(max(1, repeat // 3)):
            for engine in runs:
                runs[engine].append(run_child(path, "abstractive", 60, engine))
    speed = {
        engine: statistics.median(4_000 / r["result"]["timings"]["generate_s"] for r in results)
        for engine, results in runs.items()
    }
    first = runs["auto"][0]["result"]
    rows.append(
        {
            "name": f"abstractive chars/s (4 KB, 60 words, auto engine: {first['engine']})",
            "ours": speed["auto"],
            "baseline": speed["transformers"],
            "baseline_name": "the same summarizer on --engine transformers",
            "unit": "chars/s",
            "note": "; ".join(
                f"{engine}: {r['result']['chunks']} chunk(s), "
                f"{r['result']['timings']['model_calls']} call(s), "
                f"{r['result']['timings']['new_tokens']} new tokens"
                for engine, results in runs.items()
                for r in results[:1]
            ),
        }
    )
    return rows


# One process: summarize the almanac as the demo does, recording every backend call, then replay
# the same calls (same prompt token ids, same limits, greedy) on the raw engine. Both warm.
_REPLAY = """
import json, sys, time
import pretrained
from pretrained.models.backends.base import SamplingParams
from pretrained.tasks.summarize import SummarizeOptions, summarize
text = open(sys.argv[1]).read()
backend = pretrained.load("smollm2-135m-instruct", task="summarize")  # as the CLI does
calls, real = [], backend.generate
def recording(prompts, params, **kw):
    calls.append((list(prompts), params, kw))
    return real(prompts, params, **kw)
options = SummarizeOptions(mode="abstractive", words=80)
summarize(text[:3000], options, backend=backend)  # warm-up (not timed, not replayed)
calls.clear()
backend.generate = recording
began = time.perf_counter()
result = summarize(text, options, backend=backend)
ours = time.perf_counter() - began
backend.generate = real
tok = backend.tokenizer
def ids(prompt, kw):
    return tok.encode(prompt, kw.get("add_special_tokens", True))
began = time.perf_counter()
for prompts, params, kw in calls:
    encoded = [ids(p, kw) for p in prompts]
    if backend.engine == "ctranslate2":
        backend.generator.generate_batch(
            [tok.tokens(e) for e in encoded], max_length=params.max_new_tokens,
            sampling_topk=1, include_prompt_in_result=False,
            repetition_penalty=params.repetition_penalty, end_token=tok.eos_ids or None)
    elif backend.engine == "llama.cpp":
        body = {"prompt": encoded if len(encoded) > 1 else encoded[0],
                "max_tokens": params.max_new_tokens, "stream": False, "cache_prompt": False,
                "temperature": 0.0, "top_k": 1, "repeat_penalty": params.repetition_penalty,
                "repeat_last_n": backend.context_length, "min_p": 0.0}
        for chunk in backend._chunks(encoded, params.max_new_tokens):
            backend.server.handle_completions({**body, "prompt": chunk if len(chunk) > 1 else chunk[0]})
    else:
        real(prompts, params, **kw)
raw = time.perf_counter() - began
print(json.dumps({"ours": ours, "raw": raw, "engine": f"{backend.engine} {backend.dtype}",
                  "calls": sum(len(c[0]) for c in calls), "result": result.to_dict()}))
"""


def abstractive_raw_row() -> dict:
    """The demo's abstractive summary (24 KB almanac, 80 words): ours vs the raw engine."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "almanac.md"
        path.write_text(almanac())
        proc = subprocess.run(
            [sys.executable, "-c", _REPLAY, str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            check=True,
        )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    timings = out["result"]["timings"]
    return {
        "name": f"demo abstractive summary, 24 KB almanac, 80 words ({out['engine']})",
        "ours": out["ours"],
        "baseline": out["raw"],
        "baseline_name": "the same model calls on the raw engine",
        "unit": "s",
        "higher_is_better": False,
        "note": f"{out['calls']} model calls, {timings.get('prompt_tokens')} prompt tokens, "
        f"{timings.get('new_tokens')} new tokens",
    }


def abstractive_row() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "100k.txt"
        path.write_text(big_document(100_000))
        began = time.perf_counter()
        out = run_child(path, "abstractive", 150)
        wall = time.perf_counter() - began
    result = out["result"]
    return {
        "name": "100 KB abstractive map-reduce (SmolLM2), 1 run",
        "ours": wall,
        "unit": "s",
        "higher_is_better": False,
        "note": f"{result['chunks']} chunks, depth {result['depth']}, "
        f"{result['timings']['model_calls']} model calls",
    }


def run(args) -> list[dict]:
    if not CNN.exists():
        raise FileNotFoundError(f"{CNN} is missing (benchmarks read ../shared/data)")
    rows = rouge_rows()
    rows.append(coverage_row())
    rows.extend(scale_rows(1))  # one fresh process each: seconds apart, not percent
    rows.extend(speed_rows(max(1, min(args.repeat, 2))))
    rows.append(abstractive_raw_row())
    if os.environ.get("BENCH_ABSTRACTIVE") == "1":
        rows.append(abstractive_row())
    return rows
