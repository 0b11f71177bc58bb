"""Issue #5: it keeps working under faults, concurrency and hostile files, and loses no run.

Faults during training (a trainer killed mid-epoch, a diverging learning rate, the app server restarted, two runs
launched at once, a checkpoint that cannot be written), files and access (pickles never run, another architecture's
checkpoint, names and ids that try to leave the data directory, the app bound to localhost), and load (20 readers
while a real trainer writes). Uploads and settings are in test_reliability_uploads.py and
test_reliability_settings.py. docs/reliability.md sums up what each test found.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
import torch
from conftest import APP, ROOT, kill_pid, live_panel
from helpers import finished_run, predict_page
from PIL import Image
from streamlit.testing.v1 import AppTest

from nin_core.network.checkpoint import load_model, save_checkpoint
from nin_core.network.config import TINY
from nin_core.network.model import build_model
from nin_core.network.train import DIVERGED_HINT
from nin_core.runs.jobs import CHECKPOINT_NAME
from nin_core.runs.store import RunStore

# The training page's estimate is not what these are about, and whether or not the demo model is there.
pytestmark = pytest.mark.usefixtures("fake_throughput", "no_demo")
SMALL = ("--preset", "tiny", "--train-size", "256", "--test-size", "64", "--device", "cpu", "--quiet")


def train_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "nin_core", "train", *SMALL, *args]


def wait_for(what, timeout: float = 90.0, every: float = 0.1):
    """Poll ``what()`` until it returns something true; that value, or a failed test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"gave up waiting after {timeout:.0f} s")


def integrity(store: RunStore) -> str:
    db = sqlite3.connect(store.path)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def png_file(path: Path) -> Path:
    buf = io.BytesIO()
    Image.new("L", (40, 40), 200).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


# --- faults during training ------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_trainer_killed_mid_epoch_is_interrupted_and_its_last_checkpoint_loads(nin_home, processes, tmp_path,
                                                                                 capsys):
    store = RunStore(nin_home)
    # Epochs enough that the run is still under way when polled, however fast the machine.
    proc = processes.start(train_command("--epochs", "200", "--name", "killed"), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    # Epoch 2 under way: epoch 1's checkpoint has been written.
    run = wait_for(lambda: next((r for r in store.list_runs() if r.status == "running"
                                 and r.progress.epoch >= 2 and r.progress.phase == "training"), None))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    run = store.get_run(run.id)
    assert run.status == "interrupted" and "ended without a word" in run.message
    assert run.checkpoint == str(store.run_dir(run.id) / CHECKPOINT_NAME)  # the store names the checkpoint it kept
    model, config, meta = load_model(run.checkpoint)
    assert config == run.config and 1 <= meta["epoch"] < 200
    assert integrity(store) == "ok"
    points = store.metrics(run.id)
    assert [p.epoch for p in points if p.test_acc is not None][:1] == [1.0]
    assert all(math.isfinite(p.train_loss) for p in points if p.train_loss is not None)
    # and the CLI predicts with it
    from nin_core.cli import main

    assert main(["predict", "--run", str(run.id), str(png_file(tmp_path / "shirt.png")), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)[0]["top_k"]) == 3


@pytest.mark.slow
def test_a_diverging_learning_rate_stops_the_run_as_diverged_with_a_hint(nin_home):
    out = subprocess.run(train_command("--epochs", "3", "--optimizer", "sgd", "--lr", "100"), cwd=ROOT,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stdout.startswith("loss nan, train acc ")
    assert "run 1 diverged: the loss became nan in epoch 1" in out.stderr
    assert f"hint: {DIVERGED_HINT}" in out.stderr
    (run,) = RunStore(nin_home).list_runs()
    assert (run.status, run.message, run.hint) == ("diverged", "the loss became nan in epoch 1", DIVERGED_HINT)
    assert run.progress.epoch == 1  # it stopped at once, not after its three epochs


@pytest.mark.slow
def test_ctrl_c_in_the_first_epoch_stops_cleanly_and_keeps_a_checkpoint(nin_home, processes):
    """Before its first evaluation a run has no test accuracy: the closing lines must still print."""
    store = RunStore(nin_home)
    proc = processes.start(train_command("--epochs", "2", "--train-size", "1024", "--batch-size", "16"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(r.status == "running" and r.progress.batch for r in store.list_runs()))
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert out.startswith("loss ") and "test acc" not in out  # what it has: loss and train acc, then the speed
    (run,) = store.list_runs()
    assert run.status == "stopped" and run.message.startswith("stopped in epoch 1, batch ")
    assert load_model(run.checkpoint)[2]["epoch"] <= 1  # saved where it stopped: in epoch 1, or at its end


def progress_texts(at: AppTest) -> list[str]:
    """The live panel's progress bars, as the page gives them to it to draw."""
    return [bar["text"] for bar in live_panel(at)["bars"]]


@pytest.mark.slow
def test_a_run_left_queued_starts_when_anyone_opens_the_app(nin_home):
    """The machine stopped with runs in the queue (or their worker died): nobody has to queue another to go on."""
    store = RunStore(nin_home)
    run_id = store.create_run(TINY.with_overrides(epochs=1, train_size=256, test_size=64, device="cpu"), "left")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert wait_for(lambda: store.get_run(run_id).status in ("finished", "failed")) and \
           store.get_run(run_id).status == "finished", store.get_run(run_id).message


@pytest.mark.slow
def test_the_app_server_restarted_while_a_run_trains_still_lists_it_and_follows_it_live(nin_home):
    store = RunStore(nin_home)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"preset": "tiny", "epochs": "8", "train_size": "256", "test_size": "64"})
    at.run()
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    run = wait_for(lambda: next((r for r in store.list_runs() if r.status == "running" and r.progress.batch),
                                None))
    del at  # the server goes away; the worker is a process of its own

    fresh = AppTest.from_file(APP, default_timeout=60)  # a new server, a new session, nothing in its state
    fresh.run()
    assert not fresh.exception, [e.value for e in fresh.exception]
    heading = [m.value for m in fresh.markdown if f"run {run.id}" in m.value]
    assert heading and "running" in heading[0], [m.value for m in fresh.markdown]
    first = progress_texts(fresh)
    assert first and first[0].startswith("Epoch "), first
    # Followed live: each look shows where the run is now, until it shows it somewhere else.
    wait_for(lambda: progress_texts(fresh.run()) != first)
    runs_page = AppTest.from_file(APP, default_timeout=60)
    runs_page.switch_page("pages/runs.py").run()
    assert any(o.startswith(f"#{run.id} ") for o in next(s for s in runs_page.selectbox if s.label == "Run").options)

    # Its process goes too (the machine slept, or was switched off): the page says so.
    kill_pid(store.get_run(run.id).pid)
    fresh.run()
    assert store.get_run(run.id).status == "interrupted"
    assert any("Run interrupted" in e.value for e in fresh.error), [e.value for e in fresh.error]


@pytest.mark.slow
def test_two_runs_launched_at_once_on_one_device_take_turns(nin_home, processes):
    store = RunStore(nin_home)
    procs = [processes.start(train_command("--epochs", "1", "--name", f"at once {i}"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE) for i in range(2)]
    most_running, saw_waiting = 0, False
    deadline = time.monotonic() + 180
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        statuses = [r.status for r in store.list_runs()]
        most_running = max(most_running, statuses.count("running"))
        saw_waiting |= statuses.count("running") == 1 and statuses.count("queued") == 1
        time.sleep(0.05)
    assert [p.wait(timeout=10) for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    assert most_running == 1
    assert saw_waiting  # the second was shown as queued while the first trained
    first, second = sorted(store.list_runs(), key=lambda r: r.started_at)
    assert first.status == second.status == "finished"
    assert first.finished_at <= second.started_at  # one after the other, never side by side


@pytest.mark.slow
def test_a_checkpoint_that_cannot_be_written_fails_the_run_and_says_so(nin_home):
    # Run 1's folder is taken by a plain file, so its checkpoint cannot be written (chmod would not stop root).
    (nin_home / "runs").mkdir(parents=True)
    (nin_home / "runs" / "1").write_text("not a folder")
    out = subprocess.run(train_command("--epochs", "1", "--train-size", "64"), cwd=ROOT, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "run 1 failed: could not save the checkpoint to" in out.stderr
    (run,) = RunStore(nin_home).list_runs()
    assert run.status == "failed" and run.message.startswith("could not save the checkpoint to ")
    assert run.checkpoint is None  # nothing pretends a checkpoint was saved


def test_a_run_waiting_for_its_device_cannot_be_deleted_from_under_its_process(nin_home):
    store = RunStore(nin_home)
    run_id = store.create_run(TINY)
    store.claim(run_id)  # this (live) process holds it, as a CLI run or the worker waiting for the device
    with pytest.raises(ValueError, match="waiting for its device .*stop it first"):
        store.delete_run(run_id)
    store.request_stop(run_id)
    store.finish(run_id, "stopped", message="stopped while waiting for the device")  # what its process then does
    store.delete_run(run_id)
    assert store.list_runs() == []


# --- files and access ------------------------------------------------------------------------------------------------

class Payload:
    """Unpickling this creates the marker file: the proof that a pickle ran code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def malicious_checkpoint(path: Path, marker: Path, *, legacy: bool = False) -> Path:
    payload = {"format": "nin-checkpoint/1", "config": TINY.to_dict(), "epoch": 1, "model": Payload(marker)}
    if legacy:
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    return path






def test_the_test_payload_does_run_when_unpickled(tmp_path):
    """The malicious checkpoints below are live: loaded the unsafe way, they do create their marker."""
    marker = tmp_path / "ran"
    torch.load(malicious_checkpoint(tmp_path / "live.pt", marker), weights_only=False)
    assert marker.exists()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_pickle_is_refused_by_the_cli_and_never_runs(nin_home, tmp_path, capsys):
    marker = tmp_path / "pwned"
    image = str(png_file(tmp_path / "x.png"))
    evil = malicious_checkpoint(tmp_path / "evil.pt", marker)
    out = subprocess.run([sys.executable, "-m", "nin_core", "predict", "--checkpoint", str(evil), image],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "is not a NiN checkpoint that loads safely" in out.stderr
    # a plain pickle file (torch's legacy format) too
    from nin_core.cli import main

    legacy = malicious_checkpoint(tmp_path / "legacy.pt", marker, legacy=True)
    assert main(["predict", "--checkpoint", str(legacy), image]) == 2
    assert "is not a NiN checkpoint that loads safely" in capsys.readouterr().err
    assert not marker.exists()


def test_a_malicious_pickle_is_refused_by_the_predict_page_and_never_runs(nin_home, tmp_path):
    marker = tmp_path / "pwned"
    finished_run(nin_home, malicious_checkpoint(tmp_path / "evil.pt", marker))
    at = predict_page()
    (error,) = at.error
    assert error.value.startswith("This model cannot be used: ") and "loads safely" in error.value
    assert not at.file_uploader  # nothing goes on with it
    assert not marker.exists()


def test_a_checkpoint_of_another_architecture_gets_a_clear_message(nin_home, tmp_path, capsys):
    path = save_checkpoint(tmp_path / "other.pt", build_model(TINY.arch), TINY, epoch=1)
    payload = torch.load(path, weights_only=True)
    payload["config"]["arch"]["blocks"][0]["out_channels"] = 24  # the weights are for 16
    torch.save(payload, path)

    from nin_core.cli import main

    assert main(["predict", "--checkpoint", str(path), str(png_file(tmp_path / "x.png"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path} does not match its architecture: size mismatch for 0.0.weight: ") \
        and err.count("\n") == 1, err

    finished_run(nin_home, path)
    at = predict_page()
    (error,) = at.error
    assert error.value.startswith(f"This model cannot be used: {path} does not match its architecture: "
                                  "size mismatch for 0.0.weight: copying a param with shape torch.Size([16, 1, 5, 5])")


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "..", "runs.sqlite", "1/../../../x",
                                  "a\x00b", "name\nwith lines"])
def test_run_names_are_only_names(nin_home, name):
    store = RunStore(nin_home)
    before = set(nin_home.rglob("*"))
    run_id = store.create_run(TINY, name)
    assert store.get_run(run_id).name == " ".join(name.split())
    assert store.run_dir(run_id) == nin_home / "runs" / str(run_id)
    assert set(nin_home.rglob("*")) - before <= {nin_home / "runs.sqlite-wal", nin_home / "runs.sqlite-shm"}
    store.finish(run_id, "stopped")
    store.delete_run(run_id)
    assert (nin_home / "runs.sqlite").exists() and store.list_runs() == []


@pytest.mark.parametrize("run_id", ["../../etc", "1/../../x", "1; DROP TABLE runs", "", None])
def test_run_ids_are_only_whole_numbers(nin_home, run_id, capsys):
    store = RunStore(nin_home)
    with pytest.raises((ValueError, TypeError)):
        store.run_dir(run_id)
    with pytest.raises((ValueError, TypeError)):
        store.get_run(run_id)
    if run_id is not None:
        from nin_core.cli import main

        assert main(["predict", "--run", run_id, "x.png"]) == 2
        assert "invalid int value" in capsys.readouterr().err


def test_the_app_listens_on_localhost_and_the_readme_says_how_to_expose_it():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["address"] == "127.0.0.1"
    assert server["enableXsrfProtection"] is True
    assert server["maxUploadSize"] <= 25
    # `make run` says so itself too: Streamlit reads .streamlit/ only from the folder it is started in
    assert "--server.address 127.0.0.1" in (ROOT / "Makefile").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "ssh -L 8501:127.0.0.1:8501" in readme
    assert "reverse proxy with\nauthentication and TLS" in readme or "reverse proxy with authentication" in readme


# --- load ------------------------------------------------------------------------------------------------------------

def points_per_epoch(train_size: int, batch_size: int) -> int:
    """d2l's animator: a train point every num_batches // 5 batches and at the last batch, and one test point."""
    n = math.ceil(train_size / batch_size)
    every = max(1, n // 5)
    return len([i for i in range(1, n + 1) if i % every == 0 or i == n]) + 1


@pytest.mark.slow
def test_twenty_readers_while_a_real_trainer_writes_see_no_error_and_lose_no_row(nin_home, processes):
    train_size, batch_size, epochs = 192, 16, 2  # 12 batches an epoch: a point every 2 batches, and a test point
    store = RunStore(nin_home)
    proc = processes.start(train_command("--train-size", str(train_size), "--batch-size", str(batch_size),
                                         "--epochs", str(epochs)), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    errors: list[str] = []
    reads = [0] * 20
    stop = threading.Event()

    def reader(i: int) -> None:
        while not stop.is_set():
            try:
                page_store = RunStore(nin_home)  # as each page does on each rerun
                for run in page_store.list_runs():
                    page_store.get_run(run.id)
                    page_store.metrics(run.id)
                reads[i] += 1
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(f"{type(e).__name__}: {e}")
            time.sleep(0.01)  # ~100 polls a second each; a browser tab following a run polls once a second

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(20)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 10  # readers for about ten seconds, or until the trainer is done
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert proc.wait(timeout=180) == 0, proc.stderr.read()
    assert errors == []
    assert min(reads) > 0
    print(f"{sum(reads)} reads by 20 threads while the trainer wrote")
    (run,) = store.list_runs()
    assert run.status == "finished"
    points = store.metrics(run.id)
    assert len(points) == epochs * points_per_epoch(train_size, batch_size)
    assert [p.epoch for p in points if p.test_acc is not None] == [float(e) for e in range(1, epochs + 1)]
    assert integrity(store) == "ok"
