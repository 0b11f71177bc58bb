"""The run store: runs, their metrics over time and their checkpoints, in SQLite (WAL) under a data directory.

One trainer process writes while any number of dashboard sessions read. Every call opens its own short-lived
connection, so a store object can be shared between threads and processes; writes take the lock up front
(``BEGIN IMMEDIATE``) and wait for it (busy timeout) instead of failing with "database is locked".

A run whose process died without a word (killed, machine rebooted) is noticed by whoever reads it next: the
trainer records its pid, its host and the process's start time, and refreshes a heartbeat; a running run whose
process is gone (or whose heartbeat stopped, for another host) is marked ``interrupted``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from nin_core.i18n import _
from nin_core.network.config import RunConfig
from nin_core.network.metrics import MetricPoint, Progress
from nin_core.network.status import ACTIVE, RunStatus
from nin_core.runs.locks import file_lock

HEARTBEAT_S = 5.0
STALE_AFTER_S = 60.0  # a heartbeat this old means the process is gone (used when it ran on another host)

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    sweep TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    heartbeat_at REAL,
    device TEXT,
    pid INTEGER,
    pid_start TEXT,
    host TEXT,
    progress TEXT NOT NULL DEFAULT '{}',
    final TEXT NOT NULL DEFAULT '{}',
    message TEXT,
    hint TEXT,
    checkpoint TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch REAL NOT NULL,
    train_loss REAL,
    train_acc REAL,
    test_acc REAL,
    examples_per_sec REAL,
    recorded_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, epoch);
"""
# Columns added since the first store: added to an older database when it is opened.
ADDED_COLUMNS = {
    "runs": {"resumes": "TEXT NOT NULL DEFAULT '[]'", "experiment": "TEXT", "grp": "TEXT"},
    "metrics": {"lr": "REAL"},
}


class RunNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Run:
    id: int
    name: str
    status: RunStatus
    config: RunConfig
    sweep: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    heartbeat_at: float | None
    device: str | None
    pid: int | None
    host: str | None
    progress: Progress = field(default_factory=Progress)  # empty: nothing reported yet
    final: dict = field(default_factory=dict)
    message: str | None = None
    hint: str | None = None
    checkpoint: str | None = None
    stop_requested: bool = False
    resumes: list = field(default_factory=list)  # each time it was continued: {"from_epoch", "to_epochs", "at"}
    experiment: str | None = None  # the chapter exercise it belongs to
    group: str | None = None  # the repeats of one configuration over seeds share it (None: a run on its own)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at


def default_home() -> Path:
    return Path(os.environ.get("NIN_HOME") or "runs")


def _process_start(pid: int) -> str | None:
    """The process's start time from /proc (None where there is no /proc): tells a reused pid from ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]  # state 'Z': a zombie has exited already


def process_alive(pid: int, start: str | None) -> bool:
    if Path("/proc").is_dir():
        now = _process_start(pid)
        return now is not None and (start is None or now == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def this_process() -> tuple[int, str | None, str]:
    pid = os.getpid()
    return pid, _process_start(pid), socket.gethostname()


class RunStore:
    def __init__(self, home: str | os.PathLike | None = None):
        self.home = Path(home) if home is not None else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / "runs.sqlite"
        # One process at a time creates or updates the database: two search workers opening a new store at once
        # would otherwise both add a missing column, and SQLite fails a concurrent switch to WAL without waiting.
        with file_lock(self.home / "locks" / "store.lock", wait=lambda: True), self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            for table, columns in ADDED_COLUMNS.items():
                have = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                for name, kind in columns.items():
                    if name not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    # --- plumbing --------------------------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def run_dir(self, run_id: int) -> Path:
        """The run's own folder; ids are integers from the database, so no name can point outside the store."""
        return self.home / "runs" / str(int(run_id))

    # --- runs ------------------------------------------------------------------------------------
    def create_run(self, config: RunConfig, name: str | None = None, *, sweep: str | None = None,
                   experiment: str | None = None, group: str | None = None, claim: bool = False) -> int:
        """Queue a run. ``group``: the label its configuration's other seeds share. ``claim``: the calling process
        will train it itself, so no worker may take it meanwhile."""
        clean = " ".join((name or "").split())[:100]
        pid, start, host = this_process() if claim else (None, None, None)
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO runs (name, status, config, sweep, experiment, grp, created_at, pid, pid_start, host, "
                "heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (clean, RunStatus.QUEUED, config.to_json(indent=None), sweep, experiment, group, time.time(), pid,
                 start, host, time.time() if claim else None))
            run_id = cur.lastrowid
            if run_id is None:  # sqlite sets it on every INSERT
                raise RuntimeError("the database gave no id to the new run")
            if not clean:
                db.execute("UPDATE runs SET name = ? WHERE id = ?", (f"run {run_id}", run_id))
        return int(run_id)

    def get_run(self, run_id: int) -> Run:
        self.reconcile()
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise RunNotFound(_("no run with id {id}").format(id=run_id))
        return _run(row)

    def list_runs(self) -> list[Run]:
        """Every run, newest first."""
        self.reconcile()
        with self._connect() as db:
            return [_run(r) for r in db.execute("SELECT * FROM runs ORDER BY id DESC")]

    def has_unclaimed(self) -> bool:
        """Whether a queued run waits for a worker: one query, as the app asks on every rerun."""
        self.reconcile()
        with self._connect() as db:
            return db.execute("SELECT EXISTS (SELECT 1 FROM runs WHERE status = ? AND pid IS NULL)",
                              (RunStatus.QUEUED,)).fetchone()[0] == 1

    def claim(self, run_id: int) -> None:
        """The calling process takes a queued run: it is its to wait for the device and train."""
        pid, start, host = this_process()
        with self._write() as db:
            db.execute("UPDATE runs SET pid = ?, pid_start = ?, host = ?, heartbeat_at = ? WHERE id = ?",
                       (pid, start, host, time.time(), int(run_id)))

    def claim_next(self) -> int | None:
        """Take the oldest queued run that no live process has claimed, or None."""
        self.reconcile()
        pid, start, host = this_process()
        with self._write() as db:
            row = db.execute("SELECT id FROM runs WHERE status = ? AND pid IS NULL ORDER BY id LIMIT 1",
                             (RunStatus.QUEUED,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE runs SET pid = ?, pid_start = ?, host = ?, heartbeat_at = ? WHERE id = ?",
                       (pid, start, host, time.time(), row["id"]))
            return int(row["id"])

    def mark_running(self, run_id: int, device: str) -> None:
        pid, start, host = this_process()
        now = time.time()
        with self._write() as db:
            db.execute("UPDATE runs SET status = ?, started_at = ?, heartbeat_at = ?, device = ?, pid = ?, "
                       "pid_start = ?, host = ? WHERE id = ?",
                       (RunStatus.RUNNING, now, now, device, pid, start, host, int(run_id)))

    def heartbeat(self, run_id: int) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (time.time(), int(run_id)))

    def record(self, run_id: int, progress: Progress, points: Sequence[MetricPoint] = ()) -> None:
        """Progress (shown live) and new curve points, in one transaction; also a heartbeat."""
        with self._write() as db:
            db.execute("UPDATE runs SET progress = ?, heartbeat_at = ? WHERE id = ?",
                       (json.dumps(progress.to_dict()), time.time(), int(run_id)))
            db.executemany(
                "INSERT INTO metrics (run_id, epoch, train_loss, train_acc, test_acc, examples_per_sec, lr, "
                "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(int(run_id), p.epoch, p.train_loss, p.train_acc, p.test_acc, p.examples_per_sec, p.lr, time.time())
                 for p in points])

    def set_checkpoint(self, run_id: int, path: str | os.PathLike) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET checkpoint = ? WHERE id = ?", (str(path), int(run_id)))

    def finish(self, run_id: int, status: RunStatus, *, final: dict | None = None, message: str | None = None,
               hint: str | None = None) -> None:
        if status not in set(RunStatus) - ACTIVE:
            raise ValueError(f"{status!r} is not a final status")
        with self._write() as db:
            db.execute("UPDATE runs SET status = ?, finished_at = ?, final = ?, message = ?, hint = ? WHERE id = ?",
                       (status, time.time(), json.dumps(final or {}), message, hint, int(run_id)))

    def request_stop(self, run_id: int) -> None:
        """Ask the run's process to stop after its current batch; a queued run that nobody holds stops at once."""
        with self._write() as db:
            db.execute("UPDATE runs SET stop_requested = 1 WHERE id = ?", (int(run_id),))
            db.execute("UPDATE runs SET status = ?, finished_at = ?, message = 'stopped before it started' "
                       "WHERE id = ? AND status = ? AND pid IS NULL",
                       (RunStatus.STOPPED, time.time(), int(run_id), RunStatus.QUEUED))

    def continue_run(self, run_id: int, config: RunConfig, from_epoch: float, *, claim: bool = False) -> None:
        """Queue an ended run again to train on (to ``config``'s epochs) from its checkpoint at ``from_epoch``: it
        keeps its id, and its curves past that point (a run killed mid-epoch drew some) are dropped. The caller
        has checked that it can (``jobs.continue_issues``). ``claim``: the calling process trains it itself."""
        pid, start, host = this_process() if claim else (None, None, None)
        with self._write() as db:
            row = db.execute("SELECT status, resumes FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if row is None:
                raise RunNotFound(_("no run with id {id}").format(id=run_id))
            if row["status"] in ACTIVE:
                raise ValueError(_("run {id} is {status}: only an ended run can continue").format(
                    id=run_id, status=RunStatus(row["status"]).label))
            resumes = [*json.loads(row["resumes"]), {"from_epoch": from_epoch, "to_epochs": config.train.epochs,
                                                     "at": time.time()}]
            db.execute("UPDATE runs SET status = ?, config = ?, resumes = ?, stop_requested = 0, pid = ?, "
                       "pid_start = ?, host = ?, heartbeat_at = ?, finished_at = NULL, message = NULL, hint = NULL "
                       "WHERE id = ?", (RunStatus.QUEUED, config.to_json(indent=None), json.dumps(resumes), pid,
                                        start, host, time.time(), int(run_id)))
            db.execute("DELETE FROM metrics WHERE run_id = ? AND epoch > ?", (int(run_id), from_epoch + 1e-9))

    def stop_requested(self, run_id: int) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT stop_requested FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        return bool(row and row["stop_requested"])

    def delete_run(self, run_id: int) -> None:
        """Remove a run, its metrics and its folder. A run still training, or queued and already taken by a live
        process (waiting for its device), must be stopped first: that process would train a run that is gone."""
        self.get_run(run_id)  # RunNotFound; and runs of processes that died are let go first
        with self._write() as db:  # checked and deleted in one transaction: no process can take it in between
            row = db.execute("SELECT status, pid FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if row is None:
                raise RunNotFound(_("no run with id {id}").format(id=run_id))
            if row["status"] == RunStatus.RUNNING:
                raise ValueError(_("run {id} is still running: stop it first").format(id=run_id))
            if row["status"] == RunStatus.QUEUED and row["pid"] is not None:
                raise ValueError(_("run {id} is waiting for its device in another process: stop it first").format(
                    id=run_id))
            db.execute("DELETE FROM runs WHERE id = ?", (int(run_id),))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    # --- metrics ---------------------------------------------------------------------------------
    def metrics(self, run_id: int) -> list[MetricPoint]:
        with self._connect() as db:
            rows = db.execute("SELECT epoch, train_loss, train_acc, test_acc, examples_per_sec, lr FROM metrics "
                              "WHERE run_id = ? ORDER BY epoch, rowid", (int(run_id),)).fetchall()
        return [MetricPoint(*r) for r in rows]

    # --- liveness --------------------------------------------------------------------------------
    def reconcile(self) -> list[int]:
        """Mark running runs whose process is gone as interrupted, and free queued runs whose claimant died.
        Returns the ids marked interrupted."""
        host, now = socket.gethostname(), time.time()
        with self._connect() as db:
            rows = db.execute("SELECT id, status, pid, pid_start, host, heartbeat_at FROM runs "
                              "WHERE status IN (?, ?) AND pid IS NOT NULL", tuple(ACTIVE)).fetchall()
        dead = [r for r in rows
                if (not process_alive(r["pid"], r["pid_start"]) if r["host"] == host
                    else (r["heartbeat_at"] or 0) < now - STALE_AFTER_S)]
        interrupted = [r["id"] for r in dead if r["status"] == RunStatus.RUNNING]
        if not dead:
            return []
        with self._write() as db:
            for r in dead:
                if r["status"] == RunStatus.RUNNING:
                    db.execute("UPDATE runs SET status = ?, finished_at = ?, message = ? "
                               "WHERE id = ? AND status = ? AND pid = ?",
                               (RunStatus.INTERRUPTED, now, "its training process ended without a word (killed, or "
                                "the machine restarted); the last checkpoint is kept", r["id"], RunStatus.RUNNING,
                                r["pid"]))
                else:
                    db.execute("UPDATE runs SET pid = NULL, pid_start = NULL, host = NULL "
                               "WHERE id = ? AND status = ? AND pid = ?", (r["id"], RunStatus.QUEUED, r["pid"]))
        return interrupted


def _run(row: sqlite3.Row) -> Run:
    return Run(
        id=row["id"], name=row["name"], status=RunStatus(row["status"]), config=RunConfig.from_json(row["config"]),
        sweep=row["sweep"], created_at=row["created_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], heartbeat_at=row["heartbeat_at"], device=row["device"], pid=row["pid"],
        host=row["host"], progress=Progress.from_dict(json.loads(row["progress"])), final=json.loads(row["final"]),
        message=row["message"], hint=row["hint"], checkpoint=row["checkpoint"],
        stop_requested=bool(row["stop_requested"]), resumes=json.loads(row["resumes"]),
        experiment=row["experiment"], group=row["grp"])
