"""The live panel's state and the route a watching browser polls (nin_core/runs/live.py): what a person following a
run sees, that an unchanged chart is not sent again, that the page is told to rerun exactly when it must, and that
the routes answer where the page asks, also under a base path."""

from __future__ import annotations

import pytest
from conftest import APP, live_panel
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit import config
from streamlit.testing.v1 import AppTest

from nin_core.network.config import TINY
from nin_core.network.metrics import MetricPoint, Progress
from nin_core.runs import live
from nin_core.runs.live import POLL_S, panel_state, routes
from nin_core.runs.store import RunStore


def running(store: RunStore, **overrides) -> int:
    run_id = store.create_run(TINY.with_overrides(epochs=3, **overrides), "followed")
    store.claim(run_id)
    store.mark_running(run_id, "cpu")  # by this (live) process
    return run_id


def client(base_url_path: str = "") -> TestClient:
    """The app's routes served over HTTP, as st.App serves them beside the app (app.py)."""
    return TestClient(Starlette(routes=routes(base_url_path)))


@pytest.fixture
def base_url_path():
    """The app served under /nin (Streamlit's ``server.baseUrlPath``, as a proxy serving it there sets it)."""
    before = config.get_option("server.baseUrlPath")
    config.set_option("server.baseUrlPath", "/nin/")
    yield "/nin/"
    config.set_option("server.baseUrlPath", before)


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
    store.record(run_id, Progress.from_dict({
        "epoch": 2, "epochs": 3, "batch": 50, "batches": 200, "phase": "training", "fraction": 0.4167,
        "examples_per_sec": 5123.4, "eta_s": 14, "elapsed_s": 10, "train_loss": 1.23456, "test_acc": 0.5,
        "lr": 0.003}), [MetricPoint(0.2, 2.2, 0.2), MetricPoint(1.0, 1.5, 0.4, 0.5)])
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
    store.record(run_id, Progress.from_dict({"epoch": 1}), [MetricPoint(0.2, 2.2, 0.2)])
    run = store.get_run(run_id)
    assert "figure" not in panel_state(run, store, drawn=1)
    assert "figure" in panel_state(run, store, drawn=0) and "figure" in panel_state(run, store)
    store.record(run_id, Progress.from_dict({"epoch": 1}), [MetricPoint(0.4, 2.1, 0.25)])
    assert len(panel_state(store.get_run(run_id), store, drawn=1)["figure"]["data"][0]["x"]) == 2


def test_what_the_page_shows_beyond_the_panel_changes_the_signature(store):
    run_id = running(store, validation_size=1000)
    store.record(run_id, Progress.from_dict({"epoch": 1, "batch": 3, "batches": 10, "eta_s": 30}))
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
    store.record(run_id, Progress.from_dict({"epoch": 1, "batch": 3, "batches": 10, "fraction": 0.1}),
                 [MetricPoint(0.2, 2.2, 0.2)])
    http = client()
    response = http.get(f"/api/runs/{run_id}/live", params={"drawn": 1})
    body = response.json()
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert body["bars"][0]["text"].startswith("Epoch 1/3 · batch 3/10") and "figure" not in body
    assert body == panel_state(store.get_run(run_id), store, drawn=1)  # made as for the page's first draw
    assert "figure" in http.get(f"/api/runs/{run_id}/live?drawn=").json()  # nothing drawn yet
    missing = http.get("/api/runs/999/live")
    assert missing.status_code == 404 and missing.json() == {"error": "no such run"}
    assert http.get("/api/runs/first/live").status_code == 404  # a run's id is a number
    assert http.post(f"/api/runs/{run_id}/live").status_code == 405  # watching changes nothing


@pytest.mark.parametrize("run_id", ["999", "9223372036854775808", "9" * 5000, "abc", "-1", "²"],
                         ids=["missing", "past-sqlite", "5000-digits", "abc", "negative", "superscript"])
def test_a_missing_or_impossible_run_is_a_json_404_that_is_not_kept(store, run_id):
    response = client().get(f"/api/runs/{run_id}/live")
    assert response.status_code == 404 and response.json() == {"error": "no such run"}
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("drawn", ["9" * 5000, "²", "-1"])
def test_a_count_of_points_drawn_that_is_no_count_is_as_if_none_were_drawn(store, drawn):
    run_id = running(store)
    store.record(run_id, Progress.from_dict({"epoch": 1, "batch": 3, "batches": 10}), [MetricPoint(0.2, 2.2, 0.2)])
    response = client().get(f"/api/runs/{run_id}/live", params={"drawn": drawn})
    assert response.status_code == 200 and "figure" in response.json()


def test_every_answer_tells_the_browser_not_to_guess_its_type(store):
    http = client()
    for url in (f"/api/runs/{running(store)}/live", "/api/plotly.min.js"):
        response = http.get(url)
        assert response.status_code == 200 and response.headers["x-content-type-options"] == "nosniff", url


def test_plotly_js_is_served_from_the_plotly_package(store):
    response = client().get("/api/plotly.min.js")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "public, max-age=86400"  # loaded once, not on every page
    assert len(response.content) > 1_000_000 and b"plotly.js v" in response.content[:200]


def test_plotly_js_comes_compressed_once_and_plain_to_who_asks(store):
    http = client()
    compressed = http.get("/api/plotly.min.js", headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip" and compressed.headers["vary"] == "Accept-Encoding"
    plain = http.get("/api/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == compressed.content  # httpx decompressed it
    assert live.plotly_gzip() is live.plotly_gzip()  # made once per server


def test_under_a_base_path_the_page_asks_the_routes_where_they_are_served(store, base_url_path, monkeypatch,
                                                                          fake_throughput):
    import nin_core.runs.jobs

    monkeypatch.setattr(nin_core.runs.jobs, "ensure_worker", lambda store: None)  # the run stays queued
    run_id = store.create_run(TINY, "waiting")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    state = live_panel(at)
    assert state["url"] == f"/nin/api/runs/{run_id}/live" and state["plotly_url"] == "/nin/api/plotly.min.js"
    http = client(base_url_path)  # the routes as app.py serves them with the same setting
    assert http.get(state["url"]).json()["url"] == state["url"]
    assert http.get(state["plotly_url"]).status_code == 200
    assert http.get(f"/api/runs/{run_id}/live").status_code == 404  # not beside the app but under its path
