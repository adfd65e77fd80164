"""Cold start: `pretrained classify "I love it"` as a whole new process against a bare
sentence-transformers script doing the same work in a new process — the same text, the same
embedded all-MiniLM-L6-v2 folder, the same label descriptions (tasks/classify.SENTIMENT: each
label's normalized description vectors averaged, cosine to the text, softmax at the same
temperature). Wall time from exec to exit, both sides alternating, median of the rounds.

Ours runs on the CPU engine `auto` picks (CTranslate2 float32, converted into the cache on
first use: one untimed warm-up run does that, loading the same torch and sentence-transformers
files the bare script reads). Three rounds keep the suite under a minute on a quiet 2-core
machine. The row records the CPU model, ISA flags and load average.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEXT = "I love it"

_BARE = """
import json, sys
import numpy as np
from sentence_transformers import SentenceTransformer
folder, text, labels, temperature = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4])
prefix = sys.argv[5]
model = SentenceTransformer(folder, device="cpu")
names = list(labels)
flat = [d for name in names for d in labels[name]]
vectors = model.encode(flat, normalize_embeddings=True, show_progress_bar=False)
rows, i = [], 0
for name in names:
    mean = vectors[i : i + len(labels[name])].mean(axis=0)
    rows.append(mean / np.linalg.norm(mean))
    i += len(labels[name])
query = model.encode([prefix + text], normalize_embeddings=True, show_progress_bar=False)[0]
sims = np.stack(rows) @ query / temperature
p = np.exp(sims - sims.max())
p /= p.sum()
print(f"{names[int(p.argmax())]}\\t{p.max():.3f}")
"""


def cpu_info() -> dict:
    """CPU model and ISA flags, as the engine calibration reads them (one reader for both)."""
    from pretrained.models.calibrate import cpu_info as calibration_cpu

    cpu = calibration_cpu()
    return {"cpu": cpu["model"], "isa": cpu["isa"], "cores": os.cpu_count()}


def _timed(cmd: list[str]) -> tuple[float, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=HERE.parent)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {proc.stderr[-500:]}")
    return seconds, proc.stdout.strip()


def run(args) -> list[dict]:
    from pretrained.models.registry import resolve
    from pretrained.tasks.classify import SENTIMENT_PREFIX, ClassifyOptions, sentiment_examples

    folder = str(resolve("minilm-l6", task="classify").path)
    ours_cmd = [sys.executable, "-m", "pretrained.cli", "classify", TEXT, "--quiet"]
    bare_cmd = [
        sys.executable,
        "-c",
        _BARE,
        folder,
        TEXT,
        json.dumps({label: list(examples) for label, examples in sentiment_examples().items()}),
        str(ClassifyOptions().temperature),
        SENTIMENT_PREFIX,
    ]
    _timed(ours_cmd)  # first use: the conversion into the cache (not timed; it loads torch)
    ours, bare = [], []
    for _ in range(max(1, min(args.repeat, 3))):
        seconds, ours_out = _timed(ours_cmd)
        ours.append(seconds)
        seconds, bare_out = _timed(bare_cmd)
        bare.append(seconds)
    if ours_out.split("\t")[0] != bare_out.split("\t")[0]:
        raise RuntimeError(f"different labels: ours {ours_out!r}, bare script {bare_out!r}")
    return [
        {
            "name": f'classify cold start: whole process vs bare sentence-transformers script ("{TEXT}")',
            "ours": statistics.median(ours),
            "baseline": statistics.median(bare),
            "baseline_name": "bare sentence-transformers script (same text, model, label examples)",
            "unit": "s",
            "higher_is_better": False,
            "rounds": {
                "ours_s": [round(t, 3) for t in ours],
                "bare_s": [round(t, 3) for t in bare],
            },
            "outputs": {"ours": ours_out, "bare": bare_out},
            "load_average": [round(x, 2) for x in os.getloadavg()],
            **cpu_info(),
        }
    ]
