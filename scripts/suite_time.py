"""Where the test suite's time goes: a pytest plugin that records each test's wall time (setup and teardown
included) and the CPU the whole machine kept busy meanwhile (nin_core.lab.processes, from /proc/stat), then prints
the files that took longest and writes every test's figures as JSON (docs/benchmarks.md, "`make test` from a
fresh clone").

    PYTHONPATH=scripts .venv/bin/python -m pytest -p suite_time   # SUITE_TIME_JSON=FILE: where the JSON goes

Cores busy near 1.0 mean a test waits on one single-threaded thing (a process importing torch, a server
starting); near 2.0, that it keeps both cores of a 2-core machine busy."""

from __future__ import annotations

import collections
import json
import os
import tempfile
import time

import pytest

from nin_core.lab.processes import busy_cpu_seconds

_rows: list[tuple[str, float, float]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start, busy = time.monotonic(), busy_cpu_seconds()
    yield
    _rows.append((item.nodeid, time.monotonic() - start, busy_cpu_seconds() - busy))


def pytest_terminal_summary(terminalreporter):
    if not _rows:
        return
    wall, busy = collections.Counter(), collections.Counter()
    for nodeid, w, b in _rows:
        path = nodeid.split("::")[0]
        wall[path] += w
        busy[path] += b
    total_w, total_b = sum(wall.values()), sum(busy.values())
    terminalreporter.write_sep("=", f"suite time: {total_w:.0f} s in tests, {total_b / total_w:.2f} cores busy")
    for path, w in wall.most_common(15):
        terminalreporter.write_line(f"{w:7.1f} s  {busy[path] / w:4.2f} cores  {path}")
    out = os.environ.get("SUITE_TIME_JSON") or os.path.join(tempfile.gettempdir(), "suite-time.json")
    with open(out, "w") as f:
        json.dump([{"test": n, "wall_s": w, "busy_cpu_s": b} for n, w, b in _rows], f, indent=1)
    terminalreporter.write_line(f"every test: {out}")
