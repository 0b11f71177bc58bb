"""The click-and-watch benchmark end to end, on a run of seconds: the server as `make run` starts it, a fresh tab on
the run's link, Train clicked and the run followed to its end, against the same run from the CLI. The figures are
the benchmark's (docs/benchmarks.md); here, that both runs are measured, as what they are. (Runs this short leave
the CPU columns to chance: a worker that has ended by the time they are read counts nothing. They are not
asserted.)"""

from __future__ import annotations

import json
import os

import pytest

from nin_core.lab import watchbench

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_run_clicked_in_a_fresh_tab_is_measured_against_the_same_run_from_the_cli(capsys):
    if os.environ.get("NIN_SKIP_BROWSER") == "1":
        pytest.skip("NIN_SKIP_BROWSER=1")
    assert watchbench.main(["--click", "--presets", "tiny", "--rounds", "1", "--train-size", "1024", "--epochs", "2",
                            "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    cli, clicked = out["runs"]  # the CLI's run first, in the first round
    assert (cli["tabs"], clicked["tabs"]) == (0, 1)
    for run in (cli, clicked):
        assert run["examples_per_sec"] > 0 and run["run_id"] > 0  # each trained, and recorded its own rate
    (unwatched, watched) = out["summary"]
    assert watched["ratio"] == pytest.approx(clicked["examples_per_sec"] / cli["examples_per_sec"])
