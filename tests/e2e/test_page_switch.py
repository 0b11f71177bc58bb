"""Every page switch takes at most a second, first visits included: a fresh app (started as `make run` starts it,
its start-up work done), a fresh tab, each page clicked in the sidebar as a person does, timed in the browser from
the click to the page settled: the page's own content shown and the app's running indicator gone. The tab has done
what it does while a person reads its first page (loading Streamlit's chart code ahead, ui/prefetch.py).

On a shared machine another process can take the cores for a while (the app server and Chromium then get half a
core each, and a 0.5 s switch takes over a second). So the test also counts the CPU that processes other than its
own (this test, the server, Chromium) used during each switch: a slow switch on an otherwise idle machine fails at
once; one that met a busy machine is timed again, in a fresh tab (so again a first visit in a session), up to
three tabs; busy every time, the test is skipped and says so."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest
import torch

from nin_core.lab.processes import busy_cpu_seconds, cpu_seconds, tree_cpu_seconds
from nin_core.network.checkpoint import save_checkpoint
from nin_core.network.config import TINY
from nin_core.network.metrics import MetricPoint, Progress
from nin_core.network.model import build_model
from nin_core.runs.store import RunStore

from .conftest import (
    LONG,
    PAGE_TITLES,
    assert_no_errors,
    expect,
    new_tab,
    open_app,
    wait_charts_loaded_ahead,
    wait_idle,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LIMIT_S = 1.0
BUSY_CORES = 0.5  # other processes kept at least this much of a core busy during a switch: it met a busy machine
TABS = 3
# What only each page draws, and only once its script has drawn it (CSS selectors).
CONTENT = {"Shapes": '[data-testid="stDataFrame"]', "Predict": '[data-testid="stFileUploader"]',
           "Look inside": '[data-testid="stImage"]', "Runs": '[data-testid="stPlotlyChart"]',
           "Exercises": '[data-testid="stTab"]', "Search": '[data-testid="stMultiSelect"]',
           "Playground & training": '[data-testid="stBaseButton-primary"]'}
# In the page: the time from the click on a sidebar link to the first frame where the new page's heading and
# content are there and its script has ended (checked every frame, so no round trip of the test is counted).
ARM_JS = """() => {
    window.__clicked = null;
    document.addEventListener('click', () => { window.__clicked = performance.now(); }, {capture: true, once: true});
}"""
SETTLED_JS = """([heading, content]) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const headings = [...document.querySelectorAll('[data-testid="stHeading"]')];
    const shown = el => el !== null && el.getClientRects().length > 0;
    if (window.__clicked === null || app.dataset.testScriptState !== 'notRunning') return false;
    if (!headings.some(h => h.innerText.toLowerCase().includes(heading))) return false;
    return shown(document.querySelector(content)) && performance.now() - window.__clicked;
}"""


def a_finished_run(home: Path) -> None:
    """A finished run with curves and a checkpoint, so Runs draws its tables and figures."""
    store = RunStore(home)
    run_id = store.create_run(TINY, "finished")
    points = [MetricPoint(e / 2, 2.0 / e, 0.4 + e / 20, 0.4 + e / 20 if e % 2 == 0 else None, 900.0)
              for e in range(1, 5)]
    store.record(run_id, Progress(), points)
    torch.manual_seed(0)
    path = save_checkpoint(store.run_dir(run_id) / "checkpoint.pt", build_model(TINY.arch), TINY, epoch=2)
    store.set_checkpoint(run_id, path)
    store.finish(run_id, "finished", final={"train_loss": 0.5, "train_acc": 0.6, "test_acc": 0.6})


def wait_server_idle(pid: int, quiet_s: float = 1.0) -> None:
    """Until the server used under a tenth of a core for ``quiet_s``: its start-up work in the background is over."""
    deadline = time.monotonic() + LONG / 1000
    while time.monotonic() < deadline:
        before = cpu_seconds({pid})
        time.sleep(quiet_s)
        if cpu_seconds({pid}) - before < 0.1 * quiet_s:
            return
    pytest.fail("the app server never went idle after starting")


def switch(page, title: str) -> tuple[float, float]:
    """Seconds from a click on ``title`` in the sidebar to that page settled, and the cores that other processes
    kept busy meanwhile."""
    page.evaluate(ARM_JS)
    start, busy, own = time.monotonic(), busy_cpu_seconds(), tree_cpu_seconds(os.getpid())
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    handle = page.wait_for_function(SETTLED_JS, arg=[title.split(" &")[0].lower(), CONTENT[title]], polling="raf",
                                    timeout=LONG)
    others = (busy_cpu_seconds() - busy - (tree_cpu_seconds(os.getpid()) - own)) / (time.monotonic() - start)
    assert_no_errors(page)
    return handle.json_value() / 1000, max(others, 0.0)


def test_every_page_switch_takes_at_most_a_second(browser, own_app):
    page, server = own_app
    a_finished_run(server.home)
    wait_server_idle(server.proc.pid)
    tours, left = [], [*PAGE_TITLES[1:], PAGE_TITLES[0]]  # each page once, its first visit, then back
    for tab in range(TABS):
        with new_tab(browser) if tab else contextlib.nullcontext(page) as tab_page:
            open_app(tab_page, server)
            expect(tab_page.locator(CONTENT["Playground & training"]).first).to_be_visible()
            wait_idle(tab_page)  # the script drew its content, now it ends: a switch starts from a settled page
            wait_charts_loaded_ahead(tab_page)  # what the tab does while a person reads its first page
            tour = {title: switch(tab_page, title) for title in left}
        tours.append(tour)
        print(f"tab {tab + 1}: " + ", ".join(f"{t} {s:.2f} s ({o:.1f} other cores)" for t, (s, o) in tour.items()))
        slow = {t: (s, o) for t, (s, o) in tour.items() if s > LIMIT_S}
        quiet = {t: (s, o) for t, (s, o) in slow.items() if o < BUSY_CORES}
        assert not quiet, f"over {LIMIT_S} s on an otherwise idle machine (seconds, other cores): {quiet}"
        left = [t for t in left if t in slow]  # timed again in a fresh tab: they met a busy machine
        if not left:
            return
    # Not a verdict on the app: the premise (a machine the app has to itself) never held. Said, not hidden.
    pytest.skip(f"over {LIMIT_S} s in {TABS} fresh tabs, the machine busy with other work each time: {tours}")

