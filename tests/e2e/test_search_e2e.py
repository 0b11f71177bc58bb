"""A search in a real browser: three trials on the tiny preset started from the Search page, trained by a worker in
the background, then the study's optimisation history and the settings' importances drawn on the page."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna
import pytest

from .conftest import LONG, assert_no_errors, expect, open_app, set_number, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label``, as a person does."""
    page.get_by_test_id("stSelectbox").filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def test_a_three_trial_search_shows_its_history_and_the_importances(own_app):
    from nin_core.lab import search
    from nin_core.runs.store import RunStore

    page, server = own_app
    store = RunStore(server.home)
    open_app(page, server, "Search")
    choose(page, "Base configuration", "tiny")
    choose(page, "Pruner", "none")  # three complete trials: importances need two at least
    lr = page.get_by_role("textbox", name="Learning rate (lr)")
    lr.fill("0.001..0.01:log")
    lr.press("Enter")
    wait_idle(page)
    set_number(page, "Trials", 3)
    page.get_by_role("button", name="Start search").click()
    expect(page.get_by_text("started in the background")).to_be_visible()
    storage = search.default_storage(store)
    try:
        deadline = time.monotonic() + 600
        while len(done := [t for t in optuna.load_study(study_name="search", storage=storage).trials
                           if t.state.is_finished()]) < 3:
            assert time.monotonic() < deadline, f"{len(done)} of 3 trials ended within 600 s"
            page.wait_for_timeout(1000)
    finally:
        _stop_worker(store.home / "search" / "search.pid")
    charts = page.get_by_test_id("stPlotlyChart")
    expect(charts).to_have_count(4, timeout=LONG)
    expect(page.get_by_text("Optimization History Plot")).to_be_visible()
    expect(page.get_by_text("Hyperparameter Importances")).to_be_visible()
    expect(page.get_by_role("link", name="Open in the playground")).to_be_visible()
    assert sorted(r.name for r in store.list_runs()) == [f"search search #{n}" for n in range(3)]
    wait_idle(page)
    assert_no_errors(page)


def _stop_worker(pid_file: Path) -> None:
    """The search worker the page started, stopped by its own pid if it is still there (ours: it runs nin_core)."""
    try:
        pid = int(pid_file.read_text())
        if b"nin_core" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        return
