"""Continuing a run: a stopped, interrupted or finished run trains on from its checkpoint, keeps its id, and ends
as the same run would have without the stop; every case that cannot continue gets one line and changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from nin_core.network.checkpoint import save_checkpoint
from nin_core.network.config import TINY
from nin_core.network.model import build_model
from nin_core.runs import jobs
from nin_core.runs.jobs import CHECKPOINT_NAME, continue_run, run_training
from nin_core.runs.store import RunStore

# float32 on the CPU with a fixed seed: the same arithmetic in the same order, so a continued run can match.
CONFIG = TINY.with_overrides(train_size=768, test_size=256, epochs=3, device="cpu", precision="float32",
                             batch_norm=True, augment="flip-shift", schedule="onecycle", optimizer="sgd",
                             momentum=0.9, nesterov=True, lr=0.1)


def per_epoch(store: RunStore, run_id: int) -> list[float]:
    """Each epoch's end, its train loss (the last training point) and its test accuracy, flattened."""
    points = store.metrics(run_id)
    out = []
    for p in points:
        if p.test_acc is not None:
            loss = [q.train_loss for q in points if q.train_loss is not None and q.epoch <= p.epoch][-1]
            out += [p.epoch, loss, p.test_acc]
    return out


@pytest.mark.slow
def test_a_run_stopped_after_its_first_epoch_continues_to_the_same_end(nin_home, fixed_threads):
    store = RunStore()
    whole = store.create_run(CONFIG, "whole")
    run_training(store, whole)

    stopped = store.create_run(CONFIG, "stopped")
    seen = {"evaluated": False}

    def stop_after_epoch_one() -> bool:  # asked once epoch 1 is evaluated: stops in epoch 2
        seen["evaluated"] = seen["evaluated"] or bool(store.metrics(stopped)) and any(
            p.test_acc is not None for p in store.metrics(stopped))
        return seen["evaluated"]

    run_training(store, stopped, should_stop=stop_after_epoch_one)
    run = store.get_run(stopped)
    assert run.status == "stopped" and run.progress.epoch == 2
    reached = continue_run(store, stopped, 3)
    assert 1 <= reached < 2
    run_training(store, stopped)

    a, b = store.get_run(whole), store.get_run(stopped)
    assert b.status == "finished" and b.id == stopped and b.resumes[0]["from_epoch"] == reached
    assert per_epoch(store, stopped) == pytest.approx(per_epoch(store, whole), abs=2e-3)
    assert b.final["test_acc"] == pytest.approx(a.final["test_acc"], abs=2e-3)
    assert b.final["train_loss"] == pytest.approx(a.final["train_loss"], abs=2e-3)


def wait_for(predicate, timeout=300.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
def test_an_interrupted_run_continues_from_its_last_epoch(nin_home, processes):
    config = CONFIG.with_overrides(train_size=1536, epochs=2)
    path = nin_home / "config.json"
    nin_home.mkdir(parents=True, exist_ok=True)
    path.write_text(config.to_json())
    env = os.environ | {"NIN_HOME": str(nin_home)}
    trainer = processes.start([sys.executable, "-m", "nin_core", "train", "--config", str(path), "--quiet"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = RunStore()
    wait_for(lambda: store.list_runs() and store.list_runs()[0].progress.epoch == 2
             and store.list_runs()[0].progress.batch > 0, what="epoch 2 to begin")
    os.kill(trainer.pid, signal.SIGKILL)
    trainer.wait()
    [run] = store.list_runs()
    assert run.status == "interrupted"
    epoch_two_points = [p for p in store.metrics(run.id) if p.epoch > 1]

    out = subprocess.run([sys.executable, "-m", "nin_core", "train", "--resume", str(run.id), "--quiet"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert f"run {run.id}: continuing from epoch 1 to 2" in out.stderr
    run = store.get_run(run.id)
    assert run.status == "finished" and len(run.resumes) == 1
    points = store.metrics(run.id)
    assert [p.epoch for p in points] == sorted(p.epoch for p in points)
    for kind in ("train_loss", "test_acc"):  # the killed epoch's points were drawn again, not twice
        epochs = [p.epoch for p in points if getattr(p, kind) is not None]
        assert len(epochs) == len(set(epochs)), kind
    assert len([p for p in store.metrics(run.id) if p.epoch > 1]) >= len(epoch_two_points)
    assert "loss" in out.stdout and "examples/sec" in out.stdout


def ended_run(store: RunStore, status="stopped", *, with_state=True, config=TINY) -> int:
    run_id = store.create_run(config, "ended")
    store.finish(run_id, status, message="by the test")
    model = build_model(TINY.arch)
    state = None
    if with_state:
        state = {"epoch": 2, "batch": 0, "batches": 63, "step": 63, "optimizer": {}, "shuffle": None,
                 "augment": None, "torch_rng": None, "cuda_rng": None, "sums": [0, 0, 0, 0], "train_s": 1.0,
                 "eval_s": 0.1, "evals": 1, "progress": {}}
    save_checkpoint(store.run_dir(run_id) / CHECKPOINT_NAME, model, config, epoch=1, train_state=state)
    return run_id


@pytest.mark.parametrize("case, words", [
    ("running", "is running: only a stopped, interrupted or finished run can continue"),
    ("no checkpoint", "cannot continue: no checkpoint at"),
    ("older format", "from an older format that kept only the model: it can still be used for prediction"),
    ("too few epochs", "has trained 1 epochs: give a total above that, got 1"),
    ("invalid now", "configuration no longer validates: train.lr: must be in (0, 100], got -1"),
    ("unknown run", "no run with id 999"),
])
def test_a_run_that_cannot_continue_gets_one_line_and_nothing_changes(case, words, nin_home, cli_main):
    store = RunStore()
    run_id, epochs = 999, "3"
    if case == "running":
        run_id = store.create_run(TINY, "live")
        store.mark_running(run_id, "cpu")
    elif case == "no checkpoint":
        run_id = store.create_run(TINY, "x")
        store.finish(run_id, "stopped")
    elif case == "older format":
        run_id = ended_run(store, with_state=False)
    elif case == "too few epochs":
        run_id, epochs = ended_run(store), "1"
    elif case == "invalid now":
        run_id = ended_run(store, config=TINY.with_overrides(lr=-1.0))
    before = store.get_run(run_id) if case != "unknown run" else None
    code, _, err = cli_main("train", "--resume", str(run_id), "--epochs", epochs)
    assert code == 2 and err.count("\n") == 1 and words in err, err
    if before is not None:
        assert store.get_run(run_id) == before


def test_resume_takes_only_epochs(nin_home, cli_main):
    code, _, err = cli_main("train", "--resume", "1", "--lr", "0.1")
    assert code == 2 and "only --epochs may go with it" in err


def test_continue_from_the_runs_page_queues_the_same_run(nin_home, monkeypatch):
    store = RunStore()
    run_id = ended_run(store)
    monkeypatch.setattr(jobs, "ensure_worker", lambda store: None)  # the queue is what this test looks at
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.number_input(key=f"continue-epochs-{run_id}").set_value(4)
    next(b for b in at.button if b.label == "Continue training").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = store.get_run(run_id)
    assert run.status == "queued" and run.config.train.epochs == 4 and run.resumes[0]["from_epoch"] == 1
    assert len(store.list_runs()) == 1
