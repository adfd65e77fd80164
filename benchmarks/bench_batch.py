"""Batch throughput: `pretrained batch` (local engine, batched model calls, committed chunks)
vs a naive loop that calls the task one row at a time and appends each result to a JSONL file;
then the Ray engine with 2 local workers vs the local engine on the same rows.

All figures are end to end (model load, reading the input, writing the output), rows/s,
medians over repetitions (Ray: its start-up and the actors' model loads are included; that is
what a user waits for on one machine). On a 2-core laptop Ray competes with itself for the
same cores, so expect it to lose there; its point is running on more machines (on fewer than
4 cores the Ray row runs only with BENCH_RAY=1).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.run import median_of

ROWS = int(os.environ.get("BENCH_BATCH_ROWS", "400"))  # larger for steadier figures
# Ray on one 2-core machine only competes with itself (and its start-up costs minutes of the
# 15-minute suite): by default it runs where there are cores to spread over, or when asked.
RAY = os.environ.get("BENCH_RAY", "1" if (os.cpu_count() or 1) >= 4 else "0") == "1"
WORDS = {
    "good": ["great", "wonderful", "excellent", "lovely", "superb", "fantastic", "solid"],
    "bad": ["awful", "broken", "terrible", "useless", "disappointing", "cheap", "flimsy"],
    "thing": ["phone", "blender", "jacket", "novel", "headset", "chair", "kettle"],
}


def _reviews(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        mood = rng.choice(["good", "bad"])
        out.append(
            f"The {rng.choice(WORDS['thing'])} is {rng.choice(WORDS[mood])}, "
            f"really {rng.choice(WORDS[mood])} for the price."
        )
    return out


def _task():
    """classify (zero-shot by embeddings with MiniLM); embed where the text capability is absent."""
    from pretrained.jobs.batch_tasks import TASKS

    return "classify" if "classify" in TASKS else "embed"


def _naive(task: str, texts: list[str], out: Path) -> None:
    """The loop people write first: load once, one row per model call, append to JSONL."""
    from pretrained.jobs.batch_tasks import ModelSpec, get_task

    adapter = get_task(task)
    runner = adapter.load(ModelSpec(name=None), adapter.make_options({}))
    with out.open("w") as fh:
        for i, text in enumerate(texts):
            row = runner.run([text], seed_key=i)[0]
            fh.write(json.dumps({"id": i, **row}) + "\n")


def run(args) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pretrained.jobs.batch import BatchOptions, run_batch
    from pretrained.models.loading import prepare
    from pretrained.models.registry import resolve

    task = _task()
    prepare(resolve(None, task="embedding"))
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    texts = _reviews(ROWS)
    source = work / "reviews.parquet"
    pq.write_table(pa.table({"text": texts}), source)
    try:
        counter = iter(range(10**6))

        def local() -> None:
            out = work / f"local-{next(counter)}.parquet"
            run_batch(task, str(source), out, options=BatchOptions(batch_size=64, chunk_size=500))

        def naive() -> None:
            _naive(task, texts, work / f"naive-{next(counter)}.jsonl")

        local()  # warm caches (file system, imports)
        t_local, _ = median_of(local, args.repeat)
        t_naive, _ = median_of(naive, 1)  # 5-10× slower per row: once
        rows = [
            {
                "name": f"batch {task} rows/s, local engine vs one row at a time ({ROWS} rows)",
                "ours": ROWS / t_local,
                "baseline": ROWS / t_naive,
                "baseline_name": "naive loop, 1 row per model call",
                "unit": "rows/s",
            }
        ]
        if not RAY:
            return rows
        ray_times = []
        for _ in range(max(1, min(args.repeat, 2))):
            out = work / f"ray-{next(counter)}.parquet"
            start = time.perf_counter()
            run_batch(
                task,
                str(source),
                out,
                options=BatchOptions(batch_size=64, chunk_size=500, engine="ray", num_workers=2),
            )
            ray_times.append(time.perf_counter() - start)
        t_ray = sorted(ray_times)[len(ray_times) // 2]
        rows.append(
            {
                "name": f"batch {task} rows/s, Ray 2 local workers vs local engine ({ROWS} rows)",
                "ours": ROWS / t_ray,
                "baseline": ROWS / t_local,
                "baseline_name": "pretrained batch --engine local",
                "unit": "rows/s",
                "note": "Ray start-up and 2 actor model loads included; 2 CPU cores shared",
            }
        )
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
