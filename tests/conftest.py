"""Shared fixtures: every test gets its own run store, and whatever processes a test starts are stopped by it."""

from __future__ import annotations

import contextlib
import json
import os
import re
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


def rendered(markdown: str) -> str:
    """What a person reads of a Markdown text: rendered as CommonMark renders it, without its tags."""
    from html import unescape

    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").render(markdown)
    return unescape(re.sub(r"<[^>]+>", "", html)).strip()


def live_panels(at) -> list[dict]:
    """What the page gave its live panels to draw (the components' data); the app's other component, which loads
    chart code ahead (ui/prefetch.py), left out."""
    return [json.loads(c.proto.json) for c in at.get("bidi_component") if c.proto.component_name == "nin_live_panel"]


def live_panel(at) -> dict:
    """What the training page gave its live panel to draw."""
    (panel,) = live_panels(at)
    return panel


@pytest.fixture
def chinese():
    """The test in Chinese (the process's own language: a page run sets its own)."""
    from nin_core.i18n import in_language

    with in_language("zh"):
        yield


@pytest.fixture
def cli_main(capsys, monkeypatch):
    """``cli_main(*ARGS)``: what ``python -m nin_core ARGS`` answers, from the function it runs, in this process (no
    interpreter and torch to start: two seconds each), with no locale in the environment (English unless ``--lang``
    says otherwise), as (exit status, stdout, stderr). For help and bad input, which train and record nothing; the
    tests that start the command itself keep a process."""
    from nin_core.cli import main

    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> tuple[int | str | None, str, str]:
        try:
            code = main(list(args))
        except SystemExit as e:  # --help
            code = e.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def fixed_threads(monkeypatch) -> None:
    """Training in this test keeps torch's thread count: OMP_NUM_THREADS set turns the tuner off (threads.py), so
    runs that are compared do the same sums in the same order, however busy the machine."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))


@pytest.fixture(scope="session")
def data():
    """Fashion-MNIST, found (or downloaded) as a run finds it, read once for the whole session."""
    from nin_core.network.data import load_fashion_mnist

    return load_fashion_mnist()


@pytest.fixture
def dead_class_maps(monkeypatch) -> None:
    """Every model the trainer builds in this test has every class map zero, the network NiN becomes when its last
    ReLU dies: the last block's last 1×1 convolution gets a bias that no input overcomes."""
    import torch

    from nin_core.network import train
    from nin_core.network.model import build_model

    def dead_model(arch, init):
        model = build_model(arch, init)
        with torch.no_grad():
            model[-3][-2].bias.fill_(-1e4)  # the last block's last 1×1 conv, before its ReLU
        return model

    monkeypatch.setattr(train, "build_model", dead_model)


def use_fake_throughput(mp: pytest.MonkeyPatch) -> None:
    """Time estimates use a fixed device speed (10 G multiply-adds a second, 1 ms a step; given by hand, so no
    configuration's own steps are timed either) instead of timing the device, which costs the pages seconds and a
    process start (minutes on a busy machine). Nothing measured earlier is used, and this speed is forgotten after."""
    from nin_core.lab import estimate

    mp.setattr(estimate, "_cache", {})
    mp.setattr(estimate, "measure_throughput",
               lambda device, dtype=None: estimate.Throughput("CPU (fake)", 1e10, 1e-3, time.time()))


@pytest.fixture
def fake_throughput(monkeypatch) -> None:
    """A fixed device speed for the time estimates (use_fake_throughput) in this test."""
    use_fake_throughput(monkeypatch)


@pytest.fixture
def no_demo(tmp_path, monkeypatch) -> None:
    """Whether or not the shipped demo model is there, this test sees only the models it sets up."""
    from nin_core.runs import models

    monkeypatch.setattr(models, "DEMO_CHECKPOINT", tmp_path / "demo" / "demo.pt")


@pytest.fixture
def nin_home(tmp_path, monkeypatch) -> Path:
    """A fresh data directory; at the end, the worker and trainer processes recorded in it are stopped."""
    home = tmp_path / "nin-home"
    monkeypatch.setenv("NIN_HOME", str(home))
    yield home
    stop_recorded_processes(home)


@pytest.fixture
def store(nin_home):
    """The run store in this test's data directory."""
    from nin_core.runs.store import RunStore

    return RunStore(nin_home)


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
