"""The watch benchmark's bookkeeping (python -m nin_core.watchbench): the order of its conditions, its summary, and
the CPU accounting it reads from /proc. The measurement itself is a benchmark, run by hand (docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nin_core.lab.processes import cpu_seconds, descendants
from nin_core.lab.watchbench import Measurement, summary, turns


def measured(tabs: int, rate: float, round_: int = 1) -> Measurement:
    return Measurement("tiny", tabs, round_, 1, rate, 1.0, 0.01, 0.1 * tabs, 1.0, 0.0, (1.0, 1.0),
                       2.0 if tabs else None)


def test_conditions_take_turns_forwards_then_backwards():
    assert list(turns([0, 1, 2], 2)) == [(1, 0), (1, 1), (1, 2), (2, 2), (2, 1), (2, 0)]


def test_the_summary_compares_medians_with_the_unwatched_one():
    rows = summary([measured(0, 1000), measured(0, 1200, 2), measured(1, 990), measured(1, 1010, 2)])
    assert [(r["tabs"], r["examples_per_sec"]) for r in rows] == [(0, 1100), (1, 1000)]
    assert rows[1]["ratio"] == pytest.approx(1000 / 1100) and rows[1]["max_update_gap_s"] == 2.0


def test_cpu_is_read_for_a_process_and_its_children():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in descendants(os.getpid())
        assert cpu_seconds({os.getpid()}) > 0
        assert cpu_seconds({2 ** 22 + 12345}) == 0  # a process that is not there counts nothing
    finally:
        child.kill()
        child.wait()
