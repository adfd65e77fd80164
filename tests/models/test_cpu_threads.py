"""llama.cpp's threads: the CPUs that are free when it starts (measured from /proc/stat, this
process's own CPU time taken out), spinning briefly at barriers unless the user chose a wait
policy. Faked tick counts, so the tests hold on any machine and any load."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from pretrained.models.backends import cpu_threads


@pytest.fixture
def machine(monkeypatch):
    """A 2-CPU machine whose /proc/stat ticks and own CPU time the test sets."""
    state = SimpleNamespace(cpus=[0, 1], ticks=[(0, 0), (0, 200)], own=0.0, reads=0)

    def ticks(cpus):
        assert cpus == state.cpus
        value = state.ticks[min(state.reads, len(state.ticks) - 1)]
        state.reads += 1
        return value

    calls = []

    def fake_times():  # 0 s of own CPU time before the window, state.own after it
        calls.append(1)
        return SimpleNamespace(user=state.own if len(calls) % 2 == 0 else 0.0, system=0.0)

    monkeypatch.setattr(cpu_threads, "_allowed_cpus", lambda: state.cpus)
    monkeypatch.setattr(cpu_threads, "_cpu_ticks", ticks)
    monkeypatch.setattr(cpu_threads.os, "times", fake_times)
    monkeypatch.setattr(cpu_threads.time, "sleep", lambda s: None)
    clock = iter([0.0])  # the window: one second
    monkeypatch.setattr(cpu_threads.time, "perf_counter", lambda: next(clock, 1.0))
    return state


def test_a_quiet_machine_gets_every_cpu(machine):
    machine.ticks = [(100, 1000), (100, 1200)]  # nothing busy in the window
    assert cpu_threads.free_cpu_threads() == 2


def test_a_cpu_kept_busy_by_another_process_is_left_to_it(machine):
    machine.ticks = [(100, 1000), (200, 1200)]  # half of 2 CPUs busy: one CPU's worth
    assert cpu_threads.free_cpu_threads() == 1


def test_this_process_own_work_does_not_count_as_load(machine):
    machine.ticks = [(100, 1000), (200, 1200)]
    machine.own = 1.0  # all of that busy CPU was this process (importing, converting)
    assert cpu_threads.free_cpu_threads() == 2


def test_a_fully_loaded_machine_still_gets_one_thread(machine):
    machine.ticks = [(100, 1000), (300, 1200)]
    assert cpu_threads.free_cpu_threads() == 1


def test_a_short_window_sleeps_for_the_rest(machine, monkeypatch):
    slept = []
    monkeypatch.setattr(cpu_threads.time, "sleep", slept.append)
    machine.ticks = [(100, 1000), (100, 1200)]
    finish = cpu_threads.watch_free_cpus(window=1.5)  # started at 0.0, finished at 1.0
    assert finish() == 2 and slept == [0.5]


def test_without_proc_stat_every_cpu_is_used(machine):
    machine.ticks = [None]
    assert cpu_threads.free_cpu_threads() == 2
    # the calibration key keeps the machine's size whatever the load
    assert cpu_threads.cpu_threads() == 2


def test_cpu_ticks_reads_only_the_allowed_cpus(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text(
        "cpu  9 9 9 9 9 9 9 9 0 0\n"
        "cpu0 10 0 5 80 5 0 0 0 0 0\n"
        "cpu1 20 0 0 70 10 0 0 0 0 0\n"
        "cpu2 99 0 0 1 0 0 0 0 0 0\n"
    )
    real_open = open
    monkeypatch.setattr(
        "builtins.open", lambda p, *a, **k: real_open(stat if p == "/proc/stat" else p, *a, **k)
    )
    assert cpu_threads._cpu_ticks([0, 1]) == (35, 200)  # busy = all but idle and iowait


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ("1000", None)),
        ({"OMP_WAIT_POLICY": "PASSIVE"}, (None, "PASSIVE")),  # the user's choice wins
        ({"GOMP_SPINCOUNT": "5"}, ("5", None)),
    ],
)
def test_the_openmp_wait_policy(env, expected):
    code = (
        "import os, pretrained.models.backends.llamacpp;"
        "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(v) for v in expected]
