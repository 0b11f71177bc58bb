"""How long a run will take on a device, before it is launched.

The device's training throughput is measured once with a few real training steps of a fixed NiN (the chapter's
blocks at 96 px, the batch grown until a step keeps the device busy, about a second or two in all), as
multiply-adds per second, plus the fixed cost of one step (timed on a tiny NiN: what small models pay
whatever their size). It is kept in memory per device and, given a home folder, in ``estimates.json`` there (for a
day: the machine, or what else runs on it, may change).

A network as large as that one keeps the device as busy, and its run takes

     3 × mult-adds/image × training images × epochs / rate   (forward and backward)
  +  1 × mult-adds/image × test images × epochs / rate       (evaluation after each epoch)
  +  the fixed cost of each step, and a run's start-up (importing torch, reading the data: timed in a fresh
     process, since a busy machine makes it several times longer).

A small one does not: its layers are too narrow to use the device as well (the cpu preset runs at a third of the
benchmark's multiply-adds per second on a CPU), and its optimizer, batch preparation and evaluation weigh more.
For such a step (or any that the rate puts under a fraction of a second), the configuration's own training step
(its batch resized from uint8 images and augmented as the Trainer does, its optimizer and precision) and its
evaluation batch are timed instead, a few of each, and remembered per device and configuration, in memory and
beside the device's speed in ``estimates.json``: a restarted app's first page does not time them again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import torch

from nin_core.i18n import _, ngettext
from nin_core.lab.bench import make_step
from nin_core.lab.fresh_process import FreshProcessError, in_fresh_process
from nin_core.network.config import (
    FASHION_MNIST_TEST,
    FASHION_MNIST_TRAIN,
    PRESETS,
    SEED_BLOCKS,
    SETTINGS,
    TINY,
    ArchConfig,
    RunConfig,
    TrainConfig,
)
from nin_core.network.data import Batches, DataNotFoundError, load_fashion_mnist, training_batch
from nin_core.network.devices import device_label, resolve_device, synchronize
from nin_core.network.durations import format_duration
from nin_core.network.hints import shown_message
from nin_core.network.model import build_model
from nin_core.network.shapes import shape_table
from nin_core.network.threads import tuner_for
from nin_core.network.train import autocast_dtype, eval_batch_size, make_loss, make_optimizer, test_accuracy, train_step
from nin_core.runs.jobs import launch_issues
from nin_core.runs.urlconfig import default_preset

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

BENCH_ARCH = ArchConfig(blocks=SEED_BLOCKS, resize=96)  # the chapter's NiN on smaller images
SMALL_ARCH = TINY.arch
SMALL_BATCH = 32
BUSY_STEP_S = 0.15  # grow the benchmark batch until one step takes this long …
MAX_BATCH = 256  # … or the batch reaches this
TIMED_STEPS = 3
TIMING_S = 0.3  # a configuration's own steps are timed for at least this long (up to MOST_TIMED of them) …
MOST_TIMED = 30  # … so that their mean describes a run under the machine's load now
# A configuration's own steps are timed where a step is less work than the benchmark's on a CPU (the seed's blocks
# at 96 px, 128 images: 14 G multiply-adds), which the rate does not describe, or where the rate puts it under
# SHORT_STEP_S (a GPU), so that timing it is cheap.
SMALL_STEP_MULT_ADDS = 15e9
SHORT_STEP_S = 0.2
# What a step's and an evaluation batch's time depend on, as the settings declare it (the network, the batch, the
# optimizer, augmentation, test-time flips, precision): the rest (lr, epochs, sizes) does not.
TIMED_SETTINGS = tuple(name for name, s in SETTINGS.items() if s.spec.timed)
STARTUP_S = 5.0  # a worker process starting, importing torch and loading Fashion-MNIST, where not measured
CACHE_FILE = "estimates.json"
CACHE_MAX_AGE_S = 24 * 3600  # then measure again: the machine, or what else runs on it, may have changed
HOURS_WARNING_S = 3600.0
BIG_NETWORK_MULT_ADDS = 100_000_000  # per image: the seed has 762 M, the cpu preset 20 M

T = TypeVar("T", bound="SupportsRichComparison")  # what min() can compare: seconds, or a tuple of them
M = TypeVar("M", "Throughput", "StepTimes")  # a measurement kept in estimates.json
_cache: dict[str, Throughput] = {}
_steps: dict[str, StepTimes] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Throughput:
    """A device's measured training speed."""

    device: str  # as a person reads it: "NVIDIA H100 80GB HBM3 (cuda:0)", "CPU (2 threads)"
    mult_adds_per_s: float  # training (forward + backward) work per second on a NiN big enough to keep it busy
    step_overhead_s: float  # the fixed cost of one training step, whatever the model's size
    measured_at: float
    # The device setting it was measured on ("cpu", "cuda:0"), where short configurations' own steps are timed;
    # None for a rate given by hand, which estimates from the rate alone.
    setting: str | None = None
    startup_s: float = STARTUP_S  # a run's process starting: importing torch, reading Fashion-MNIST


@dataclass(frozen=True)
class StepTimes:
    """A configuration's own steps, timed on a device."""

    step_s: float  # one training step, its batch prepared as the Trainer does
    eval_batch_s: float  # one evaluation batch
    setup_s: float  # what the first step and the first evaluation batch took beyond those: kernels and memory
    measured_at: float


@dataclass(frozen=True)
class Estimate:
    seconds: float
    train_s: float
    eval_s: float
    device: str
    mult_adds_per_image: int
    train_images: int
    test_images: int
    epochs: int
    runs: int = 1  # its repeats: one run per seed, one after another; the times are theirs summed

    @property
    def text(self) -> str:
        """How long, as a person reads it in the current language."""
        about = format_duration(self.seconds, about=True)
        if self.runs <= 1:
            return about
        return ngettext("{duration} for its {runs} seed", "{duration} for its {runs} seeds", self.runs).format(
            duration=about, runs=self.runs)

    @property
    def device_text(self) -> str:
        """The device it was measured on, in the current language (stored in English: ``CPU (2 threads)``)."""
        return shown_message(self.device) or self.device

    @property
    def takes_hours(self) -> bool:
        """An hour or more: worth a plain warning before launching."""
        return self.seconds >= HOURS_WARNING_S

    @property
    def warning(self) -> str | None:
        """A plain warning for a run of hours, with what to do about it; None for a shorter one."""
        if not self.takes_hours:
            return None
        if self.device.startswith("CPU") and self.mult_adds_per_image > BIG_NETWORK_MULT_ADDS:
            advice = _("NiN at this size (the seed's 224 px) is meant for a GPU; on a CPU the **cpu** preset trains "
                       "a useful NiN in minutes.")
        else:
            advice = _("Fewer epochs, fewer training images or a smaller resize shorten it.")
        what = (_("These runs would take **{time}** on {device}.") if self.runs > 1
                else _("This run would take **{time}** on {device}."))
        # two sentences: a space between them in English, none in Chinese
        return _("{sentence} {advice}").format(sentence=what.format(time=self.text, device=self.device_text),
                                               advice=advice)

    def __str__(self) -> str:
        return _("{time} on {device}").format(time=self.text, device=self.device_text)


# --- measuring ----------------------------------------------------------------------------------------

def _stepper(arch: ArchConfig, batch: int, device: torch.device, dtype: torch.dtype | None):
    """The bench's training step (the Trainer's, on a random batch resident on the device) of a fresh NiN with the
    chapter's SGD."""
    return make_step(RunConfig(arch=arch, train=TrainConfig(batch_size=batch)), device, torch.channels_last, dtype)


def _time_steps(step, device: torch.device, n: int, at_least_s: float = 0.0,
                summary: Callable[[list[float]], float] = statistics.median) -> float:
    """The median (or ``summary``) time of ``n`` steps, or of more until ``at_least_s`` seconds have passed (up
    to MOST_TIMED). The median is robust to a neighbour taking the CPU for a moment; a run's length is the mean."""
    times: list[float] = []
    while len(times) < n or (sum(times) < at_least_s and len(times) < MOST_TIMED):
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return summary(times)


def _fastest(device: torch.device, timed: Callable[[], T]) -> T:
    """The least of ``timed()`` at each thread count the Trainer may choose on ``device``: on the CPU it trains
    with the count that goes fastest now (threads.py), one thread on a busy machine, all of them on an idle one."""
    tuner = tuner_for(device, distributed=False)
    try:
        found = []
        for threads in tuner.counts if tuner else [torch.get_num_threads()]:
            torch.set_num_threads(threads)
            found.append(timed())
        return min(found)
    finally:
        if tuner:
            tuner.close()


def measure_startup() -> float:
    """Seconds a fresh process takes to import what a run needs (torch above all), check a configuration and read
    Fashion-MNIST: what a run pays before it trains, several times more on a busy machine than on an idle one."""
    start = time.perf_counter()
    try:
        in_fresh_process(f"{__name__}:startup_child")
    except FreshProcessError:
        return STARTUP_S
    return time.perf_counter() - start


def startup_child() -> None:
    """What a run's process does before it trains: the checks before a launch (the memory check's first pass on the
    meta device loads torch's reference kernels: seconds on a busy machine), reading the data set (where it is here
    already)."""
    launch_issues(TINY)
    with contextlib.suppress(DataNotFoundError):
        load_fashion_mnist(download=False)


def measure_throughput(device: torch.device, dtype: torch.dtype | None = None) -> Throughput:
    """Time a few real training steps on ``device`` (a few seconds; on the CPU at each thread count the Trainer may
    choose, the fastest kept), and a run's start-up. Leaves the global RNG as it was."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        bench_ma = shape_table(BENCH_ARCH).total_mult_adds
        batch, step_s = 8, 0.0
        while True:
            step = _stepper(BENCH_ARCH, batch, device, dtype)
            step()  # the first step at a shape sets up kernels and memory
            synchronize(device)
            step_s = _time_steps(step, device, 1)
            if step_s >= BUSY_STEP_S or batch >= MAX_BATCH:
                break
            batch *= 2
        step_s = _fastest(device, functools.partial(_time_steps, step, device, TIMED_STEPS))
        rate = 3 * bench_ma * batch / step_s
        del step

        small_ma = shape_table(SMALL_ARCH).total_mult_adds
        small = _stepper(SMALL_ARCH, SMALL_BATCH, device, dtype)
        small()
        synchronize(device)
        small_s = _fastest(device, functools.partial(_time_steps, small, device, 2 * TIMED_STEPS))
        overhead = max(0.0, small_s - 3 * small_ma * SMALL_BATCH / rate)
    return Throughput(device_label(device), rate, overhead, time.time(), str(device), measure_startup())


def _key(device: torch.device, dtype: torch.dtype | None) -> str:
    return f"{device_label(device)} | {str(dtype or torch.float32).removeprefix('torch.')} | torch {torch.__version__}"


def _fresh(found: Throughput | StepTimes | None) -> bool:
    return found is not None and time.time() - found.measured_at < CACHE_MAX_AGE_S


def _read_cache(path: Path, key: str, kind: type[M]) -> M | None:
    """The measurement kept under ``key`` in ``path``, if it is there, whole and fresh."""
    try:
        found = kind(**json.loads(path.read_text())[key])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if _fresh(found) else None


def _write_cache(path: Path, key: str, found: Throughput | StepTimes) -> None:
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[key] = asdict(found)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(path)
    except OSError:
        pass  # a cache that cannot be written only means measuring again next time


def throughput(device: str = "auto", precision: str = "auto", *, home: str | Path | None = None,
               refresh: bool = False) -> Throughput:
    """The device's throughput (a configuration's ``device`` and ``precision`` settings): from memory, else from
    ``home``/estimates.json, else measured now (and remembered in both)."""
    dev = resolve_device(device)
    dtype = autocast_dtype(RunConfig(train=TrainConfig(precision=precision)), dev)
    key = _key(dev, dtype)
    path = Path(home) / CACHE_FILE if home is not None else None
    with _lock:  # two sessions asking at once measure once
        if not refresh:
            if _fresh(_cache.get(key)):
                return _cache[key]
            found = _read_cache(path, key, Throughput) if path else None
            if found and found.mult_adds_per_s > 0 and found.setting:
                _cache[key] = found
                return found
        found = measure_throughput(dev, dtype)
        _cache[key] = found
        if path:
            _write_cache(path, key, found)
        return found


def step_times(config: RunConfig, setting: str, *, home: str | Path | None = None) -> StepTimes:
    """One training step of ``config`` on the device ``setting`` names, as the Trainer takes it (the batch
    resized from uint8 images and augmented as configured, channels_last, its optimizer and precision), and one
    evaluation batch, timed: each the mean of a few, after a first that sets up kernels and memory.
    Remembered per device and per the settings they depend on: in memory, and given ``home``, in its
    estimates.json."""
    timed = RunConfig().with_overrides(**{name: config.get(name) for name in TIMED_SETTINGS})
    device = resolve_device(setting)
    settings = {name: value for section in timed.to_dict().values() for name, value in section.items()
                if name in TIMED_SETTINGS}
    key = f"{_key(device, autocast_dtype(timed, device))} | steps of {json.dumps(settings)}"
    path = Path(home) / CACHE_FILE if home is not None else None
    with _lock:  # two sessions timing at once would slow each other down
        if _fresh(_steps.get(key)):
            return _steps[key]
        found = _read_cache(path, key, StepTimes) if path else None
        if found is None:
            found = _time_config(device, timed)
            if path:
                _write_cache(path, key, found)
        _steps[key] = found
        return found


def _time_config(device: torch.device, config: RunConfig) -> StepTimes:
    arch, t = config.arch, config.train
    dtype, eval_batch = autocast_dtype(config, device), eval_batch_size(config)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        gen = torch.Generator().manual_seed(0)
        n = max(t.batch_size, eval_batch)
        images = torch.randint(0, 256, (n, arch.in_channels, 28, 28), dtype=torch.uint8, generator=gen)
        labels = torch.randint(0, arch.num_classes, (n,), generator=gen)
        batches = Batches(images[:t.batch_size], labels[:t.batch_size], t.batch_size, resize=arch.resize,
                          device=device)
        evaluation = Batches(images[:eval_batch], labels[:eval_batch], eval_batch, resize=arch.resize, device=device)
        model = build_model(arch).to(device).to(memory_format=torch.channels_last)
        optimizer, loss_fn = make_optimizer(config, model.parameters()), make_loss(config)
        augment = torch.Generator().manual_seed(1) if t.augment == "flip-shift" else None

        def step() -> None:
            model.train()
            for x, y in batches:
                train_step(model, optimizer, loss_fn, training_batch(x, augment), y, dtype)

        def evaluate() -> None:
            test_accuracy(model, evaluation, dtype, tta=t.tta)

        first = _time_steps(step, device, 1) + _time_steps(evaluate, device, 1)
        # Means: a run's length is the sum of its steps, the ones a neighbour slowed down included.
        step_s, eval_batch_s = _fastest(device, lambda: (
            _time_steps(step, device, TIMED_STEPS, TIMING_S, statistics.fmean),
            _time_steps(evaluate, device, TIMED_STEPS, TIMING_S, statistics.fmean)))
    return StepTimes(step_s, eval_batch_s, max(0.0, first - step_s - eval_batch_s), time.time())


# --- estimating ---------------------------------------------------------------------------------------

def measure_for_new_session(home: str | Path) -> Estimate:
    """What a new session's training page measures for its estimate (the device's speed, and the default preset's
    own steps), kept in ``home``: a home that starts with it opens as a returning person's does."""
    config = PRESETS[default_preset()]
    rate = throughput(config.train.device, config.train.precision, home=home)
    return estimate_run(config, rate, home=home)


def estimate_run(config: RunConfig, rate: Throughput, *, mult_adds: int | None = None, time_steps: bool = True,
                 home: str | Path | None = None) -> Estimate:
    """How long ``config`` trains on the device ``rate`` was measured on: from the rate, or for a small step
    from the configuration's own steps timed there (kept in ``home`` where given; unless ``time_steps`` is False: a
    page that lists many configurations answers from the rate alone, at once). ``mult_adds`` (per image) is taken
    from the shape table when not given; a configuration whose shapes fail has no estimate (ValueError)."""
    if mult_adds is None:
        table = shape_table(config.arch)
        if not table.ok:
            raise ValueError(table.error)
        mult_adds = table.total_mult_adds
    t = config.train
    n_train = t.train_size or FASHION_MNIST_TRAIN
    n_test = t.test_size or FASHION_MNIST_TEST
    eval_batch = eval_batch_size(config)
    train_steps = math.ceil(n_train / t.batch_size) * t.epochs
    eval_steps = math.ceil(n_test / eval_batch) * t.epochs
    start_s = rate.startup_s
    work = mult_adds * t.batch_size
    small = work <= SMALL_STEP_MULT_ADDS or 3 * work / rate.mult_adds_per_s <= SHORT_STEP_S
    if time_steps and rate.setting is not None and small:
        timed = step_times(config, rate.setting, home=home)
        train_s, eval_s = train_steps * timed.step_s, eval_steps * timed.eval_batch_s
        start_s += timed.setup_s
    else:
        train_s = 3 * mult_adds * n_train * t.epochs / rate.mult_adds_per_s + train_steps * rate.step_overhead_s
        eval_s = mult_adds * n_test * t.epochs / rate.mult_adds_per_s + eval_steps * rate.step_overhead_s / 3
    runs = t.repeats  # the seeds train one after another
    return Estimate(runs * (train_s + eval_s + start_s), runs * train_s, runs * eval_s, rate.device, mult_adds,
                    n_train, n_test, t.epochs, runs)
