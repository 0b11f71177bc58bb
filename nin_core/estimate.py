"""How long a run will take on a device, before it is launched.

The device's training throughput is measured once with a few real training steps of a fixed NiN (the chapter's
blocks at 96 px, the batch grown until a step keeps the device busy, about a second or two in all), as
multiply-adds per second, plus the fixed cost of one step (timed on a tiny NiN: what small models pay
whatever their size). It is kept in memory per device and, given a home folder, in ``estimates.json`` there.

A run then takes  3 × mult-adds/image × training images × epochs / rate   (forward and backward)
               +  1 × mult-adds/image × test images × epochs / rate       (evaluation after each epoch)
               +  the fixed cost of each step, and a few seconds to start.
"""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .config import FASHION_MNIST_TEST, FASHION_MNIST_TRAIN, SEED_BLOCKS, TINY, ArchConfig, RunConfig, TrainConfig
from .devices import device_label, resolve_device, synchronize
from .durations import format_duration
from .model import build_model
from .shapes import shape_table
from .train import autocast_dtype, eval_batch_size, train_step

BENCH_ARCH = ArchConfig(blocks=SEED_BLOCKS, resize=96)  # the chapter's NiN on smaller images
SMALL_ARCH = TINY.arch
SMALL_BATCH = 32
BUSY_STEP_S = 0.15  # grow the benchmark batch until one step takes this long …
MAX_BATCH = 256  # … or the batch reaches this
TIMED_STEPS = 3
STARTUP_S = 5.0  # a worker process starting, importing torch and loading Fashion-MNIST
CACHE_FILE = "estimates.json"
CACHE_MAX_AGE_S = 24 * 3600  # then measure again: the machine, or what else runs on it, may have changed
HOURS_WARNING_S = 3600.0
BIG_NETWORK_MULT_ADDS = 100_000_000  # per image: the seed has 762 M, the cpu preset 20 M

_cache: dict[str, Throughput] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Throughput:
    """A device's measured training speed."""

    device: str  # as a person reads it: "NVIDIA H100 80GB HBM3 (cuda:0)", "CPU (2 threads)"
    mult_adds_per_s: float  # training (forward + backward) work per second on a NiN big enough to keep it busy
    step_overhead_s: float  # the fixed cost of one training step, whatever the model's size
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

    @property
    def text(self) -> str:
        return format_duration(self.seconds, about=True)

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
            advice = (" NiN at this size (the seed's 224 px) is meant for a GPU; on a CPU the **cpu** preset trains "
                      "a useful NiN in minutes.")
        else:
            advice = " Fewer epochs, fewer training images or a smaller resize shorten it."
        return f"This run would take **{self.text}** on {self.device}.{advice}"

    def __str__(self) -> str:
        return f"{self.text} on {self.device}"


# --- measuring ----------------------------------------------------------------------------------------

def _stepper(arch: ArchConfig, batch: int, device: torch.device, dtype: torch.dtype | None):
    """One training step of a fresh NiN on random images, as the trainer takes it; returns the step function."""
    model = build_model(arch).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, arch.in_channels, arch.resize, arch.resize, generator=gen).to(device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, arch.num_classes, (batch,), generator=gen).to(device)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        train_step(model, optimizer, loss_fn, x, y, dtype)

    return step


def _time_steps(step, device: torch.device, n: int) -> float:
    """The median time of ``n`` steps (robust to a neighbour taking the CPU for a moment)."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_throughput(device: torch.device, dtype: torch.dtype | None = None) -> Throughput:
    """Time a few real training steps on ``device`` (about 1–2 s). Leaves the global RNG as it was."""
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
        step_s = _time_steps(step, device, TIMED_STEPS)
        rate = 3 * bench_ma * batch / step_s
        del step

        small_ma = shape_table(SMALL_ARCH).total_mult_adds
        small = _stepper(SMALL_ARCH, SMALL_BATCH, device, dtype)
        small()
        synchronize(device)
        small_s = _time_steps(small, device, 2 * TIMED_STEPS)
        overhead = max(0.0, small_s - 3 * small_ma * SMALL_BATCH / rate)
    return Throughput(device_label(device), rate, overhead, time.time())


def _key(device: torch.device, dtype: torch.dtype | None) -> str:
    return f"{device_label(device)} | {str(dtype or torch.float32).removeprefix('torch.')} | torch {torch.__version__}"


def _read_cache(path: Path, key: str) -> Throughput | None:
    try:
        entry = json.loads(path.read_text())[key]
        found = Throughput(**entry)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    fresh = time.time() - found.measured_at < CACHE_MAX_AGE_S
    return found if fresh and found.mult_adds_per_s > 0 else None


def _write_cache(path: Path, key: str, found: Throughput) -> None:
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
            if key in _cache and time.time() - _cache[key].measured_at < CACHE_MAX_AGE_S:
                return _cache[key]
            found = _read_cache(path, key) if path else None
            if found:
                _cache[key] = found
                return found
        found = measure_throughput(dev, dtype)
        _cache[key] = found
        if path:
            _write_cache(path, key, found)
        return found


# --- estimating ---------------------------------------------------------------------------------------

def estimate_run(config: RunConfig, rate: Throughput, *, mult_adds: int | None = None) -> Estimate:
    """How long ``config`` trains on the device ``rate`` was measured on. ``mult_adds`` (per image) is taken
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
    train_s = 3 * mult_adds * n_train * t.epochs / rate.mult_adds_per_s + train_steps * rate.step_overhead_s
    eval_s = mult_adds * n_test * t.epochs / rate.mult_adds_per_s + eval_steps * rate.step_overhead_s / 3
    return Estimate(train_s + eval_s + STARTUP_S, train_s, eval_s, rate.device, mult_adds, n_train, n_test,
                    t.epochs)
