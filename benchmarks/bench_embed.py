"""Embeddings: `pretrained.embed` vs a bare sentence-transformers `encode` on the same texts.

Both load the embedded all-MiniLM-L6-v2 from the same folder (two instances in one process,
so both see the same machine state), same batch size, normalized vectors; runs alternate and
the median is reported. Ours also counts every text's tokens (to report texts longer than the
model reads), which is the overhead this figure shows. Peak RSS: `pretrained embed FILE` as a
command in a fresh process against a bare sentence-transformers script embedding the same file
line by line.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_serve import sentences
from benchmarks.run import PEAK_RSS_SOURCE, cli_peak_rss

TEXTS = int(os.environ.get("BENCH_EMBED_TEXTS", "200"))
BATCH = 32

_BARE = (
    PEAK_RSS_SOURCE
    + """
import json, sys
from sentence_transformers import SentenceTransformer
texts = [line for line in open(sys.argv[1]).read().splitlines() if line]
model = SentenceTransformer(sys.argv[2], device="cpu")
model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
print(json.dumps({"rss_mb": peak_rss_mib()}))
"""
)


def _peak_rss(code: str, *args: str) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["rss_mb"]


def run(args) -> list[dict]:
    from sentence_transformers import SentenceTransformer

    import pretrained
    from pretrained.models import load_embedder

    texts = sentences(TEXTS)
    ours_engine = load_embedder()
    folder = str(ours_engine.resolved.path)
    bare = SentenceTransformer(folder, device="cpu")
    pretrained.embed(texts[:8], backend=ours_engine)  # warm both (first batches allocate)
    bare.encode(texts[:8], batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)
    ours_t, bare_t = [], []
    for _ in range(max(1, args.repeat)):
        start = time.perf_counter()
        pretrained.embed(texts, backend=ours_engine)
        ours_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        bare.encode(texts, batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)
        bare_t.append(time.perf_counter() - start)
    rows = [
        {
            "name": f"embeddings/s ({len(texts)} quotes, batch {BATCH})",
            "ours": len(texts) / statistics.median(ours_t),
            "baseline": len(texts) / statistics.median(bare_t),
            "baseline_name": "bare sentence-transformers encode (same model)",
            "unit": "texts/s",
        }
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "quotes.txt"
        path.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n")
        rows.append(
            {
                "name": f"peak RSS: pretrained embed FILE ({len(texts)} quotes, chunked)",
                "ours": cli_peak_rss("embed", str(path), "--quiet"),
                "baseline": _peak_rss(_BARE, str(path), folder),
                "baseline_name": "bare sentence-transformers script (one text per line)",
                "unit": "MiB",
                "higher_is_better": False,
            }
        )
    return rows
