"""Repeats over seeds: a configuration launched as one run per seed, shown and compared as a group whose figures
are the runs' and say over how many runs they are; bad input gets one line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from conftest import APP, ROOT
from streamlit.testing.v1 import AppTest

from nin_core.network.config import TINY
from nin_core.network.metrics import MetricPoint, Progress
from nin_core.network.status import RunStatus
from nin_core.runs.charts import differences, group_label, groups_frame
from nin_core.runs.groups import group_runs, mean_curves, queue_group
from nin_core.runs.store import RunStore
from nin_core.runs.sweep import plan_sweep, queue_sweep


def ended(store: RunStore, run_id: int, acc: float | None, status: RunStatus = RunStatus.FINISHED,
          curve: tuple[float, ...] = (0.5, 0.6)) -> None:
    store.mark_running(run_id, "cpu")
    store.record(run_id, Progress(), [MetricPoint(e + 1.0, 1.0 - a, a, a) for e, a in enumerate(curve)])
    final = {"train_loss": 0.5, "train_acc": 0.8, "examples_per_sec": 100.0}
    store.finish(run_id, status, final=final | ({"test_acc": acc} if acc is not None else {}))


def test_a_repeated_run_is_one_run_per_seed_recorded_in_one_group(store):
    ids = queue_group(store, TINY.with_overrides(seed=7, repeats=3), "tiny")
    runs = [store.get_run(i) for i in ids]
    assert [r.config.train.seed for r in runs] == [7, 8, 9]
    assert all(r.config.train.repeats == 1 for r in runs) and len({r.group for r in runs}) == 1
    assert all(r.config == TINY.with_overrides(seed=r.config.train.seed) for r in runs)  # nothing else changed
    assert [r.name for r in runs] == ["tiny · seed 7", "tiny · seed 8", "tiny · seed 9"]
    [group] = group_runs(store.list_runs())
    assert group.name == "tiny" and group.config == TINY.with_overrides(seed=7, repeats=3)
    # one repeat is one run, as ever: no group
    [single] = queue_group(store, TINY, "once")
    assert store.get_run(single).group is None and group_runs(store.list_runs())[0].single


def test_group_figures_are_the_runs_and_say_over_how_many(store):
    ids = queue_group(store, TINY.with_overrides(repeats=3), "tiny")
    for run_id, acc in zip(ids, (0.70, 0.74, 0.72), strict=True):
        ended(store, run_id, acc)
    [group] = group_runs(store.list_runs())
    spread = group.spread("test_acc")
    assert (spread.mean, spread.sd, spread.n) == pytest.approx((0.72, 0.02, 3))
    frame = groups_frame([group]).iloc[0]
    assert frame["runs"] == 3 and frame["test acc"] == pytest.approx(0.72) and frame["± sd"] == pytest.approx(0.02)
    assert frame["status"] == "finished" and group.problems() == ""
    assert group_label(group) == f"#{ids[0]}–{ids[-1]} tiny (3 seeds)"


def test_a_group_of_one_reads_as_its_run(store):
    run_id = store.create_run(TINY, "alone")
    ended(store, run_id, 0.8)
    [group] = group_runs(store.list_runs())
    row = groups_frame([group]).iloc[0]
    assert (row["id"], row["name"], row["runs"], row["test acc"]) == (run_id, "alone", 1, 0.8)
    assert group_label(group) == f"#{run_id} alone"


def stopped_and_mixed(store: RunStore) -> tuple[list[int], dict]:
    """Two groups of three seeds: ``stopped`` (one finished, one stopped half way, one stopped before it started)
    and ``mixed`` (two finished, one diverged); the runs of ``mixed`` and the groups by name."""
    stopped = queue_group(store, TINY.with_overrides(repeats=3), "stopped")
    ended(store, stopped[0], 0.7)
    ended(store, stopped[1], 0.6, RunStatus.STOPPED)
    store.finish(stopped[2], RunStatus.STOPPED, message="stopped before it started")
    mixed = queue_group(store, TINY.with_overrides(repeats=3), "mixed")
    ended(store, mixed[0], 0.7)
    ended(store, mixed[1], 0.72)
    ended(store, mixed[2], None, RunStatus.DIVERGED)
    return mixed, {g.name: g for g in group_runs(store.list_runs())}


def test_a_group_stopped_half_way_or_mixing_ends_says_so_in_one_line(store):
    _mixed, by_name = stopped_and_mixed(store)
    assert by_name["stopped"].problems() == "2 stopped of 3 runs: its figures are over the 2 runs with a test accuracy"
    assert by_name["mixed"].problems() == "1 diverged of 3 runs: its figures are over the 2 runs with a test accuracy"
    assert by_name["mixed"].status_text() == "2 finished · 1 diverged"
    assert by_name["mixed"].spread("test_acc").n == 2
    lines = differences({"mixed": by_name["mixed"], "stopped": by_name["stopped"]})
    assert lines[0].startswith("mixed: 1 diverged of 3 runs") and lines[1].startswith("stopped: 2 stopped")
    assert lines[2].startswith("stopped against mixed: −0.060 (95 % CI") and lines[2].endswith("within noise")


def test_a_comparison_of_single_runs_says_no_noise_estimate(store):
    a, b = store.create_run(TINY, "a"), store.create_run(TINY.with_overrides(lr=0.01), "b")
    ended(store, a, 0.7)
    ended(store, b, 0.8)
    groups = {g.name: g for g in group_runs(store.list_runs())}
    [line] = differences({"a": groups["a"], "b": groups["b"]})
    assert line == "b against a: +0.100: no noise estimate with one run on a side (3 repeats of each would give one)"


def test_the_mean_curve_and_its_band_span_the_seeds():
    curves = [[MetricPoint(0.5, 2.0, 0.2), MetricPoint(1.0, 1.0, 0.5, 0.50)],
              [MetricPoint(0.5, 1.8, 0.3), MetricPoint(1.0, 1.2, 0.4, 0.60)],
              [MetricPoint(0.5, 2.2, 0.1)]]  # stopped half-way: it counts where it reached
    mean, bands = mean_curves(curves)
    loss = bands["train_loss"]
    assert loss.epochs == [0.5, 1.0] and loss.mean == pytest.approx([2.0, 1.1])
    assert (loss.low, loss.high) == (pytest.approx([1.8, 1.0]), pytest.approx([2.2, 1.2]))
    assert bands["test_acc"].mean == pytest.approx([0.55]) and mean[-1].test_acc == pytest.approx(0.55)
    assert mean_curves([curves[0]]) == (curves[0], {})  # one run: its own curve, no band


def test_a_sweep_with_repeats_makes_each_point_a_group(store):
    plan = plan_sweep(TINY.with_overrides(repeats=2), [("lr", "0.1, 0.05")])
    assert plan.ok and plan.trained == 4
    ids = queue_sweep(store, plan)
    groups = group_runs([store.get_run(i) for i in ids])
    assert [len(g.runs) for g in groups] == [2, 2] and {g.runs[0].sweep for g in groups} == {plan_sweep_label(store)}
    too_many = plan_sweep(TINY.with_overrides(repeats=10), [("lr", "0.1, 0.05, 0.02, 0.01, 0.005")])
    assert [str(i) for i in too_many.issues] == ["sweep: 5 points × 10 seeds is more than 48 runs: use fewer values "
                                                 "or repeats"]


def plan_sweep_label(store: RunStore) -> str:
    return store.list_runs()[0].sweep


def test_an_old_store_opens_with_no_groups(tmp_path):
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, status TEXT NOT NULL, "
               "config TEXT NOT NULL, sweep TEXT, created_at REAL NOT NULL, started_at REAL, finished_at REAL, "
               "heartbeat_at REAL, device TEXT, pid INTEGER, pid_start TEXT, host TEXT, progress TEXT NOT NULL "
               "DEFAULT '{}', final TEXT NOT NULL DEFAULT '{}', message TEXT, hint TEXT, checkpoint TEXT, "
               "stop_requested INTEGER NOT NULL DEFAULT 0)")
    db.execute("INSERT INTO runs (name, status, config, created_at) VALUES ('old', 'finished', ?, 0)",
               (TINY.to_json(),))
    db.commit()
    db.close()
    [run] = RunStore(tmp_path).list_runs()
    assert run.group is None and group_runs([run])[0].single


@pytest.mark.parametrize("value", ["0", "11"])
def test_repeats_out_of_range_is_one_line_and_nothing_queued(value, nin_home, capsys):
    from nin_core.cli import main

    assert main(["train", "--preset", "tiny", "--repeats", value]) == 2
    err = capsys.readouterr().err
    assert err == f"error: train.repeats: must be between 1 and 10, got {value}\n"
    assert RunStore(nin_home).list_runs() == []


def test_the_runs_page_shows_a_group_as_its_mean_and_its_runs_one_click_away(store):
    ids = queue_group(store, TINY.with_overrides(repeats=3), "tiny")
    for run_id, acc in zip(ids, (0.70, 0.74, 0.72), strict=True):
        ended(store, run_id, acc, curve=(acc - 0.1, acc))
    other = store.create_run(TINY.with_overrides(lr=0.01), "slow")
    ended(store, other, 0.5)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    frame = at.dataframe[0].value
    assert list(frame["name"]) == ["slow", "tiny"] and list(frame["runs"]) == [1, 3]
    assert frame["test acc"].iloc[1] == pytest.approx(0.72) and frame["± sd"].iloc[1] == pytest.approx(0.02)
    [chart] = at.get("plotly_chart")[:1]
    assert any(t.get("fill") == "tonexty" for t in json.loads(chart.proto.spec)["data"])  # the group's band
    assert any("against" in c.value and "no noise estimate" in c.value for c in at.caption)
    at.toggle(key="runs.singles").set_value(True).run()
    assert len(at.dataframe[0].value) == 4  # every run, one click away


@pytest.mark.slow
def test_train_repeats_from_the_shell_trains_each_seed_and_prints_the_group(nin_home, data):
    out = subprocess.run([sys.executable, "-m", "nin_core", "train", "--preset", "tiny", "--train-size", "256",
                          "--test-size", "64", "--epochs", "1", "--repeats", "2", "--quiet", "--name", "two"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode in (0, 1), out.stderr[-2000:]  # 1: a seed that ended at chance on so few images
    runs = RunStore(nin_home).list_runs()
    assert sorted(r.config.train.seed for r in runs) == [0, 1] and len({r.group for r in runs}) == 1
    [group] = group_runs(runs)
    spread = group.spread("test_acc")
    assert "two, 2 seeds: " in out.stdout and f"test acc {spread.text()}" in out.stdout
    listed = subprocess.run([sys.executable, "-m", "nin_core", "runs"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert "group" in listed.stdout and "2 seeds, test acc" in listed.stdout
