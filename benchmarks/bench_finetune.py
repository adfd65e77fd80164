"""Fine-tuning: `pretrained finetune` vs a plain TRL `SFTTrainer` script (trl_baseline.py).

LoRA on the embedded SmolLM2-135M-Instruct with ../shared/data/english_quotes.jsonl rendered as
`Quote by {author}: {text}` + EOS, a fixed step budget, on CPU. Same model weights (the GGUF
converted once to safetensors), same rows, same 50 held-out rows, same LoRA r/alpha/dropout and
target modules, same learning rate, batch size, schedule, seed and max length.

Each side runs as its own process, one after the other, so wall time and peak RSS are the whole
job's (start → exit: imports, loading, evaluation before, training, evaluation after, saving).
Peak RSS is the child's ru_maxrss from wait4 (in a small launcher process). Eval loss is each tool's own held-out loss;
stop rate is the share of 10 greedy samples ("Quote by <author>:", ≤ 64 new tokens, repetition
penalty 1.1 on both sides) that end with EOS.

The budget is small so that the pair fits in a few minutes of a shared 2-core machine: 16 steps
of batch 4 (64 of the 2,888 training rows), max length 128 (p95 of the quotes is 117 tokens).
That is enough for the format (the "Quote by …:" prefix, EOS after the quote) to be learned: the
held-out loss drops by a quarter and every sample stops. Both sides run with one OpenMP thread by default: on an oversubscribed
machine two spinning OpenMP threads make torch 5-15× slower than one (measured here).

What each side does by default is kept: ours computes the loss in chunks from hidden states
(no full-vocabulary logits), turns gradient checkpointing on when the longest batch's
activations would outweigh the weights (it does at batch 4 × 128 on SmolLM2: less memory, more
time per step), and samples the base model before training on the engine this machine's
calibration chose (float32 transformers when there is no verdict); the TRL script runs
SFTTrainer as its docs show it. Ours runs with --no-eval-cache, so a repeated pair measures the
evaluation before training each time, as the baseline does.

Settings (environment): BENCH_FINETUNE_STEPS (default 16), BENCH_FINETUNE_REPEAT (pairs of runs,
default 1), BENCH_FINETUNE_THREADS (OMP/MKL threads for both sides; default 1, "auto" = torch's
choice), BENCH_FINETUNE_DATA (the quotes file). Per-run details go to finetune_detail.json.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATE = "Quote by {author}: {text}"
SETTINGS = {
    "max_steps": int(os.environ.get("BENCH_FINETUNE_STEPS", "16")),
    "batch_size": 4,
    "lr": 1e-3,
    "max_length": 128,
    "val_size": 50,
    "num_samples": 10,
    "sample_max_new_tokens": 64,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "seed": 42,
}


def find_data() -> Path | None:
    override = os.environ.get("BENCH_FINETUNE_DATA")
    if override:
        return Path(override)
    for parent in (ROOT.parent, *ROOT.parents):
        candidate = parent / "shared" / "data" / "english_quotes.jsonl"
        if candidate.exists():
            return candidate
    return None


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str, str]:
    """(wall seconds, peak RSS bytes, stdout, stderr) of one child process."""
    from benchmarks.run import wait4_peak_rss

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        # through a small launcher: ru_maxrss of a direct child of this (large) process would
        # start from this process's size
        status, peak = wait4_peak_rss(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if status != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({status}): {stderr[-1500:]}")
    return wall, peak, stdout, stderr


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def run(args) -> list[dict]:
    from pretrained.models.loading import prepare
    from pretrained.models.registry import resolve

    data = find_data()
    if data is None or not data.exists():
        print("   skipped: english_quotes.jsonl not found (set BENCH_FINETUNE_DATA)")
        return []
    model_dir = prepare(resolve("smollm2-135m-instruct")).path  # convert once, outside the timing
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    threads = os.environ.get("BENCH_FINETUNE_THREADS", "1")
    if threads == "auto":
        threads = None
    if threads:
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    s = SETTINGS
    flags = [a for key, value in s.items() for a in (_flag(key), str(value))]
    work = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    ours_cmd = [
        sys.executable, "-m", "pretrained", "finetune", str(data),
        "--model", "smollm2-135m-instruct", "--template", TEMPLATE,
        "--output-dir", str(work / "ours"), "--name", "quotes", "--json", "--quiet",
        "--no-eval-cache", *flags,
    ]  # fmt: skip
    base_cmd = [
        sys.executable, str(HERE / "trl_baseline.py"), "--model", str(model_dir),
        "--data", str(data), "--output-dir", str(work / "trl"), "--template", TEMPLATE, *flags,
    ]  # fmt: skip

    # Alternating order (baseline first, then ours first, …) so slow drift of a shared machine
    # does not favour one side; medians over BENCH_FINETUNE_REPEAT pairs (default 1).
    repeat = int(os.environ.get("BENCH_FINETUNE_REPEAT", "1"))
    walls: dict[str, list[float]] = {"ours": [], "base": []}
    rsses: dict[str, list[int]] = {"ours": [], "base": []}
    outs: dict[str, str] = {}
    for i in range(repeat):
        order = [("base", base_cmd), ("ours", ours_cmd)]
        for side, cmd in order if i % 2 == 0 else order[::-1]:
            shutil.rmtree(work / ("ours" if side == "ours" else "trl"), ignore_errors=True)
            wall, rss, out, _ = timed(cmd, env)
            walls[side].append(wall)
            rsses[side].append(rss)
            outs[side] = out
            print(f"   {side}: {wall:.0f} s, peak RSS {rss / 2**30:.2f} GiB", flush=True)
    o_wall, b_wall = statistics.median(walls["ours"]), statistics.median(walls["base"])
    o_rss, b_rss = statistics.median(rsses["ours"]), statistics.median(rsses["base"])
    theirs = json.loads(outs["base"].strip().splitlines()[-1])
    ours = json.loads(outs["ours"])
    drop_o = 1 - ours["after"]["eval_loss"] / ours["before"]["eval_loss"]
    drop_b = 1 - theirs["after"]["eval_loss"] / theirs["before"]["eval_loss"]
    note = f"{s['max_steps']} LoRA steps, batch {s['batch_size']}, CPU" + (
        f", {threads} thread(s)" if threads else ""
    )
    base = {"baseline_name": "TRL SFTTrainer script", "note": note}
    rows = [
        {"name": "wall time, whole job", "ours": o_wall, "baseline": b_wall, "unit": "s",
         "higher_is_better": False, **base},
        {"name": "peak RSS", "ours": o_rss / 2**30, "baseline": b_rss / 2**30, "unit": "GiB",
         "higher_is_better": False, **base},
        {"name": "eval loss before", "ours": ours["before"]["eval_loss"],
         "baseline": theirs["before"]["eval_loss"], "unit": "nats/token", "ratio": None, **base},
        {"name": "eval loss after", "ours": ours["after"]["eval_loss"],
         "baseline": theirs["after"]["eval_loss"], "unit": "nats/token",
         "higher_is_better": False, **base},
        {"name": "eval loss drop", "ours": 100 * drop_o, "baseline": 100 * drop_b, "unit": "%",
         **base},
        {"name": "stop rate before", "ours": 100 * ours["before"]["stop_rate"],
         "baseline": 100 * theirs["before"]["stop_rate"], "unit": "%", "ratio": None, **base},
        {"name": "stop rate after", "ours": 100 * ours["after"]["stop_rate"],
         "baseline": 100 * theirs["after"]["stop_rate"], "unit": "%", **base},
        {"name": "step time (training only)",
         "ours": ours["timings"]["train_s"] / max(1, ours["steps"]),
         "baseline": theirs["train_s"] / max(1, theirs["steps"]), "unit": "s/step",
         "higher_is_better": False, **base},
        {"name": "optimizer steps", "ours": ours["steps"], "baseline": theirs["steps"],
         "unit": "steps", "ratio": None, **base},
    ]  # fmt: skip
    detail = {
        "settings": s,
        "threads": threads,
        "wall_s": walls,
        "peak_rss_bytes": rsses,
        "ours": {k: ours[k] for k in ("timings", "steps", "before", "after", "run_dir")},
        "baseline": theirs,
    }
    (Path(args.out) / "finetune_detail.json").write_text(json.dumps(detail, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)  # two run folders with checkpoints: ≈160 MB
    return rows
