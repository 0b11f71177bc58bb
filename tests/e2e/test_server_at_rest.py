"""The app as `make run` starts it leaves the CPU to the training beside it: with a tab open, other processes reading
thousands of files in the checkout (a worker importing torch from `.venv`) cost the server
nothing. (Streamlit's default file watcher watched the checkout recursively, `.venv` included: every file a worker
opened was an event, the events overflowed inotify's queue, and re-reading the tree made more of them, so the server
kept a core busy for as long as the run trained; docs/benchmarks.md, "Click Train and watch".)"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from nin_core import ROOT
from nin_core.lab.processes import tree_cpu_seconds
from nin_core.lab.watchbench import serve_app

from .conftest import fresh_home, new_tab, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IDLE_CORES = 0.25  # the watcher's loop kept about one core busy; a server at rest uses a few hundredths


def test_files_read_beside_the_app_cost_the_server_nothing(browser, measured_device, tmp_path):
    home = fresh_home(tmp_path, measured_device)
    with serve_app(home, tmp_path / "streamlit.log", as_make_run=True) as (url, server), \
            new_tab(browser) as page:
        page.goto(url)
        page.get_by_role("button", name="Train", exact=True).wait_for()
        wait_idle(page)
        before, start = tree_cpu_seconds(server.pid), time.monotonic()
        # what a worker does as it starts: thousands of files opened under the checkout
        subprocess.run([sys.executable, "-c", "import torch, torchvision, scipy.stats, pandas, plotly, optuna"],
                       cwd=ROOT, check=True, timeout=300)
        time.sleep(3)  # what the events set off has time to show
        used = (tree_cpu_seconds(server.pid) - before) / (time.monotonic() - start)
    assert used < IDLE_CORES, f"the app server used {used:.2f} cores while other processes read files"
