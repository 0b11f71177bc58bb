"""The click-and-watch benchmark end to end, on a run of seconds: the server as `make run` starts it, a fresh tab on
the run's link, Train clicked and the run followed to its end, against the same run from the CLI. The figures are
the benchmark's (docs/benchmarks.md); here, that both runs are measured, as what they are. (Runs this short leave
the CPU columns to chance: a worker that has ended by the time they are read counts nothing. They are not
asserted.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nin_core import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_run_clicked_in_a_fresh_tab_is_measured_against_the_same_run_from_the_cli():
    if os.environ.get("NIN_SKIP_BROWSER") == "1":
        pytest.skip("NIN_SKIP_BROWSER=1")
    # As documented, in a process of its own: Playwright's sync API cannot start where the other browser tests'
    # event loop already runs.
    bench = subprocess.run([sys.executable, "-m", "nin_core.watchbench", "--click", "--presets", "tiny", "--rounds",
                            "1", "--train-size", "1024", "--epochs", "2", "--format", "json"],
                           capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert bench.returncode == 0, bench.stderr[-3000:]
    out = json.loads(bench.stdout)
    cli, clicked = out["runs"]  # the CLI's run first, in the first round
    assert (cli["tabs"], clicked["tabs"]) == (0, 1)
    for run in (cli, clicked):
        assert run["examples_per_sec"] > 0 and run["run_id"] > 0  # each trained, and recorded its own rate
    (unwatched, watched) = out["summary"]
    assert watched["ratio"] == pytest.approx(clicked["examples_per_sec"] / cli["examples_per_sec"])
