"""Running stored runs: one at a time per device, in a process of their own, recorded in the run store.

The dashboard never trains inside a page: it queues runs in the store and makes sure a worker process
(``python -m nin_core work``) is draining the queue. The CLI's ``train`` runs one queued run in its own process.
Either way a run holds its device's lock while it trains, so two runs never contend for one device by accident:
the second waits, shown as queued.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

import torch

from nin_core import ROOT
from nin_core.i18n import _
from nin_core.network.checkpoint import CheckpointError
from nin_core.network.config import ConfigError, ConfigIssue, RunConfig
from nin_core.network.data import DataNotFoundError, dataset_problems, find_dataset
from nin_core.network.devices import resolve_device
from nin_core.network.distributed import Distributed
from nin_core.network.hints import STOPPED_WAITING
from nin_core.network.memory import memory_issue
from nin_core.network.metrics import MetricPoint, Progress
from nin_core.network.status import ACTIVE, RunStatus
from nin_core.network.train import Trainer, TrainResult, resumable_state
from nin_core.runs.locks import file_lock
from nin_core.runs.store import HEARTBEAT_S, Run, RunStore

log = logging.getLogger(__name__)
CHECKPOINT_NAME = "checkpoint.pt"
LOCK_HELD_ENV = "NIN_DEVICE_LOCK_HELD"


def launch_issues(config: RunConfig) -> list[ConfigIssue]:
    """Everything that keeps a configuration from training on this machine, found before anything is queued: its
    validation, a device this machine lacks, a step too large for the device's memory, and a data folder that was
    asked for but holds no Fashion-MNIST, or files whose headers or sizes are wrong."""
    issues = config.validate()
    fields = {i.field for i in issues}
    if "train.device" not in fields:
        try:
            device = resolve_device(config.train.device)
        except ConfigError as e:
            issues += e.issues
        else:
            gpus = torch.cuda.device_count() if device.type == "cuda" else 0
            if device.type == "cuda" and config.train.processes > gpus:
                issues.append(ConfigIssue("train.processes", _(
                    "{processes} processes need as many GPUs; this machine has {gpus}").format(
                    processes=config.train.processes, gpus=gpus)))
            elif not issues:  # the estimate needs a configuration that builds
                issues += filter(None, [memory_issue(config, device)])
    if config.train.data_dir is not None and "train.data_dir" not in fields:
        try:
            issues += [ConfigIssue("train.data_dir", problem)
                       for problem in dataset_problems(find_dataset(config.train.data_dir, download=False))]
        except OSError as e:  # a name too long, a folder that cannot be read: the field's message, not a crash
            issues.append(ConfigIssue("train.data_dir", _("cannot be used: {reason}.").format(reason=e.strerror or e)))
        except DataNotFoundError as e:
            issues.append(ConfigIssue("train.data_dir", _(
                "{problem} Name a folder holding the four Fashion-MNIST IDX files, or leave it empty to use "
                "NIN_DATASET_DIR, the user cache or Debian's dataset-fashion-mnist.").format(problem=e.problem)))
    return issues


def _device_lock_path(store: RunStore, device: str) -> Path:
    return store.home / "locks" / f"device-{device.replace(':', '')}.lock"


def _devices_used(config: RunConfig, device: torch.device) -> list[torch.device]:
    """A run over several processes on GPUs uses one GPU per process: cuda:0 … cuda:N-1, as torchrun places them."""
    if device.type == "cuda" and config.train.processes > 1:
        return [torch.device("cuda", i) for i in range(config.train.processes)]
    return [device]


@contextmanager
def _device_locks(store: RunStore, devices: list[torch.device], *, wait: Callable[[], bool]) -> Iterator[bool]:
    """Hold every device's lock (taken in one order, so two runs never wait on each other); False if ``wait``
    gave up first."""
    with ExitStack() as held:
        for device in sorted({str(d) for d in devices}):
            if not held.enter_context(file_lock(_device_lock_path(store, device), wait=wait)):
                yield False
                return
        yield True


class _Heartbeat(threading.Thread):
    """Keeps the run's heartbeat fresh while a long batch or an evaluation holds the training loop."""

    def __init__(self, store: RunStore, run_id: int):
        super().__init__(daemon=True)
        self.store, self.run_id, self.done = store, run_id, threading.Event()

    def run(self) -> None:
        while not self.done.wait(HEARTBEAT_S):
            try:
                self.store.heartbeat(self.run_id)
            except Exception:  # noqa: BLE001 - a missed beat only delays nothing; the next one retries
                log.exception("heartbeat failed")


def run_training(store: RunStore, run_id: int, *, on_progress: Callable[[Progress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, dist: Distributed | None = None) -> TrainResult | None:
    """Train a queued run end to end: wait for its device, train, record everything, and always leave the run in
    a final state with a one-line message. Returns the result of training here; None when this process trained
    nothing to an end: the run failed, was stopped while it waited for its device, or torchrun trained it in
    processes of their own (the store holds how it ended). ``dist``: this is rank 0 of a torchrun launch, whose
    other processes train beside it."""
    run = store.get_run(run_id)
    store.claim(run_id)
    stop = lambda: store.stop_requested(run_id) or bool(should_stop and should_stop())  # noqa: E731
    try:
        config = run.config.check()
        device = dist.device(config.train.device) if dist else resolve_device(config.train.device)
    except ConfigError as e:
        store.finish(run_id, RunStatus.FAILED, message=str(e))
        return None
    # A torchrun launched by a worker runs under the worker's locks; taking them again would wait for ever.
    lock = nullcontext(True) if os.environ.get(LOCK_HELD_ENV) else _device_locks(
        store, _devices_used(config, device) if dist is None else [device], wait=lambda: not stop())
    with lock as got:
        if not got:
            # stored in English (a hints template), shown in the reader's language with hints.shown_message
            store.finish(run_id, RunStatus.STOPPED, message=STOPPED_WAITING)
            return None
        if config.train.processes > 1 and dist is None:
            _run_torchrun(store, run_id, config.train.processes)
            return None
        store.mark_running(run_id, str(device) if dist is None else f"{device.type} × {dist.world_size}")
        heartbeat = _Heartbeat(store, run_id)
        heartbeat.start()
        try:
            return _train(store, run, config, stop, on_progress, dist)
        finally:
            heartbeat.done.set()


def _train(store: RunStore, run: Run, config: RunConfig, stop: Callable[[], bool],
           on_progress: Callable[[Progress], None] | None, dist: Distributed | None) -> TrainResult | None:
    """Train a run this process holds the device for, and record how it ended (a crash as ``failed``, with its
    traceback in the run's folder)."""
    checkpoint = store.run_dir(run.id) / CHECKPOINT_NAME
    try:
        trainer = Trainer(config, on_progress=_recorder(store, run.id, checkpoint, on_progress), should_stop=stop,
                          checkpoint_path=checkpoint, dist=dist, resume_from=resume_point(store, run))
        result = trainer.run()
    except (ConfigError, DataNotFoundError, CheckpointError) as e:
        store.finish(run.id, RunStatus.FAILED, message=str(e))
        return None
    except BaseException as e:  # noqa: BLE001 - the run must never stay running after a crash
        _write_traceback(store, run.id)
        store.finish(run.id, RunStatus.FAILED, message=f"{type(e).__name__}: "
                     f"{str(e).splitlines()[0] if str(e) else ''} (details in {store.run_dir(run.id) / 'error.log'})")
        if not isinstance(e, Exception):
            raise
        return None
    if checkpoint.exists():
        store.set_checkpoint(run.id, checkpoint)
    store.finish(run.id, result.status, final=result.final(), message=result.message, hint=result.hint)
    return result


def _recorder(store: RunStore, run_id: int, checkpoint: Path, on_progress: Callable[[Progress], None] | None
              ) -> Callable[[Progress, list[MetricPoint]], None]:
    """The trainer's progress callback: records the progress and the new curve points, names the checkpoint as
    soon as there is one, and passes the progress on to ``on_progress``."""
    named = False

    def record(progress: Progress, points: list[MetricPoint]) -> None:
        nonlocal named
        store.record(run_id, progress, points)
        # An epoch's test point comes right after its checkpoint was saved: record it now, so a run killed
        # later (interrupted) still names the checkpoint it kept.
        if not named and any(p.test_acc is not None for p in points) and checkpoint.exists():
            store.set_checkpoint(run_id, checkpoint)
            named = True
        if on_progress:
            on_progress(progress)

    return record


def resume_point(store: RunStore, run: Run) -> Path | None:
    """The checkpoint a queued run continues from: its own, when it was queued again by ``continue_run``."""
    return store.run_dir(run.id) / CHECKPOINT_NAME if run.resumes else None


def continue_issues(store: RunStore, run: Run, epochs: int) -> tuple[list[str], float | None]:
    """Why ``run`` cannot train on to ``epochs`` epochs (one line each; empty if it can), and the epoch its
    checkpoint reached."""
    if run.status in ACTIVE:
        return [_("run {id} is {status}: only a stopped, interrupted or finished run can continue").format(
            id=run.id, status=run.status.label)], None
    path = store.run_dir(run.id) / CHECKPOINT_NAME
    try:
        saved = resumable_state(path)
    except CheckpointError as e:
        return [_("run {id} cannot continue: {reason}").format(id=run.id, reason=e)], None
    state = saved["train_state"]
    reached = state["epoch"] - 1 + state["batch"] / state["batches"]
    problems = []
    if epochs <= reached:
        problems.append(_("run {id} has trained {reached} epochs: give a total above that, got {epochs}").format(
            id=run.id, reached=format(reached, "g"), epochs=epochs))
    issues = run.config.with_overrides(epochs=epochs).validate() if isinstance(epochs, int) else []
    problems += [_("run {id}'s configuration no longer validates: {issue}").format(id=run.id, issue=i)
                 for i in issues]
    return problems, reached


def continue_run(store: RunStore, run_id: int, epochs: int, *, claim: bool = False) -> float:
    """Queue an ended run to train on to ``epochs`` in all; returns the epoch it goes on from. A ValueError says
    in one line why it cannot, and then nothing has changed."""
    run = store.get_run(run_id)
    problems, reached = continue_issues(store, run, epochs)
    if problems:
        raise ValueError(problems[0])
    if reached is None:  # continue_issues gives no epoch only with a problem
        raise ValueError(_("run {id} cannot continue: its checkpoint reached no epoch").format(id=run_id))
    store.continue_run(run_id, run.config.with_overrides(epochs=epochs), reached, claim=claim)
    return reached


def _run_torchrun(store: RunStore, run_id: int, processes: int) -> None:
    """Train a run in ``processes`` processes (one per GPU) through PyTorch's own launcher; its rank 0 records
    the run. Should the launch die before that, the run says so."""
    log_path = store.run_dir(run_id) / "torchrun.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"NIN_HOME": str(store.home.resolve()), LOCK_HELD_ENV: "1"}
    with open(log_path, "a") as out:
        # its own log folder (each process's error record) beside the log: by default one more in /tmp per launch
        code = subprocess.call([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                f"--nproc_per_node={processes}", f"--log-dir={log_path.parent / 'torchrun'}",
                                "-m", "nin_core", "train", "--run-id", str(run_id), "--quiet"],
                               stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if store.get_run(run_id).active:
        store.finish(run_id, RunStatus.FAILED, message=f"torchrun exited with status {code} before recording the "
                                                         f"run (see {log_path})")


def _write_traceback(store: RunStore, run_id: int) -> None:
    try:
        path = store.run_dir(run_id) / "error.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(traceback.format_exc())
    except OSError:
        log.exception("could not write the error log")


def work(store: RunStore) -> int:
    """Train queued runs one after another until none is left; returns how many ran. Only one worker per store
    drains the queue at a time; a second one exits at once."""
    count = 0
    while True:
        with file_lock(store.home / "locks" / "worker.lock", wait=None) as got:
            if not got:
                return count
            worker_pid_path(store).write_text(str(os.getpid()))
            while (run_id := store.claim_next()) is not None:
                run_training(store, run_id)
                count += 1
        # A run queued just as this worker let go of its lock would otherwise wait for the next worker.
        if not store.has_unclaimed():
            return count


def worker_pid_path(store: RunStore) -> Path:
    """Where the worker draining the queue writes its pid (read by whoever must stop it, such as the tests)."""
    return store.home / "locks" / "worker.pid"


def ensure_worker(store: RunStore) -> subprocess.Popen | None:
    """Start a background worker if runs are waiting and none is draining the queue. The worker is a process of
    its own session: it goes on when the page, the browser tab or the app server goes away."""
    if not store.has_unclaimed():
        return None
    with file_lock(store.home / "locks" / "worker.lock", wait=None) as free:
        if not free:
            return None
    log_path = store.home / "worker.log"
    env = os.environ | {"NIN_HOME": str(store.home.resolve())}
    with open(log_path, "a") as out:
        return subprocess.Popen([sys.executable, "-m", "nin_core", "work"], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                cwd=ROOT)
