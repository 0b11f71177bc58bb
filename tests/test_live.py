"""The live panel's state and the route a watching browser polls (nin_core/live.py): what a person following a run
sees, that an unchanged chart is not sent again, and that the page is told to rerun exactly when it must."""

from __future__ import annotations

import json
import os

import pytest
from starlette.requests import Request

from nin_core.network.config import TINY
from nin_core.network.metrics import MetricPoint
from nin_core.runs.live import POLL_S, panel_state, routes
from nin_core.runs.store import RunStore


@pytest.fixture
def store(nin_home) -> RunStore:
    return RunStore(nin_home)


def running(store: RunStore, **overrides) -> int:
    run_id = store.create_run(TINY.with_overrides(epochs=3, **overrides), "followed")
    store.claim(run_id)
    store.mark_running(run_id, "cpu")  # by this (live) process
    return run_id


def get(path: str, query: str = ""):
    """One request through the app's route table, as Starlette serves it beside the app."""
    for route in routes():
        match, scope = route.matches({"type": "http", "method": "GET", "path": path})
        if match.name == "FULL":
            return route.endpoint(Request({"type": "http", "method": "GET", "path": path, "headers": [],
                                           "query_string": query.encode(), **scope}))
    raise AssertionError(f"no route for {path}")


def signature(status: str, stop_requested: bool = False, place: int | None = None) -> dict:
    return {"status": status, "stop_requested": stop_requested, "place": place}


def test_a_queued_run_shows_its_place_and_nothing_to_draw_yet(store):
    running(store)
    ahead, queued = store.create_run(TINY, "ahead"), store.create_run(TINY, "waiting")
    state = panel_state(store.get_run(queued), store)
    assert state["active"] and state["signature"] == signature("queued", place=2)
    assert state["bars"] == [] and state["metrics"] == [] and "figure" not in state
    assert state["url"] == f"/api/runs/{queued}/live" and state["poll_ms"] == POLL_S * 1000
    store.request_stop(ahead)  # cancelled: the page must say it moved up
    store.finish(ahead, "stopped")
    assert panel_state(store.get_run(queued), store)["signature"] == signature("queued", place=1)


def test_a_running_run_shows_its_bars_figures_and_curves(store):
    run_id = running(store)
    store.record(run_id, {"epoch": 2, "epochs": 3, "batch": 50, "batches": 200, "phase": "training",
                          "fraction": 0.4167, "examples_per_sec": 5123.4, "eta_s": 14, "elapsed_s": 10,
                          "train_loss": 1.23456, "test_acc": 0.5, "lr": 0.003},
                 [MetricPoint(0.2, 2.2, 0.2), MetricPoint(1.0, 1.5, 0.4, 0.5)])
    state = panel_state(store.get_run(run_id), store)
    assert state["bars"] == [{"value": 0.25, "text": "Epoch 2/3 · batch 50/200 · training"},
                             {"value": 0.4167, "text": "Whole run: 42%"}]
    assert dict(state["metrics"]) == {"images/s": "5,123", "ETA": "14s", "elapsed": "10s", "train loss": "1.235",
                                      "test acc": "0.500", "lr": "0.003"}
    traces = {t["name"]: t["x"] for t in state["figure"]["data"]}
    assert traces == {"train loss": [0.2, 1.0], "train acc": [0.2, 1.0], "test acc": [1.0]}
    assert state["points"] == 2 and state["signature"] == signature("running")


def test_the_curves_are_sent_only_when_the_browser_has_not_drawn_them(store):
    run_id = running(store)
    store.record(run_id, {"epoch": 1}, [MetricPoint(0.2, 2.2, 0.2)])
    run = store.get_run(run_id)
    assert "figure" not in panel_state(run, store, drawn=1)
    assert "figure" in panel_state(run, store, drawn=0) and "figure" in panel_state(run, store)
    store.record(run_id, {"epoch": 1}, [MetricPoint(0.4, 2.1, 0.25)])
    assert len(panel_state(store.get_run(run_id), store, drawn=1)["figure"]["data"][0]["x"]) == 2


def test_what_the_page_shows_beyond_the_panel_changes_the_signature(store):
    run_id = running(store, validation_size=1000)
    store.record(run_id, {"epoch": 1, "batch": 3, "batches": 10, "eta_s": 30})
    before = panel_state(store.get_run(run_id), store)
    assert "val acc" in dict(before["metrics"])  # the accuracy is named for what it was measured on
    store.request_stop(run_id)
    assert panel_state(store.get_run(run_id), store)["signature"] == signature("running", True)
    store.finish(run_id, "stopped", message="stopped in epoch 1, batch 3")
    after = panel_state(store.get_run(run_id), store)
    assert not after["active"] and after["signature"]["status"] == "stopped"
    assert dict(after["metrics"])["ETA"] == "—"  # an ended run has nothing left to wait for


def test_the_route_answers_with_the_panel_state_and_404_for_a_missing_run(store):
    run_id = running(store)
    store.record(run_id, {"epoch": 1, "batch": 3, "batches": 10, "fraction": 0.1}, [MetricPoint(0.2, 2.2, 0.2)])
    response = get(f"/api/runs/{run_id}/live", "drawn=1")
    body = json.loads(response.body)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert body["bars"][0]["text"].startswith("Epoch 1/3 · batch 3/10") and "figure" not in body
    assert "figure" in json.loads(get(f"/api/runs/{run_id}/live", "drawn=").body)  # nothing drawn yet
    missing = get("/api/runs/999/live")
    assert missing.status_code == 404 and json.loads(missing.body) == {"error": "no such run"}


def test_plotly_js_is_served_from_the_plotly_package(store):
    response = get("/api/plotly.min.js")
    assert response.media_type == "text/javascript" and os.path.getsize(response.path) > 1_000_000
    with open(response.path, encoding="utf-8") as f:
        assert "plotly.js v" in f.read(200)
