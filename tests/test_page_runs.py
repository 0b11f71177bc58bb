"""The Runs page: the table, overlaid curves, one run's evaluation, downloads and deleting with confirmation."""

from __future__ import annotations

import json

import pyarrow as pa
import torch
from conftest import APP
from streamlit.testing.v1 import AppTest

from nin_core.network.checkpoint import save_checkpoint
from nin_core.network.config import TINY
from nin_core.network.metrics import Progress
from nin_core.network.model import build_model
from nin_core.runs.store import MetricPoint, RunStore


def finished_run(store: RunStore, name: str, acc: float, checkpoint: bool = False) -> int:
    run_id = store.create_run(TINY.with_overrides(lr=acc / 100), name)
    store.mark_running(run_id, "cpu")
    store.record(run_id, progress=Progress(), points=[MetricPoint(0.5, 1.5, 0.4), MetricPoint(1.0, 1.0, 0.6, acc - 0.1),
                                              MetricPoint(2.0, 0.7, 0.7, acc)])
    if checkpoint:
        torch.manual_seed(0)
        path = save_checkpoint(store.run_dir(run_id) / "checkpoint.pt", build_model(TINY.arch), TINY, epoch=2)
        store.set_checkpoint(run_id, path)
    store.finish(run_id, "finished", final={"train_loss": 0.7, "train_acc": 0.7, "test_acc": acc,
                                            "examples_per_sec": 900.0})
    return run_id


def open_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    return at


def click(at: AppTest, label: str) -> None:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception


def chart_traces(at: AppTest) -> list[list[str]]:
    return [[t.get("name") for t in json.loads(c.proto.spec)["data"]] for c in at.get("plotly_chart")]


def test_empty_store(nin_home):
    at = open_page()
    assert any("No runs yet" in i.value for i in at.info)


def test_table_curves_and_hyperparameters(store):
    first = finished_run(store, "first", 0.7)
    second = finished_run(store, "second", 0.8)
    at = open_page()
    frame = at.dataframe[0].value
    assert list(frame["id"]) == [second, first] and list(frame["name"]) == ["second", "first"]
    assert list(frame["test acc"]) == [0.8, 0.7] and set(frame["status"]) == {"finished"}
    traces = chart_traces(at)
    assert f"#{first} first: test acc" in traces[0] and f"#{second} second: train loss" in traces[0]
    assert traces[1] == [None]  # test accuracy against the one hyperparameter that differs (the rate)
    assert {t["type"] for t in json.loads(at.get("plotly_chart")[1].proto.spec)["data"]} == {"scatter"}  # SVG
    assert [d.label for d in at.download_button] == ["Configuration (JSON)"]  # no checkpoint: no evaluation
    assert any("no checkpoint" in i.value for i in at.info)


def test_evaluation_of_one_run(store):
    run_id = finished_run(store, "with checkpoint", 0.5, checkpoint=True)
    at = open_page()
    assert [d.label for d in at.download_button] == ["Configuration (JSON)", "Checkpoint"]
    at.number_input[0].set_value(200)
    at.toggle(key=f"evaluate_{run_id}").set_value(True).run()
    assert not at.exception, at.exception
    assert at.metric[0].label == "Accuracy"
    types = [json.loads(c.proto.spec)["data"][0]["type"] for c in at.get("plotly_chart")]
    assert types[-2:] == ["heatmap", "bar"]
    assert any("Mistakes" in m.value for m in at.markdown)
    assert at.image and "→" in at.image[0].captions[0]


def test_delete_asks_first_and_refuses_running_runs(store):
    keep = finished_run(store, "keep", 0.7)
    drop = finished_run(store, "drop", 0.8)
    at = open_page()
    assert at.selectbox[0].value == f"#{drop} drop"
    click(at, "Delete this run…")
    assert any("cannot be undone" in w.value for w in at.warning)
    click(at, "Cancel")
    assert [r.id for r in store.list_runs()] == [drop, keep]
    click(at, "Delete this run…")
    click(at, "Yes, delete it")
    assert [r.id for r in store.list_runs()] == [keep]
    assert any(f"Deleted run #{drop}" in s.value for s in at.success)
    assert list(at.dataframe[0].value["id"]) == [keep]

    running = store.create_run(TINY, "busy")
    store.mark_running(running, "cpu")  # by this (live) process
    at.run()
    at.selectbox[0].set_value(f"#{running} busy").run()
    click(at, "Delete this run…")
    assert any("still running" in e.value for e in at.error)
    assert not any("cannot be undone" in w.value for w in at.warning)
    assert running in [r.id for r in store.list_runs()]


def test_a_failed_run_without_curves_is_not_compared_and_missing_metrics_are_dashes(store):
    done = finished_run(store, "done", 0.7)
    failed = store.create_run(TINY, "broken")
    store.finish(failed, "failed", message="the data folder is empty")
    at = open_page()
    assert at.multiselect[0].value == [f"#{done} done"]
    shown = pa.ipc.open_stream(at.dataframe[0].proto.arrow_data.styler.display_values).read_pandas()
    assert list(shown["test acc"]) == ["—", "70.0%"] and list(shown["examples/s"]) == ["—", "900"]
    assert list(shown["lr"]) == ["0.003", "0.007"]


def test_the_choices_outlive_a_new_run_and_a_run_deleted_elsewhere_is_said_to_be_gone(store):
    first = finished_run(store, "first", 0.7)
    second = finished_run(store, "second", 0.8)
    at = open_page()
    for label in (f"#{first} first", f"#{second} second", f"#{first} first"):  # each choice holds
        at.selectbox[0].set_value(label).run()
        assert at.selectbox[0].value == label
    at.multiselect[0].set_value([f"#{second} second"]).run()
    at.multiselect[0].set_value([f"#{first} first"]).run()
    assert at.multiselect[0].value == [f"#{first} first"]
    finished_run(store, "third", 0.6)  # from another tab: the page follows it (its poll reruns it)
    at.run()
    assert len(at.dataframe[0].value) == 3
    assert at.selectbox[0].value == f"#{first} first" and at.multiselect[0].value == [f"#{first} first"]
    store.delete_run(first)  # from another tab
    at.run()
    assert not at.exception, at.exception
    assert any(f"Run #{first} (first) was deleted in another tab" in i.value for i in at.info)
    at.run()
    assert not any("was deleted" in i.value for i in at.info)  # said once; the newest run is shown now
    assert at.selectbox[0].value == at.selectbox[0].options[0] and at.multiselect[0].value == []
    assert second in [r.id for r in store.list_runs()]
