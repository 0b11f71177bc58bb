"""Run-time estimates, sweeps and configurations in links: plain Python, no Streamlit."""

from __future__ import annotations

import json
import math

import pytest

from nin_core.lab import estimate as est
from nin_core.lab.estimate import Throughput, estimate_run, throughput
from nin_core.network.config import CPU, PRESETS, SEED, TINY, BlockConfig, ConfigIssue, parse_blocks
from nin_core.network.durations import format_duration
from nin_core.network.settings import format_value
from nin_core.runs.store import RunStore
from nin_core.runs.sweep import MAX_RUNS, pick_live_run, plan_sweep, queue_position, queue_sweep, sweep_label
from nin_core.runs.urlconfig import closest_preset, decode, describe, encode

RATE = Throughput("test device", 1e10, 0.01, 0.0)  # 10 G mult-adds/s, 10 ms a step


# --- estimates ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cpu_rate() -> Throughput:
    return throughput("cpu")


@pytest.mark.slow
def test_measuring_the_cpu_takes_seconds_and_is_remembered(cpu_rate):
    assert cpu_rate.device.startswith("CPU")
    assert 1e8 < cpu_rate.mult_adds_per_s < 1e13
    assert cpu_rate.step_overhead_s >= 0
    assert cpu_rate.setting == "cpu" and 0 < cpu_rate.startup_s < 120  # a fresh process importing torch
    assert throughput("cpu") is cpu_rate  # in memory: measured once per device


@pytest.mark.slow
def test_the_seed_config_takes_hours_on_this_cpu(cpu_rate):
    e = estimate_run(SEED.with_overrides(device="cpu"), cpu_rate)
    assert e.takes_hours and e.seconds > 3600
    assert " h" in e.text or "day" in e.text
    assert e.mult_adds_per_image == 762_297_352 and e.train_images == 60_000 and e.test_images == 10_000
    assert e.text in e.warning and "**cpu** preset" in e.warning


@pytest.mark.slow
def test_the_tiny_config_takes_seconds_to_minutes_on_this_cpu(cpu_rate):
    e = estimate_run(TINY, cpu_rate)
    assert not e.takes_hours and e.seconds < 600 and e.warning is None


def test_a_small_network_is_estimated_from_its_own_steps(monkeypatch):
    timed = []

    def fake(config, setting, home=None):
        timed.append((config.train.batch_size, setting))
        return est.StepTimes(step_s=0.02, eval_batch_s=0.05, setup_s=1.0, measured_at=0.0)

    monkeypatch.setattr(est, "step_times", fake)
    rate = Throughput("CPU (test)", 1e10, 0.01, 0.0, "cpu", 3.0)
    e = estimate_run(TINY, rate)
    # 4000 images in batches of 64, two epochs; 1000 test images are one evaluation batch (1024 at 28 px).
    assert e.train_s == pytest.approx(2 * 63 * 0.02) and e.eval_s == pytest.approx(2 * 0.05)
    assert e.seconds == pytest.approx(e.train_s + e.eval_s + 3.0 + 1.0)  # start-up, then kernels set up
    estimate_run(SEED, rate)  # 762 M multiply-adds × 128 images a step: as busy as the benchmark, from the rate
    assert timed == [(64, "cpu")]


@pytest.mark.slow
def test_timing_a_configuration_is_remembered_for_what_does_not_change_it():
    first = est.step_times(TINY, "cpu")
    assert 0 < first.step_s < 10 and 0 < first.eval_batch_s < 10 and first.setup_s >= 0
    assert est.step_times(TINY.with_overrides(lr=0.5, epochs=7, train_size=100), "cpu") is first


def test_a_configurations_steps_are_kept_beside_the_device_speed(tmp_path, monkeypatch):
    """A restarted app (memory empty) finds them in estimates.json rather than timing them again; a day later it
    times them again."""
    timings = []

    def fake(device, config):
        timings.append(config.train.batch_size)
        return est.StepTimes(0.02, 0.05, 1.0, __import__("time").time())

    monkeypatch.setattr(est, "_time_config", fake)
    monkeypatch.setattr(est, "_steps", {})
    first = est.step_times(TINY, "cpu", home=tmp_path)
    assert est.step_times(TINY.with_overrides(lr=0.5), "cpu", home=tmp_path) is first and timings == [64]
    monkeypatch.setattr(est, "_steps", {})  # a new process
    assert est.step_times(TINY, "cpu", home=tmp_path) == first and timings == [64]
    est.step_times(TINY.with_overrides(batch_size=32), "cpu", home=tmp_path)  # another step: timed
    assert timings == [64, 32]
    saved = json.loads((tmp_path / "estimates.json").read_text())
    assert len(saved) == 2 and all(v["step_s"] == 0.02 for v in saved.values())
    for entry in saved.values():
        entry["measured_at"] -= est.CACHE_MAX_AGE_S + 1
    (tmp_path / "estimates.json").write_text(json.dumps(saved))
    monkeypatch.setattr(est, "_steps", {})
    est.step_times(TINY, "cpu", home=tmp_path)
    assert timings == [64, 32, 64]


def test_a_long_run_of_a_small_network_gets_other_advice():
    e = estimate_run(CPU.with_overrides(epochs=200), Throughput("CPU (2 threads)", 1e10, 0.01, 0.0))
    assert e.takes_hours and "cpu** preset" not in e.warning and "Fewer epochs" in e.warning


def test_the_estimate_scales_with_epochs_and_images():
    one = estimate_run(CPU.with_overrides(epochs=1), RATE)
    two = estimate_run(CPU.with_overrides(epochs=2), RATE)
    assert two.train_s == pytest.approx(2 * one.train_s) and two.eval_s == pytest.approx(2 * one.eval_s)
    half = estimate_run(CPU.with_overrides(epochs=1, train_size=30_000, test_size=5_000), RATE)
    assert half.train_s == pytest.approx(one.train_s / 2, rel=0.01)
    assert half.eval_s == pytest.approx(one.eval_s / 2, rel=0.05)
    # The formula: 3 × mult-adds × images × epochs / rate for training, plus the steps' fixed cost.
    ma = one.mult_adds_per_image
    steps = math.ceil(60_000 / CPU.train.batch_size)
    assert one.train_s == pytest.approx(3 * ma * 60_000 / 1e10 + steps * 0.01)
    assert one.seconds == pytest.approx(one.train_s + one.eval_s + est.STARTUP_S)


def test_a_faster_device_gives_a_shorter_estimate():
    slow = estimate_run(SEED, RATE)
    fast = estimate_run(SEED, Throughput("gpu", 1e13, 0.001, 0.0))
    assert fast.seconds < slow.seconds / 100
    assert not fast.takes_hours and slow.takes_hours


def test_an_architecture_that_breaks_has_no_estimate():
    with pytest.raises(ValueError, match="too small|smaller than"):
        estimate_run(SEED.with_overrides(resize=32), RATE)


@pytest.mark.parametrize(("seconds", "text"), [
    (3, "about 5 s"), (38, "about 40 s"), (100, "about 2 min"), (59 * 60 + 50, "about 1 h"),
    (3 * 3600 + 20 * 60, "about 3 h 20 min"), (2 * 3600 + 2 * 60, "about 2 h"), (50 * 3600, "about 2 days 2 h"),
])
def test_human_duration(seconds, text):
    assert format_duration(seconds, about=True) == text


def test_the_measurement_is_cached_in_the_home_folder(tmp_path, monkeypatch):
    calls = []

    def fake(device, dtype):
        calls.append(device)
        return Throughput("CPU (fake)", 2e10, 0.0, __import__("time").time(), "cpu")

    monkeypatch.setattr(est, "measure_throughput", fake)
    monkeypatch.setattr(est, "_cache", {})
    first = throughput("cpu", home=tmp_path)
    assert calls and first.mult_adds_per_s == 2e10
    saved = json.loads((tmp_path / "estimates.json").read_text())
    assert list(saved.values())[0]["mult_adds_per_s"] == 2e10
    monkeypatch.setattr(est, "_cache", {})  # a new process: memory is empty, the file is not
    assert throughput("cpu", home=tmp_path) == first and len(calls) == 1
    assert throughput("cpu", home=tmp_path, refresh=True) and len(calls) == 2


# --- links --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_round_trips_through_a_link(name):
    params = encode(PRESETS[name], name)
    assert params == {"preset": name}
    back = decode(params)
    assert back.config == PRESETS[name] and back.preset == name and not back.issues


def test_a_modified_config_round_trips_with_only_its_changes():
    config = CPU.with_overrides(lr=0.05, resize=32, train_size=None, test_size=500, optimizer="adamw",
                                weight_decay=1e-5, data_dir="/data/fm",
                                blocks=(BlockConfig(48, 5, 1, 2), BlockConfig(96, 3), BlockConfig(10, 3, 1, 1)))
    params = encode(config, "cpu")
    assert params == {"preset": "cpu", "blocks": "48-5-1-2,96-3-1-0,10-3-1-1", "resize": "32", "lr": "0.05",
                      "optimizer": "adamw", "weight_decay": "1e-05", "test_size": "500", "data_dir": "/data/fm"}
    back = decode(params)
    assert back.config == config and not back.unreadable
    # The same settings read from the tiny preset need more parameters, and still come back.
    assert decode(encode(config, "tiny")).config == config
    assert decode(encode(TINY.with_overrides(train_size=None), "tiny")).config.train.train_size is None


def test_blocks_may_leave_off_stride_and_padding():
    blocks, problem = parse_blocks("96-11-4, 10-3")
    assert problem is None and blocks == (BlockConfig(96, 11, 4, 0), BlockConfig(10, 3, 1, 0))


def test_bad_params_give_issues_not_exceptions():
    got = decode({"preset": "huge", "lr": "fast", "epochs": "2.5", "blocks": "48-5-1-x", "foo": "bar",
                  "resize": "28"}, default="tiny")
    fields = {i.field for i in got.unreadable}
    assert fields == {"preset", "lr", "epochs", "blocks"}
    assert got.preset == "tiny" and got.config == TINY  # everything unreadable is left at the preset's
    assert got.ignored == ["foo"]
    assert any("unknown preset 'huge'" in i.message for i in got.unreadable)
    assert any("must be a number, got 'fast'" in i.message for i in got.unreadable)


def test_values_that_read_but_are_out_of_range_stay_and_are_reported():
    got = decode({"preset": "cpu", "lr": "0", "resize": "8"})
    assert got.config.train.lr == 0.0 and not got.unreadable
    fields = {i.field for i in got.issues}
    assert {"train.lr", "arch.resize"} <= fields


def test_a_link_may_repeat_a_param_and_the_last_wins():
    assert decode({"preset": ["seed", "tiny"], "lr": ["0.1", "0.02"]}).config == TINY.with_overrides(lr=0.02)


def test_closest_preset_and_description():
    assert closest_preset(TINY.with_overrides(lr=0.01)) == "tiny"
    assert describe(CPU.with_overrides(lr=0.05, resize=32), "cpu") == "cpu, resize=32, lr=0.05"
    assert describe(SEED) == "seed"
    assert format_value(0.1) == "0.1" and format_value(2.0) == "2" and format_value(None) == "all"


# --- sweeps -------------------------------------------------------------------------------------------

def test_sweep_is_the_cartesian_product_with_names():
    plan = plan_sweep(TINY, [("lr", "0.05, 0.01"), ("batch_size", "64,128, 256")])
    assert plan.ok and len(plan.runs) == 6
    assert [r.name for r in plan.runs[:3]] == ["lr=0.05, batch_size=64", "lr=0.05, batch_size=128",
                                                "lr=0.05, batch_size=256"]
    assert plan.runs[-1].config == TINY.with_overrides(lr=0.01, batch_size=256)
    assert plan.settings == ["lr", "batch_size"]
    assert sweep_label(plan, now=0).startswith("lr × batch_size, ")


def test_one_setting_and_strings():
    plan = plan_sweep(TINY, [("optimizer", "SGD, adamw"), ("", "")])
    assert plan.ok and [r.config.train.optimizer for r in plan.runs] == ["sgd", "adamw"]


@pytest.mark.parametrize(("axes", "expected"), [
    ([("lr", "0.1, fast")], ConfigIssue("sweep.lr", "must be a number, got 'fast'")),
    ([("batch_size", "64, 64.5")], ConfigIssue("sweep.batch_size", "must be a whole number, got 64.5")),
    ([("lr", "0.1, 0.1")], ConfigIssue("sweep.lr", "0.1 is listed twice")),
    ([("lr", "  ")], ConfigIssue("sweep.lr", "give at least one value, separated by commas")),
    ([("lr", "0.1"), ("lr", "0.2")], ConfigIssue("sweep.lr", "is chosen twice: pick two different settings")),
    ([("colour", "red")], None),
    ([], ConfigIssue("sweep", "choose a setting to sweep")),
])
def test_bad_sweep_values_are_reported(axes, expected):
    plan = plan_sweep(TINY, axes)
    assert not plan.ok and plan.issues
    if expected is not None:
        assert expected in plan.issues


def test_values_the_configuration_rejects_are_reported_once_each():
    plan = plan_sweep(TINY, [("lr", "0, 0.01"), ("resize", "4, 28")])
    assert not plan.ok
    messages = sorted(str(i) for i in plan.issues)
    assert messages == ["sweep.lr: lr=0: must be in (0, 100], got 0",
                        "sweep.resize: resize=4: resize 4 is too small for this architecture: it needs at least 7 "
                        "px (the second max-pool would get a 1×1 input, smaller than its 3×3 window)"]


def test_too_many_runs():
    values = ", ".join(str(i) for i in range(MAX_RUNS + 1))
    plan = plan_sweep(TINY, [("seed", values)])
    assert not plan.ok and "more than" in plan.issues[0].message


def test_queue_sweep_puts_the_runs_in_the_store_in_order(tmp_path):
    store = RunStore(tmp_path)
    plan = plan_sweep(TINY, [("lr", "0.001, 0.003")])
    ids = queue_sweep(store, plan, "my sweep")
    runs = store.list_runs()
    assert [r.id for r in sorted(runs, key=lambda r: r.id)] == ids
    assert {r.sweep for r in runs} == {"my sweep"} and {r.status for r in runs} == {"queued"}
    assert [store.get_run(i).name for i in ids] == ["lr=0.001", "lr=0.003"]
    assert store.get_run(ids[1]).config.train.lr == 0.003
    assert [queue_position(runs, i) for i in ids] == [1, 2]
    with pytest.raises(ValueError):
        queue_sweep(store, plan_sweep(TINY, [("lr", "0")]))


def test_the_run_to_show(tmp_path):
    store = RunStore(tmp_path)
    assert pick_live_run(store.list_runs()) is None
    a, b, c = (store.create_run(TINY, n) for n in "abc")
    runs = store.list_runs()
    assert pick_live_run(runs).id == a  # next in line
    assert pick_live_run(runs, watched=c).id == c  # the one just launched
    store.finish(a, "finished")
    store.finish(b, "failed")
    store.finish(c, "stopped")
    runs = store.list_runs()
    assert pick_live_run(runs, watched=b).id == b
    assert pick_live_run(runs).id == c  # the newest
    assert queue_position(runs, a) is None


def test_each_run_of_a_sweep_has_its_own_estimate():
    plan = plan_sweep(CPU, [("epochs", "1, 2")])
    secs = [estimate_run(r.config, RATE).train_s for r in plan.runs]
    assert secs[1] == pytest.approx(2 * secs[0])
