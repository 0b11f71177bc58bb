"""The Playground & training page in Streamlit's AppTest: it renders, explains bad settings next to them, keeps
the configuration in the link, queues sweeps, and a run launched from it trains to the end in a real worker."""

from __future__ import annotations

import time

import pytest
from conftest import APP, live_panel, rendered, widget
from streamlit.testing.v1 import AppTest

from nin_core.runs.store import RunStore
from ui.live_run import SWITCH_GUARD_S

pytestmark = pytest.mark.usefixtures("fake_throughput")  # the page times the device for its estimate: not here


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts).replace("\\", "")  # Markdown escapes out


def choose_preset(at: AppTest, name: str) -> AppTest:
    widget(at, "radio", "Preset").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_renders_presets_settings_summary_and_estimate(nin_home):
    at = app()
    assert widget(at, "radio", "Preset").options == ["seed", "seed-bn", "cpu", "tiny"]
    labels = {m.label for m in at.metric}
    assert {"Output", "Parameters", "Multiply-adds per image", "Smallest input", "Estimated time"} <= labels
    assert widget(at, "metric", "Output").value == "1×10"
    assert not widget(at, "button", "Train").disabled
    assert at.query_params["preset"] in ("seed", "cpu")
    (blocks,) = at.data_editor  # the blocks table, a row per NiN block
    assert list(blocks.value.columns) == ["out_channels", "kernel_size", "stride", "padding"]
    assert len(blocks.value) == 4
    for label in ("Pool kernel", "Pool stride", "Dropout", "Input channels", "Classes", "Resize (px)",
                  "Learning rate", "Epochs", "Batch size", "Momentum", "Weight decay", "Random seed",
                  "Training images", "Test images"):
        widget(at, "number_input", label)
    for label in ("Optimizer", "Initialisation", "Precision", "Device"):
        widget(at, "selectbox", label)
    assert widget(at, "selectbox", "Device").value == "auto"  # auto picks the GPU when there is one


def test_seed_on_cpu_warns_of_hours(nin_home, monkeypatch):
    at = app()
    choose_preset(at, "seed")
    widget(at, "selectbox", "Device").set_value("cpu").run()
    est = widget(at, "metric", "Estimated time").value
    assert " h" in est or "day" in est, est
    assert any("would take" in w.value for w in at.warning)


def test_invalid_lr_is_explained_next_to_it_and_blocks_training(nin_home):
    at = app()
    widget(at, "number_input", "Learning rate").set_value(0.0).run()
    assert "must be in (0, 100], got 0" in texts(at)
    assert widget(at, "button", "Train").disabled
    widget(at, "number_input", "Learning rate").set_value(0.05).run()
    assert widget(at, "button", "Train").disabled is False
    assert at.query_params["lr"] == "0.05"
    assert "lr 0.05" in next(c.value for c in at.caption if c.value.startswith("Changed from"))  # in the same run


def test_out_of_range_numbers_reach_validation_and_a_broken_network_says_whose_parameters(nin_home):
    at = choose_preset(app(), "tiny")
    widget(at, "number_input", "Epochs").set_value(5000).run()  # no widget bound clips it to 1000 silently
    assert widget(at, "number_input", "Epochs").value == 5000
    assert "must be between 1 and 1000, got 5000" in texts(at) and widget(at, "button", "Train").disabled
    widget(at, "number_input", "Epochs").set_value(2).run()
    widget(at, "number_input", "Resize (px)").set_value(4).run()
    assert "Parameters (up to the failing layer)" in {m.label for m in at.metric}


def test_resize_too_small_is_explained(nin_home):
    at = choose_preset(app(), "tiny")
    widget(at, "number_input", "Resize (px)").set_value(4).run()
    assert "resize 4 is too small for this architecture: it needs at least 7 px" in texts(at)
    assert widget(at, "button", "Train").disabled


def test_link_sets_the_configuration_and_bad_params_are_reported(nin_home):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"preset": "tiny", "lr": "0.01", "epochs": "lots"})
    at.run()
    assert not at.exception
    assert widget(at, "radio", "Preset").value == "tiny"
    assert widget(at, "number_input", "Learning rate").value == 0.01
    assert widget(at, "number_input", "Epochs").value == 2  # the unreadable one is left at the preset's
    assert any("`epochs` was not used" in w.value for w in at.warning)
    assert at.query_params == {"preset": "tiny", "lr": "0.01", "lang": "en"}  # every link carries its language


def test_a_link_with_values_out_of_range_shows_them_with_their_problems(nin_home):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"preset": "cpu", "epochs": "0", "lr": "500", "dropout": "1.5", "device": "cuda:7"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert widget(at, "number_input", "Epochs").value == 0
    shown = texts(at)
    assert "must be between 1 and 1000, got 0" in shown and "must be in (0, 100], got 500" in shown
    assert "must be in [0, 1), got 1.5" in shown and "cuda:7 was asked for" in shown
    assert widget(at, "button", "Train").disabled


def test_uploaded_json_loads_and_a_bad_one_changes_nothing(nin_home):
    from nin_core.network.config import TINY

    at = app()
    before = widget(at, "number_input", "Learning rate").value
    at.file_uploader[0].set_value(("broken.json", b"{not json", "application/json")).run()
    assert any("broken.json was not loaded" in rendered(e.value) for e in at.error)
    assert widget(at, "number_input", "Learning rate").value == before
    good = TINY.with_overrides(lr=0.002, epochs=3).to_json().encode()
    at.file_uploader[0].set_value(("mine.json", good, "application/json")).run()
    assert not at.exception
    assert widget(at, "number_input", "Learning rate").value == 0.002
    assert widget(at, "number_input", "Epochs").value == 3
    assert at.query_params["preset"] == "tiny"


def test_sweep_over_two_lrs_queues_two_runs(nin_home, monkeypatch):
    import nin_core.runs.jobs

    started = []
    monkeypatch.setattr(nin_core.runs.jobs, "ensure_worker", lambda store: started.append(store.home))
    at = choose_preset(app(), "tiny")
    at.selectbox(key="sweep.setting0").set_value("lr").run()
    at.text_input(key="sweep.values0").input("0.001, 0.003").run()
    assert at.button(key="sweep.queue").label == "Queue 2 runs"
    at.button(key="sweep.queue").click().run()
    assert not at.exception
    runs = RunStore(nin_home).list_runs()
    assert sorted(r.name for r in runs) == ["tiny · lr=0.001", "tiny · lr=0.003"]  # named after their base
    assert all(r.status == "queued" for r in runs) and len({r.sweep for r in runs}) == 1
    assert started
    assert "Queued, number 1 in line" in texts(at)


def test_sweep_with_a_bad_value_says_so(nin_home):
    at = choose_preset(app(), "tiny")
    at.selectbox(key="sweep.setting0").set_value("batch_size").run()
    at.text_input(key="sweep.values0").input("64, big").run()
    assert "must be a whole number, got 'big'" in texts(at)
    assert at.button(key="sweep.queue").disabled


@pytest.mark.slow
def test_a_link_with_400_blocks_or_huge_values_echoes_none_of_them(nin_home):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"preset": "tiny", "blocks": ",".join(["16-3-1-1"] * 400), "data_dir": "/x" * 10_000,
                            "optimizer": "a" * 20_000})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = texts(at)
    assert "NiN blocks: must hold between 1 and 8 blocks" in shown and "(20,002 characters)" in shown
    assert "blocks 16-3-1-1,16-3-1-1,16-3-1-1,16-3-1-1,16-3… (3,599 characters)" in shown  # what changed, capped
    assert len(shown) < 3000  # not 400 blocks, not 20,000 characters
    assert widget(at, "button", "Train").disabled
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"preset": "t" * 20_000})
    at.run()
    assert any(f"unknown preset '{'t' * 39}… (20,002 characters)" in w.value for w in at.warning)
    assert len(texts(at)) < 3000


def test_after_train_the_run_is_pointed_to_and_scrolled_to_and_tiny_says_what_to_expect(nin_home, monkeypatch):
    import nin_core.runs.jobs

    monkeypatch.setattr(nin_core.runs.jobs, "ensure_worker", lambda store: None)  # no real training here
    at = choose_preset(app(), "tiny")
    tiny = widget(at, "radio", "Preset")
    assert "near 35 % test accuracy" in tiny.proto.captions[tiny.options.index("tiny")]
    widget(at, "button", "Train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (run,) = RunStore(nin_home).list_runs()
    assert f"Run {run.id} is queued: [follow it below](#training)" in texts(at)
    html = [h.proto.body for h in at.get("html")]
    assert sum("scrollIntoView" in body for body in html) == 1  # once, right after Train
    # the queued run's live panel follows it from the browser: the route to ask, every 2 s, nothing drawn yet
    state = live_panel(at)
    assert state["active"] and state["url"] == f"/api/runs/{run.id}/live" and state["poll_ms"] == 2000
    assert state["signature"] == {"status": "queued", "stop_requested": False, "place": 1}
    assert not state["bars"] and "figure" not in state
    at.run()
    html = [h.proto.body for h in at.get("html")]
    assert not any("scrollIntoView" in body for body in html) and f"Run {run.id} is queued" in texts(at)


def test_a_run_started_or_stopped_from_elsewhere_is_said_to_be(nin_home, monkeypatch):
    """The panel follows runs this tab did not start or stop; it says so once, not silently."""
    import nin_core.runs.jobs
    from nin_core.network.config import TINY

    monkeypatch.setattr(nin_core.runs.jobs, "ensure_worker", lambda store: None)  # no real training here
    store = RunStore(nin_home)
    first = store.create_run(TINY, "first")
    store.mark_running(first, "cpu")  # by this (live) process
    at = app()
    assert f"Stop run {first}" in [b.label for b in at.button] and "another tab" not in texts(at)
    store.request_stop(first)  # from another tab
    store.finish(first, "stopped", message="stopped in epoch 1, batch 3")
    at.run()
    assert f"Run {first} was stopped from another tab or the command line." in texts(at)
    other = store.create_run(TINY, "theirs")
    store.mark_running(other, "cpu")
    at.run()
    assert f"Now showing run {other} *theirs*, started from another tab or the command line." in texts(at)
    # the Stop button that took the place of the first one's does not take a click meant for that one
    assert widget(at, "button", f"Stop run {other}").disabled
    # nothing reruns a followed page, so the panel is asked to rerun it once the guard is over
    assert 0 < live_panel(at)["rerun_in_ms"] <= SWITCH_GUARD_S * 1000 + 50
    time.sleep(SWITCH_GUARD_S)
    at.run()
    assert live_panel(at)["rerun_in_ms"] is None
    assert "another tab" not in texts(at)  # said once
    assert not widget(at, "button", f"Stop run {other}").disabled


@pytest.mark.slow
def test_train_tiny_in_a_real_worker_and_see_the_result(nin_home):
    at = choose_preset(app(), "tiny")
    widget(at, "button", "Train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    store = RunStore(nin_home)  # its worker is stopped by the fixture, by the pid the store recorded
    (run,) = store.list_runs()
    assert run.config.train.train_size == 4000
    deadline = time.time() + 120  # the tiny run takes ~20 s; more when the 2 cores are shared
    while time.time() < deadline:
        run = store.get_run(run.id)
        if not run.active:
            break
        time.sleep(1)
    assert run.status == "finished", (run.status, run.message, (nin_home / "worker.log").read_text()[-2000:])
    at.run()
    assert not at.exception
    line = " ".join(s.value for s in at.success)
    assert "loss " in line and "test acc" in line and "examples/sec on cpu" in line
    state = live_panel(at)  # the panel draws the store's progress and curves, and follows the run no more
    assert not state["active"] and state["bars"][1]["text"] == "Whole run: 100%"
    assert dict(state["metrics"])["test acc"] == f"{run.final['test_acc']:.3f}"
    assert [t["name"] for t in state["figure"]["data"]] == ["train loss", "train acc", "test acc"]
    assert f"test acc {run.final['test_acc']:.3f}" in line  # what the page shows is the store's final metrics


def test_what_was_typed_is_still_there_after_another_page(nin_home):
    # Streamlit forgets the state of widgets a page run did not draw: the fields must start from what they held
    at = choose_preset(app(), "tiny")
    widget(at, "number_input", "Learning rate").set_value(0.02).run()
    widget(at, "toggle", "Batch norm").set_value(True).run()
    at.switch_page("pages/runs.py").run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert widget(at, "number_input", "Learning rate").value == 0.02
    assert widget(at, "toggle", "Batch norm").value is True
    assert at.query_params["lr"] in ("0.02", ["0.02"]) and at.query_params["preset"] in ("tiny", ["tiny"])
    widget(at, "number_input", "Epochs").set_value(3).run()  # and the fields still take what is typed next
    assert widget(at, "number_input", "Learning rate").value == 0.02 and at.query_params["epochs"] in ("3", ["3"])
