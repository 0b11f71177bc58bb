"""Shared fixtures: every test gets its own run store, and whatever processes a test starts are stopped by it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
# The chapter's printout (7.3, "每层输出的形状"), copied so the test runs where the seed file is not beside the repo.
CHAPTER_SHAPES = """\
Sequential output shape:         torch.Size([1, 96, 54, 54])
MaxPool2d output shape:          torch.Size([1, 96, 26, 26])
Sequential output shape:         torch.Size([1, 256, 26, 26])
MaxPool2d output shape:          torch.Size([1, 256, 12, 12])
Sequential output shape:         torch.Size([1, 384, 12, 12])
MaxPool2d output shape:          torch.Size([1, 384, 5, 5])
Dropout output shape:            torch.Size([1, 384, 5, 5])
Sequential output shape:         torch.Size([1, 10, 5, 5])
AdaptiveAvgPool2d output shape:  torch.Size([1, 10, 1, 1])
Flatten output shape:            torch.Size([1, 10])"""


def widget(at, kind: str, label: str):
    """The AppTest widget of a kind (``number_input``, ``button``, …) with this label; fails naming those there."""
    found = [w for w in getattr(at, kind) if w.label == label]
    assert found, f"no {kind} labelled {label!r}: {[w.label for w in getattr(at, kind)]}"
    return found[0]


def live_panel(at) -> dict:
    """What the training page gave its live panel to draw (the component's data)."""
    (panel,) = at.get("bidi_component")
    return json.loads(panel.proto.json)


@pytest.fixture
def fixed_threads(monkeypatch) -> None:
    """Training in this test keeps torch's thread count: OMP_NUM_THREADS set turns the tuner off (threads.py), so
    runs that are compared do the same sums in the same order, however busy the machine."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))


@pytest.fixture
def nin_home(tmp_path, monkeypatch) -> Path:
    """A fresh data directory; at the end, the worker and trainer processes recorded in it are stopped."""
    home = tmp_path / "nin-home"
    monkeypatch.setenv("NIN_HOME", str(home))
    yield home
    stop_recorded_processes(home)


def stop_recorded_processes(home: Path) -> None:
    from nin_core.runs.jobs import worker_pid_path
    from nin_core.runs.store import RunStore

    if not (home / "runs.sqlite").exists():
        return
    store = RunStore(home)
    pid_file = worker_pid_path(store)
    if pid_file.exists():
        kill_pid(int(pid_file.read_text() or 0))
    for run in store.list_runs():
        if run.active and run.pid and run.pid != os.getpid():
            kill_pid(run.pid)


@pytest.fixture
def processes():
    """Start processes through this list's ``start``; each is killed (by its own pid) when the test ends."""
    started: list[subprocess.Popen] = []

    class Starter(list):
        def start(self, args, **kw) -> subprocess.Popen:
            proc = subprocess.Popen(args, cwd=ROOT, start_new_session=True, **kw)
            started.append(proc)
            return proc

    yield Starter()
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def kill_pid(pid: int | None) -> None:
    """Stop a process the test caused to start (a worker launched by the app), by its own id; only one of
    ours (its command line runs nin_core), so a reused pid is never hit."""
    try:
        if not pid or b"nin_core" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return
    except OSError:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(50):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not Path(f"/proc/{pid}").exists() or "Z" in _state(pid):
            return
        time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


PYTHON = sys.executable
