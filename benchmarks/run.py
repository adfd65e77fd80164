"""`make bench`: every benchmark in this folder, each figure side by side with its baseline.

Each `bench_*.py` module defines `run(args) -> list[dict]` returning rows like
    {"suite": "generate", "name": "tok/s batch 1", "ours": 25.1, "baseline": 24.8,
     "baseline_name": "transformers model.generate", "unit": "tok/s", "ratio": 1.01, ...}
Results go to benchmarks/results.json and benchmarks/results.md (and a PNG chart when
matplotlib is installed). Timings are medians over repetitions; tests never assert them.
"""

from __future__ import annotations

import argparse
import compileall
import importlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


# Peak RSS of a benchmark child, measured inside it. `ru_maxrss` does not work for children of
# this process: Linux carries the forked copy's resident size over exec, so once this process
# has loaded a model every child reports at least that much. VmHWM is the peak of the child's
# own address space after exec. Prepend this to a child's code and call peak_rss_mib().
PEAK_RSS_SOURCE = """
def peak_rss_mib():
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):  # not Linux: ru_maxrss (KiB on Linux, bytes on macOS)
        import resource, sys
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024
"""
# `python -c CLI_RSS ARGS…` runs `pretrained ARGS…` and prints "PEAK_RSS_MIB <n>" on stderr last.
CLI_RSS = (
    PEAK_RSS_SOURCE
    + """
import atexit, sys
atexit.register(lambda: print(f"PEAK_RSS_MIB {peak_rss_mib():.1f}", file=sys.stderr))
from pretrained.cli.main import run
sys.argv = ["pretrained", *sys.argv[1:]]
run()
"""
)


# `python -c WAIT4 OUT CMD…`: runs CMD (stdin/stdout/stderr passed through) and writes its exit
# status and ru_maxrss (KiB) to the file OUT. This small process is what forks CMD, so CMD's
# ru_maxrss starts from a few MiB instead of from the size of the benchmark process.
WAIT4 = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as fh:
    json.dump({"status": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}, fh)
"""


def wait4_peak_rss(cmd: list[str], **popen) -> tuple[int, int]:
    """Run `cmd` (Popen keyword arguments as usual) → (exit status, peak RSS in bytes)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "wait4.json"
        subprocess.run([sys.executable, "-c", WAIT4, str(report), *cmd], check=False, **popen)
        data = json.loads(report.read_text())
    return data["status"], data["maxrss_kib"] * 1024


def peak_rss_of(cmd: list[str], stdin: str | None = None) -> float:
    """Run a command whose last stderr line is "PEAK_RSS_MIB <n>" (see CLI_RSS) → n."""
    import subprocess

    proc = subprocess.run(
        cmd,
        input=stdin or "",
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        cwd=HERE.parent,
    )
    last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    if proc.returncode != 0 or not last.startswith("PEAK_RSS_MIB "):
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {proc.stderr[-500:]}")
    return float(last.split()[1])


def cli_peak_rss(*args: str, stdin: str | None = None) -> float:
    """Peak RSS (MiB) of `pretrained ARGS…` run as a new process (offline)."""
    return peak_rss_of([sys.executable, "-c", CLI_RSS, *args], stdin)


def median_of(fn, repeat: int) -> tuple[float, list[float]]:
    """Run fn() `repeat` times; return (median seconds, all seconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def machine() -> dict:
    """The machine the figures come from: CPU model and ISA flags (the engines' speed and even
    their correctness depend on them), and the engine calibration table measured on it."""
    import psutil

    from pretrained.models import calibrate

    cpu = calibrate.cpu_info()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu,
        # a shared machine: how busy it was when the figures were written
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
        "calibration": calibrate.table_rows(),
    }


def write_markdown(rows: list[dict], path: Path, where: dict | None = None) -> None:
    lines = []
    if where:
        cpu = where["cpu"]
        lines += [
            f"Machine: {cpu['model']} ({cpu['arch']}, {cpu['threads']} threads), "
            f"{where['ram_gb']} GiB; ISA: {', '.join(cpu['isa']) or '-'}"
            + (f"; env: {cpu['env']}" if cpu.get("env") else "")
            + (f"; load average {where['load_average']}" if where.get("load_average") else ""),
            "",
        ]
        if where.get("calibration"):
            lines += [
                "Engine calibration on this CPU (`pretrained models calibrate`):",
                "",
                "| model | engine | decode tok/s | prefill tok/s | agreement | path margin "
                "| canary | chosen |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for c in where["calibration"]:
                lines.append(
                    f"| {c['model']} | {c['engine']} | {c['decode_tok_s'] or '-'} | "
                    f"{c['prefill_tok_s'] or '-'} | {c['agreement']} | {c.get('path_margin')} | "
                    f"{c['canary']} | "
                    + ", ".join((["yes"] if c["chosen"] else []) + c.get("chosen_for", []))
                    + " |"
                )
            lines.append("")
    fresh = [r for r in rows if not r.get("stale")]
    lines += _row_table(fresh)
    stale = [r for r in rows if r.get("stale")]
    for note in dict.fromkeys(r["stale"] for r in stale):  # kept, by where/when measured
        lines += ["", f"Not rerun this time ({note}):", ""]
        lines += _row_table([r for r in stale if r["stale"] == note])
    path.write_text("\n".join(lines) + "\n")


def _row_table(rows: list[dict]) -> list[str]:
    lines = [
        "| suite | figure | pretrained | baseline | baseline is | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ours = f"{r['ours']:.3g} {r.get('unit', '')}".strip()
        base = (
            f"{r['baseline']:.3g} {r.get('unit', '')}".strip()
            if r.get("baseline") is not None
            else "-"
        )
        ratio = f"{r['ratio']:.2f}×" if r.get("ratio") is not None else "-"
        lines.append(
            f"| {r['suite']} | {r['name']} | {ours} | {base} | {r.get('baseline_name', '-')} | {ratio} |"
        )
    return lines


def write_chart(rows: list[dict], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rated = [r for r in rows if r.get("ratio")]
    if not rated:
        return
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rated) + 1))
    ax.barh(
        [f"{r['suite']}: {r['name']}" for r in rated], [r["ratio"] for r in rated], color="#4c72b0"
    )
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("pretrained / baseline (higher is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def kept_rows(path: Path, rerun: set[str], note: str) -> list[dict]:
    """The rows of `path` whose suite was not rerun, each marked stale (an earlier note wins)."""
    old = json.loads(path.read_text()).get("rows", [])
    return [{**r, "stale": r.get("stale") or note} for r in old if r["suite"] not in rerun]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated suite names (bench_<name>.py)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(HERE))
    parser.add_argument(
        "--keep",
        metavar="NOTE",
        help="keep the rows of the suites not run from the existing results.json, marked "
        "stale with NOTE (where and when they were measured; with --only they are kept anyway, "
        "noted with the date)",
    )
    args = parser.parse_args()
    names = sorted(p.stem[len("bench_") :] for p in HERE.glob("bench_*.py"))
    if args.only:
        wanted = set(args.only.split(","))
        names = [n for n in names if n in wanted]
    # a user's Python writes the sources' bytecode on first use; where PYTHONDONTWRITEBYTECODE
    # is set it never does, and every whole-process run would time ~50 recompiles
    compileall.compile_dir(HERE.parent / "src", quiet=1)
    rows: list[dict] = []
    failures = 0
    for name in names:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        start = time.time()
        try:
            got = module.run(args)
        except Exception as exc:  # one broken suite must not hide the others
            failures += 1
            print(f"   failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        for row in got:
            row.setdefault("suite", name)
            if row.get("baseline") and "ratio" not in row and row.get("ours") is not None:
                higher = row.get("higher_is_better", True)
                row["ratio"] = (
                    row["ours"] / row["baseline"] if higher else row["baseline"] / row["ours"]
                )
            print(
                f"   {row['name']}: ours {row['ours']:.4g} vs {row.get('baseline_name', '-')} "
                f"{row.get('baseline') if row.get('baseline') is not None else '-'} {row.get('unit', '')}",
                flush=True,
            )
        rows.extend(got)
        print(f"   ({time.time() - start:.0f}s)", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keep = args.keep or (
        args.only and f"not rerun on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )  # --only never drops the other suites' rows
    if keep and (out / "results.json").exists():
        rows += kept_rows(out / "results.json", {r["suite"] for r in rows} | set(names), keep)
    where = machine()
    (out / "results.json").write_text(json.dumps({"machine": where, "rows": rows}, indent=2) + "\n")
    write_markdown(rows, out / "results.md", where)
    write_chart(rows, out / "results.png")
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
