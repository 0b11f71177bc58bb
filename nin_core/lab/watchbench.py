"""``python -m nin_core.watchbench``: what watching a run live costs it.

The same run trains again and again through the dashboard's own path (queued in the store, trained by the
background worker) while ``streamlit run app.py`` serves the app, with no browser, then with one and with two
headless Chromium tabs following it on the training page; the conditions take turns, so a neighbour's load falls
on all of them alike. Each run's figure is the one it records (d2l's examples/sec over its training time).

Every run waits for the device until its tabs show it (the bench holds the device's lock meanwhile), so opening
the tabs is not counted, only following the run. ``--click`` measures what a user's run pays instead: the server
started as ``make run`` starts it, a fresh tab opened on the run's link, Train clicked as soon as the page has drawn
and the tab following the run to its end (the click's rerun, plotly.js loading and the worker starting all fall in
the run's first seconds), against the same run from the CLI (``python -m nin_core train``) with the server idle.

Also reported, over each run's training: the CPU seconds the app server and the browser used per second, the
largest gap between two updates of the run's progress as the tab saw them, and the load (the 1-minute average, and
the cores other processes kept busy).

    python -m nin_core.watchbench                          # tiny and cpu, 0/1/2 tabs, 2 rounds: ~5 min idle
    python -m nin_core.watchbench --click                  # as a user: Train clicked in a fresh tab, against the CLI
    python -m nin_core.watchbench --presets tiny --rounds 1 --tabs 0 1
    OMP_WAIT_POLICY=PASSIVE python -m nin_core.watchbench  # the worker inherits the environment: try a setting
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode

from nin_core import ROOT
from nin_core.lab.processes import busy_cpu_seconds, cpu_seconds, descendants, load_1min, process_tree
from nin_core.network.config import FASHION_MNIST_TRAIN, PRESETS
from nin_core.network.status import RunStatus
from nin_core.runs.jobs import _device_lock_path, ensure_worker, worker_pid_path
from nin_core.runs.locks import file_lock
from nin_core.runs.store import RunStore
from nin_core.runs.urlconfig import encode

CHROMIUM = os.environ.get("NIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
VIEWPORT = {"width": 1400, "height": 900}
# The runs: the tiny run (20,000 images, 3 epochs), and the cpu preset on as many images for one epoch.
RUNS = {"tiny": {"train_size": 20_000, "epochs": 3, "test_size": 1000},
        "cpu": {"train_size": 20_000, "epochs": 1, "test_size": 1000}}
SETTLE_S = 2.0  # after the tabs show the queued run, before it may start: the page's first draw is over
NO_WORKER = -1  # no process has it: the CPU read before a run's worker exists (all its CPU then counts)

# Installed in each tab: [time in ms, text] each time the run's progress text changed, as the person watching sees it.
WATCH_JS = """() => {
    window.__updates = [];
    let last = null;
    new MutationObserver(() => {
        const bar = document.querySelector('[data-testid="live-progress"]');
        const text = bar ? bar.innerText : null;
        if (text !== last) { last = text; window.__updates.push([performance.now(), text]); }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@dataclass
class Measurement:
    preset: str
    tabs: int
    round: int
    run_id: int
    examples_per_sec: float
    train_s: float
    server_cpu: float  # CPU seconds per second of training: the app server, the browser, the worker
    browser_cpu: float
    worker_cpu: float
    others_cores: float  # cores kept busy by every other process of the machine meanwhile
    load: tuple[float, float]  # 1-minute load average before and after
    max_update_gap_s: float | None  # the longest the tabs' progress went without an update


class AppDidNotStart(RuntimeError):
    """The app server exited or did not answer; the message ends with its log's last lines."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(home: Path, log: Path, timeout_s: float = 90, *, as_make_run: bool = False
              ) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run app.py` on a free 127.0.0.1 port with ``home`` as its NIN_HOME: (its address, its process),
    stopped (by its process group) at the end; ``as_make_run``: with the Makefile's arguments only (its file
    watcher on). AppDidNotStart if it does not come up (the browser tests share this)."""
    port = free_port()
    env = os.environ | {"NIN_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    extra = [] if as_make_run else ["--server.headless", "true", "--server.fileWatcherType", "none",
                                    "--browser.gatherUsageStats", "false"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", *extra],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise AppDidNotStart(f"streamlit exited with {proc.returncode}:\n{_tail(log)}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
            if time.monotonic() > deadline:
                raise AppDidNotStart(f"streamlit did not answer on {url} within {timeout_s:g} s:\n{_tail(log)}")
            time.sleep(0.3)
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the group is the server's pid
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _tail(log: Path, n: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-n:]
    except OSError:
        return ""


# --- one measured run ---------------------------------------------------------------------------------

class Bench:
    """The app, a browser and the run store: each ``measure`` trains one run and reads what it cost."""

    def __init__(self, url: str, server: subprocess.Popen, home: Path, browser, size: dict):
        self.url, self.server, self.store, self.browser, self.size = url, server, RunStore(home), browser, size

    def open_tab(self):
        context = self.browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.set_default_timeout(180_000)
        page.goto(self.url + "/")
        return context, page

    def warm_up(self) -> None:
        """One tab on the training page, until it has drawn: the time estimate's measurement is made and kept."""
        context, page = self.open_tab()
        page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()
        page.get_by_role("button", name="Train", exact=True).wait_for()
        context.close()

    def measure(self, preset: str, tabs: int, round_: int) -> Measurement:
        config = PRESETS[preset].with_overrides(**RUNS[preset] | self.size)
        lock = _device_lock_path(self.store, "cpu")
        contexts = []
        with file_lock(lock, wait=lambda: True):  # the run waits for the device until its tabs are ready
            run_id = self.store.create_run(config, f"watchbench {preset}, {tabs} tab{'s' * (tabs != 1)}")
            ensure_worker(self.store)
            for _ in range(tabs):
                context, page = self.open_tab()
                page.get_by_role("button", name=f"Cancel run {run_id}", exact=True).wait_for()
                page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()
                page.evaluate(WATCH_JS)
                contexts.append((context, page))
            while (worker := self.store.get_run(run_id).pid) is None:  # the worker that claimed it
                time.sleep(0.2)
            time.sleep(SETTLE_S)
            before = self._cpu(worker)
            load_before = load_1min()
        after = self._train_end(run_id, worker)
        while (run := self.store.get_run(run_id)).active:
            time.sleep(0.5)
        gaps = [gap for _, page in contexts if (gap := self._max_gap(page)) is not None]
        for context, _ in contexts:
            context.close()
        if run.status != RunStatus.FINISHED:
            raise RuntimeError(f"run {run_id} ended {run.status}: {run.message}")
        wall = after["wall"] - before["wall"]
        used = {k: (after[k] - before[k]) / wall for k in before}
        images = config.train.train_size or FASHION_MNIST_TRAIN - config.train.validation_size  # None: all of them
        return Measurement(preset, tabs, round_, run_id, run.final["examples_per_sec"],
                           images * config.train.epochs / run.final["examples_per_sec"],
                           used["server"], used["browser"], used["worker"],
                           used["busy"] - used["server"] - used["browser"] - used["worker"] - used["bench"],
                           (load_before, load_1min()), max(gaps) if gaps else None)

    def measure_click(self, preset: str, watched: bool, round_: int) -> Measurement:  # longer than 40 lines: both
        # sides of the comparison in one place, step for step, so that what differs between them is plain to see
        """One run as a user makes it: watched, a fresh tab on the run's link, Train clicked once the page has
        drawn, the tab kept on the run to its end; unwatched, the same run from the CLI, the server idle. The CPU
        columns cover the click (or the command's start) to the run's last step."""
        config = PRESETS[preset].with_overrides(**RUNS[preset] | self.size)
        load_before = load_1min()
        if watched:
            context = self.browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.set_default_timeout(180_000)
            page.goto(f"{self.url}/?{urlencode(encode(config, preset))}")
            page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()
            train = page.get_by_role("button", name="Train", exact=True)
            before = self._cpu(NO_WORKER)
            train.click()
            page.evaluate(WATCH_JS)
            while not self.store.list_runs():
                time.sleep(0.05)
            run_id = self.store.list_runs()[0].id
            while (worker := self.store.get_run(run_id).pid) is None:  # the background worker that claimed it
                time.sleep(0.05)
        else:
            context = page = None
            before = self._cpu(NO_WORKER)
            (path := self.store.home / "click.json").write_text(config.to_json())
            cli = subprocess.Popen([sys.executable, "-m", "nin_core", "train", "--config", str(path), "--quiet"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
                                   env=os.environ | {"NIN_HOME": str(self.store.home)}, text=True)
            worker = cli.pid
            while not self.store.list_runs() or not self.store.list_runs()[0].active:
                if cli.poll() is not None:
                    raise RuntimeError(f"the CLI run ended at once: {cli.communicate()[1]}")
                time.sleep(0.05)
            run_id = self.store.list_runs()[0].id
        after = self._train_end(run_id, worker)
        while (run := self.store.get_run(run_id)).active:
            time.sleep(0.2)
        gap = self._max_gap(page) if page is not None else None
        if context is not None:
            context.close()
        if not watched:
            cli.wait(timeout=60)
        self.store.delete_run(run_id)  # the next turn finds the store as this one did: its run is the newest
        if run.status != RunStatus.FINISHED:
            raise RuntimeError(f"run {run_id} ended {run.status}: {run.message}")
        wall = after["wall"] - before["wall"]
        used = {k: (after[k] - before[k]) / wall for k in before}
        images = config.train.train_size or FASHION_MNIST_TRAIN - config.train.validation_size
        return Measurement(preset, int(watched), round_, run_id, run.final["examples_per_sec"],
                           images * config.train.epochs / run.final["examples_per_sec"],
                           used["server"], used["browser"], used["worker"],
                           used["busy"] - used["server"] - used["browser"] - used["worker"] - used["bench"],
                           (load_before, load_1min()), gap)

    def _cpu(self, worker: int) -> dict[str, float]:
        tree = process_tree()
        worker_tree = {worker} | descendants(worker, tree)
        # A worker the page started is the server's child: counted as the worker's, not the server's.
        server = ({self.server.pid} | descendants(self.server.pid, tree)) - worker_tree
        ours = descendants(os.getpid(), tree) - server - worker_tree
        return {"wall": time.monotonic(), "busy": busy_cpu_seconds(), "server": cpu_seconds(server),
                "browser": cpu_seconds(ours), "worker": cpu_seconds(worker_tree), "bench": cpu_seconds({os.getpid()})}

    def _train_end(self, run_id: int, worker: int) -> dict[str, float]:
        """The CPU used so far, read as the run's last training step is done (before the page's own rerun for
        the run's end, which is not watching)."""
        while (run := self.store.get_run(run_id)).active and run.progress.fraction < 1.0:
            time.sleep(0.5)
        return self._cpu(worker)

    @staticmethod
    def _max_gap(page) -> float | None:
        """The longest the tab's progress went without an update while the run trained: between two updates of
        one epoch's training (loading the data and evaluating report nothing new for a while, rightly)."""
        updates = page.evaluate("() => window.__updates")
        gaps = [(b[0] - a[0]) / 1000 for a, b in zip(updates[:-1], updates[1:], strict=True)
                if a[1] and b[1] and a[1].endswith("training") and b[1].endswith("training")
                and a[1].split(" · ")[0] == b[1].split(" · ")[0]]
        return max(gaps) if gaps else None


def turns(tabs: list[int], rounds: int) -> Iterator[tuple[int, int]]:
    """(round, tabs) in an order that alternates: forwards in odd rounds, backwards in even ones."""
    for r in range(1, rounds + 1):
        for t in (tabs if r % 2 else tabs[::-1]):
            yield r, t


def summary(results: list[Measurement]) -> list[dict]:
    """Per preset and number of tabs: the median examples/sec and its ratio to the unwatched median."""
    rows = []
    for preset in dict.fromkeys(m.preset for m in results):
        mine = [m for m in results if m.preset == preset]
        base = statistics.median(m.examples_per_sec for m in mine if m.tabs == 0) \
            if any(m.tabs == 0 for m in mine) else None
        for tabs in sorted({m.tabs for m in mine}):
            these = [m for m in mine if m.tabs == tabs]
            rate = statistics.median(m.examples_per_sec for m in these)
            gaps = [m.max_update_gap_s for m in these if m.max_update_gap_s is not None]
            rows.append({"preset": preset, "tabs": tabs, "runs": len(these), "examples_per_sec": rate,
                         "ratio": rate / base if base else None,
                         "server_cpu": statistics.median(m.server_cpu for m in these),
                         "browser_cpu": statistics.median(m.browser_cpu for m in these),
                         "others_cores": statistics.median(m.others_cores for m in these),
                         "max_update_gap_s": max(gaps) if gaps else None})
    return rows


def to_text(results: list[Measurement], rows: list[dict]) -> str:
    lines = ["preset  tabs  round  run  examples/s  train s  server  browser  worker  others  load      gap s"]
    for m in results:
        gap = f"{m.max_update_gap_s:.1f}" if m.max_update_gap_s is not None else "—"
        lines.append(f"{m.preset:<6}  {m.tabs:>4}  {m.round:>5}  {m.run_id:>3}  {m.examples_per_sec:>10,.0f}  "
                     f"{m.train_s:>7.1f}  {m.server_cpu:>6.2f}  {m.browser_cpu:>7.2f}  {m.worker_cpu:>6.2f}  "
                     f"{m.others_cores:>6.2f}  {m.load[0]:.1f}→{m.load[1]:.1f}  {gap:>5}")
    lines += ["", "preset  tabs  runs  median examples/s  watched/unwatched  server  browser  others  max gap s"]
    for r in rows:
        ratio = f"{r['ratio']:.0%}" if r["ratio"] is not None else "—"
        gap = f"{r['max_update_gap_s']:.1f}" if r["max_update_gap_s"] is not None else "—"
        lines.append(f"{r['preset']:<6}  {r['tabs']:>4}  {r['runs']:>4}  {r['examples_per_sec']:>17,.0f}  "
                     f"{ratio:>17}  {r['server_cpu']:>6.2f}  {r['browser_cpu']:>7.2f}  {r['others_cores']:>6.2f}  "
                     f"{gap:>9}")
    lines.append("(CPU columns: cores used on average while the run trained; gap: the longest a tab's progress "
                 "went without an update)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nin_core.watchbench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--tabs", nargs="+", type=int, default=[0, 1, 2], help="numbers of watching tabs to try")
    parser.add_argument("--rounds", type=int, default=2, help="each condition this many times, taking turns")
    parser.add_argument("--train-size", type=int, help="training images of every run (default: as RUNS says)")
    parser.add_argument("--epochs", type=int, help="epochs of every run (default: as RUNS says)")
    parser.add_argument("--click", action="store_true",
                        help="as a user: Train clicked in a fresh tab (1) against the same run from the CLI (0)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    tabs = [0, 1] if args.click else args.tabs
    size = {k: v for k, v in (("train_size", args.train_size), ("epochs", args.epochs)) if v is not None}
    from playwright.sync_api import sync_playwright

    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="nin-watchbench-") as tmp, \
            serve_app(Path(tmp) / "home", Path(tmp) / "streamlit.log", as_make_run=args.click) as (url, server), \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        bench = Bench(url, server, Path(tmp) / "home", browser, size)
        try:
            bench.warm_up()
            for round_, n in turns(tabs, args.rounds):
                for preset in args.presets:
                    results.append(bench.measure_click(preset, bool(n), round_) if args.click
                                   else bench.measure(preset, n, round_))
                    if args.format == "text":
                        print(to_text(results[-1:], []).splitlines()[1], file=sys.stderr, flush=True)
        finally:
            browser.close()
            _stop_worker(bench.store)
    rows = summary(results)
    if args.format == "json":
        print(json.dumps({"runs": [asdict(m) for m in results], "summary": rows}, indent=2))
    else:
        print(to_text(results, rows))
    return 0


def _stop_worker(store: RunStore) -> None:
    """The worker this bench started, if it is still there (by the pid it recorded)."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(worker_pid_path(store).read_text())
        if b"nin_core" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
