"""Threads for CPU engines that OpenMP runs (llama.cpp): how many, and how they wait.

`cpu_threads` is the machine's size (the CPUs this process may use: part of the calibration
key); `watch_free_cpus` / `free_cpu_threads` the cores free right now, for llama.cpp's
threads. Importing this module sets llama.cpp's OpenMP wait policy (below).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

# llama.cpp's CPU threads meet at a barrier after every operation, and how they wait there
# decides its speed. Measured on a 2-vCPU Xeon VM, batch 1, tok/s (docs/performance.md, "How
# llama.cpp's threads wait"; the embedded model requantized to Q4_0 — the shipped Q4_1 file
# moves alike, quiet: 28 passive, 82-90 spinning):
#
#                       quiet machine   one other busy process   two other busy processes
#   2 threads, passive       31                 46                     15-46
#   2 threads, spin ≤1000    105                33                     28-39
#   2 threads, spin (GOMP)   112                18                     29
#   1 thread                 60                 50                     33-35
#
# Passive waiting (futex sleep) pays a wake-up per barrier — on a VM an idle vCPU halts and
# wakes through the hypervisor: 3.5× slower on a quiet machine. Spinning is fastest while each
# thread has a core to itself and collapses when a thread is descheduled mid-barrier. So the
# threads are the cores that are free right now (free_cpu_threads: measured at load time, at
# least one), and they spin briefly (GOMP_SPINCOUNT=1000: never the collapse when the
# measurement misses a load that comes later). Set before libgomp starts; a user's
# OMP_WAIT_POLICY / GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")


def _allowed_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return list(range(os.cpu_count() or 1))


def cpu_threads() -> int:
    """The CPUs this process may use (the machine's size: part of the calibration key)."""
    return max(1, len(_allowed_cpus()))


def _cpu_ticks(cpus: list[int]) -> tuple[int, int] | None:
    """(busy, total) clock ticks of `cpus` so far, from /proc/stat; None where there is none."""
    wanted = {f"cpu{n}" for n in cpus}
    busy = total = 0
    try:
        with open("/proc/stat") as fh:
            for line in fh:
                name, *fields = line.split()
                if name not in wanted:
                    continue
                # user nice system idle iowait irq softirq steal
                ticks = [int(f) for f in fields[:8]]
                total += sum(ticks)
                busy += sum(ticks) - ticks[3] - ticks[4]
    except (OSError, ValueError):
        return None
    return (busy, total) if total else None


LOAD_WINDOW = 0.03  # seconds of /proc/stat watched (its clock ticks are 10 ms)


def watch_free_cpus(window: float = LOAD_WINDOW) -> Callable[[], int]:
    """Start watching the load; the returned function gives the threads for llama.cpp now:
    the CPUs this process may use minus those other processes kept busy since the start (at
    least `window` seconds: it sleeps for what is left; this process's own CPU time taken
    out), at least 1. All of them where the load cannot be read (not Linux). Started before
    the tokenizer loads, so the window costs a cold start nothing."""
    cpus = _allowed_cpus()
    before = _cpu_ticks(cpus)
    own = os.times()
    start = time.perf_counter()

    def finish() -> int:
        if before is None or len(cpus) == 1:
            return len(cpus)
        rest = window - (time.perf_counter() - start)
        if rest > 0:
            time.sleep(rest)
        after = _cpu_ticks(cpus)
        elapsed = time.perf_counter() - start
        if after is None or after[1] <= before[1]:
            return len(cpus)
        spent = os.times()
        own_cpu = (spent.user - own.user) + (spent.system - own.system)  # seconds
        busy_share = (after[0] - before[0]) / (after[1] - before[1])  # of the allowed CPUs
        others = max(0.0, busy_share * len(cpus) - own_cpu / max(elapsed, 1e-6))
        return max(1, min(len(cpus), round(len(cpus) - others)))

    return finish


def free_cpu_threads(window: float = LOAD_WINDOW) -> int:
    """The threads for llama.cpp now (watch_free_cpus over `window` seconds from now)."""
    return watch_free_cpus(window)()
