"""Repeats in a real browser: a tiny configuration trained over two seeds from the training page, then found on
Runs as one group, its mean ± sd in the table and its curves drawn as a mean with a band."""

from __future__ import annotations

import re
import time

import pytest

from .conftest import LONG, assert_no_errors, expect, open_app, set_number, wait_idle
from .test_browser import choose_tiny, end_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_two_repeats_train_as_a_group_with_its_band_and_its_mean_and_sd(own_app):
    from nin_core.runs.groups import group_runs
    from nin_core.runs.store import RunStore

    page, server = own_app  # a store of its own: the table holds this group alone
    store = RunStore(server.home)
    choose_tiny(page, server, train_size=2000, test_size=200, epochs=1)
    set_number(page, "Repeats (seeds)", 2, "repeats")
    page.get_by_role("button", name="Train", exact=True).click()
    deadline = time.monotonic() + LONG / 1000
    while len(runs := store.list_runs()) < 2:
        assert time.monotonic() < deadline, f"pressing Train queued {len(runs)} runs within {LONG / 1000:.0f} s"
        page.wait_for_timeout(300)
    try:
        while any(r.active for r in store.list_runs()):  # one seed after the other, however busy the machine
            page.wait_for_timeout(500)
    finally:
        for r in runs:
            end_run(server, r.id)
    [group] = group_runs(store.list_runs())
    assert sorted(r.config.train.seed for r in group.runs) == [0, 1]
    acc = group.spread("test_acc")

    open_app(page, server, "Runs")
    table = page.get_by_test_id("stDataFrame").first
    row = table.locator("tr").filter(has=page.locator("td", has_text=re.compile(rf"^{re.escape(group.name)}$")))
    expect(row).to_have_count(1)
    headers = [h for h in table.locator("th").all_inner_texts() if h.strip()]  # the index column has none
    cells = dict(zip(headers, row.locator("td").all_inner_texts(), strict=False))
    assert cells["runs"] == "2", cells
    assert float(cells["test acc"]) == pytest.approx(acc.mean) and float(cells["± sd"]) == pytest.approx(acc.sd)
    chart = page.get_by_test_id("stPlotlyChart").first.locator(".js-plotly-plot").first
    deadline = time.monotonic() + LONG / 1000
    while not (fills := chart.evaluate("gd => (gd.data || []).filter(t => t.fill === 'tonexty').length")):
        assert time.monotonic() < deadline, "the group's curves were drawn without a band"
        page.wait_for_timeout(300)
    assert fills == 3  # train loss, train acc and test acc, each between its lowest and highest seed
    expect(page.get_by_text("drawn as its mean, shaded from its lowest to its highest seed")).to_be_visible()
    wait_idle(page)
    assert_no_errors(page)
