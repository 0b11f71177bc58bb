"""The run store: runs and metrics survive, readers and a writer work at once, dead processes are noticed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from nin_core.network.config import TINY
from nin_core.network.metrics import Progress
from nin_core.runs.store import MetricPoint, RunNotFound, RunStore


def test_run_lifecycle(nin_home):
    store = RunStore()
    assert store.home == nin_home
    run_id = store.create_run(TINY, "  my   first\nrun  ")
    run = store.get_run(run_id)
    assert (run.name, run.status, run.config) == ("my first run", "queued", TINY)
    store.claim(run_id)
    store.mark_running(run_id, "cpu")
    store.record(run_id, Progress(epoch=1, batch=3), [MetricPoint(0.5, 2.0, 0.3), MetricPoint(1.0, test_acc=0.4)])
    assert store.get_run(run_id).progress == Progress(epoch=1, batch=3)
    store.finish(run_id, "finished", final={"test_acc": 0.4})
    run = store.get_run(run_id)
    assert run.status == "finished" and run.final == {"test_acc": 0.4} and run.duration_s >= 0
    assert store.metrics(run_id) == [MetricPoint(0.5, 2.0, 0.3), MetricPoint(1.0, test_acc=0.4)]
    assert RunStore(nin_home).list_runs()[0].id == run_id  # another store object sees the same data


def test_unnamed_runs_get_a_name_and_ids_stay_inside_the_store(nin_home):
    store = RunStore()
    run_id = store.create_run(TINY)
    assert store.get_run(run_id).name == f"run {run_id}"
    assert store.run_dir(run_id).parent == nin_home / "runs"
    with pytest.raises(ValueError):
        store.run_dir("../../etc")
    with pytest.raises(RunNotFound):
        store.get_run(9999)


def test_stop_request_stops_an_unclaimed_queued_run_at_once(nin_home):
    store = RunStore()
    run_id = store.create_run(TINY)
    store.request_stop(run_id)
    assert store.get_run(run_id).status == "stopped"


def test_delete_refuses_a_running_run_and_removes_a_finished_one(nin_home):
    store = RunStore()
    run_id = store.create_run(TINY)
    store.mark_running(run_id, "cpu")
    with pytest.raises(ValueError, match="stop it first"):
        store.delete_run(run_id)
    store.run_dir(run_id).mkdir(parents=True)
    store.finish(run_id, "stopped")
    store.delete_run(run_id)
    assert store.list_runs() == [] and not store.run_dir(run_id).exists()


CLAIMER = textwrap.dedent("""
    import sys, time
    from nin_core.runs.store import RunStore
    store = RunStore(sys.argv[1]); run_id = int(sys.argv[2])
    store.mark_running(run_id, "cpu")
    print("running", flush=True)
    time.sleep(60)
""")


def test_a_killed_trainer_is_noticed_as_interrupted(nin_home, processes):
    store = RunStore()
    run_id = store.create_run(TINY)
    proc = processes.start([sys.executable, "-c", CLAIMER, str(nin_home), str(run_id)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"running"
    assert store.get_run(run_id).status == "running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = store.get_run(run_id)
    assert run.status == "interrupted" and "ended without a word" in run.message


def test_a_queued_run_held_by_a_dead_process_goes_back_to_the_queue(nin_home, processes):
    store = RunStore()
    run_id = store.create_run(TINY)
    proc = processes.start([sys.executable, "-c", "import sys; from nin_core.runs.store import RunStore; "
                            "RunStore(sys.argv[1]).claim(int(sys.argv[2]))", str(nin_home), str(run_id)])
    proc.wait()
    assert store.claim_next() == run_id  # the claimant is gone, so this process can take it


WRITER = textwrap.dedent("""
    import sys
    from nin_core.network.metrics import Progress
    from nin_core.runs.store import MetricPoint, RunStore
    store = RunStore(sys.argv[1]); run_id = int(sys.argv[2]); n = int(sys.argv[3])
    store.mark_running(run_id, "cpu")
    for i in range(n):
        store.record(run_id, Progress(batch=i), [MetricPoint(i / 10, 1.0 / (i + 1), 0.5)])
    store.finish(run_id, "finished", final={"train_loss": 0.1})
""")


def test_readers_and_a_writer_at_once_lose_nothing(nin_home, processes):
    """A trainer process writes while 20 reader threads poll the store: no error reaches a reader, no row is lost."""
    store = RunStore()
    run_id = store.create_run(TINY)
    rows = 400
    errors: list[BaseException] = []
    done = threading.Event()

    def reader():
        reader_store = RunStore(nin_home)
        while not done.is_set():
            try:
                reader_store.list_runs()
                reader_store.metrics(run_id)
            except BaseException as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(20)]
    for t in threads:
        t.start()
    try:
        proc = processes.start([sys.executable, "-c", WRITER, str(nin_home), str(run_id), str(rows)])
        assert proc.wait(timeout=120) == 0
    finally:
        done.set()
        for t in threads:
            t.join()
    assert errors == []
    assert len(store.metrics(run_id)) == rows
    assert store.get_run(run_id).status == "finished"


OPENER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from nin_core.runs.store import RunStore
    root = Path(sys.argv[1])
    while not (root / "go").exists():  # every opener starts at once
        time.sleep(0.001)
    for i in range(int(sys.argv[2])):
        RunStore(root / f"home{i}")
""")


def test_processes_opening_a_new_store_at_once_all_open_it(tmp_path, processes):
    """Two search workers started together on a new machine: each opens the same new store. Neither may fail on
    the other's half-made database (a column added twice, WAL switched twice); before the lock, this failed in
    every one of three tries."""
    homes = 20
    openers = [processes.start([sys.executable, "-c", OPENER, str(tmp_path), str(homes)], stderr=subprocess.PIPE,
                               text=True) for _ in range(4)]
    (tmp_path / "go").touch()
    for proc in openers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    for i in range(homes):
        store = RunStore(tmp_path / f"home{i}")
        store.create_run(TINY)
        assert len(store.list_runs()) == 1
