"""``python -m nin_core bench``: the seed's training pipeline against nin_core's, timed in one run on one machine.

The seed trains through d2l: torchvision's FashionMNIST with ``Resize`` + ``ToTensor`` in a 4-worker DataLoader,
float32 NCHW, and a host synchronisation every batch (d2l's Accumulator turns the loss and accuracy into floats).
nin_core's Trainer keeps the images uint8 on the device, resizes each batch there, trains channels_last (in bf16
autocast where ``precision=auto`` picks it) and reads its metrics back five times an epoch.

Both train the same configuration on the same images for one epoch, timed by the wall clock from reading the IDX
files to the end of the last step (data loading, model construction and the first, slow step included); the
evaluation that follows an epoch is left out of both. Timings on a shared machine are noisy: compare the figures
of one run (ratios), not runs of different days.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from nin_core.lab.fresh_process import in_fresh_process
from nin_core.network.config import FASHION_MNIST_TRAIN, RunConfig
from nin_core.network.data import (
    IDX_FILES,
    Batches,
    FashionMNIST,
    find_dataset,
    load_fashion_mnist,
    load_split,
    sample_test_images,
    take_subset,
)
from nin_core.network.devices import device_label, resolve_device, synchronize
from nin_core.network.model import build_model
from nin_core.network.predict import Predictor
from nin_core.network.shapes import shape_table
from nin_core.network.train import Trainer, autocast, autocast_dtype, make_loss, make_optimizer, train_step

SEED_WORKERS = 4  # d2l's get_dataloader_workers()
INFERENCE_REPEATS = 30
UPLOAD_SIDE = 280  # the uploaded PNG: a test image enlarged, as a small photo would be, so preprocessing resizes
BARE_STEPS = 3  # timed steps of each variant, after a warm-up step; each keeps its fastest
RSS_STEPS = 2
FULL_RUN_EPOCHS = 10  # what a torch.compile is weighed against: the seed's run, 10 epochs of the whole training set

# Dense bf16 tensor-core peaks (TFLOP/s) from the vendors' data sheets, matched in order against the device name.
PEAK_BF16_TFLOPS = (
    ("H200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H800", 989.0),
    ("A100", 312.0), ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0), ("A10", 125.0),
)


# --- the device ---------------------------------------------------------------------------------------

def start_device(device: torch.device) -> None:
    """Start the device's context and convolution library before any clock does: whichever pipeline ran first
    would otherwise pay it for both."""
    x = torch.zeros(1, 1, 8, 8, device=device)
    F.conv2d(x, torch.zeros(1, 1, 3, 3, device=device)).sum().item()


# --- the seed's pipeline ------------------------------------------------------------------------------

def torchvision_root(found: Path, tmp: Path) -> Path:
    """A root laid out as torchvision's FashionMNIST reads it, ``<root>/FashionMNIST/raw``, holding the four raw IDX
    files: links to the found ones, or the .gz ones decompressed (what torchvision's download leaves)."""
    raw = tmp / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in IDX_FILES.values():
        if (found / stem).is_file():
            (raw / stem).symlink_to((found / stem).resolve())
        else:
            with gzip.open(found / f"{stem}.gz", "rb") as src, open(raw / stem, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return tmp


def seed_pipeline_seconds(config: RunConfig, root: Path, device: torch.device) -> float:
    """One epoch as d2l's ``load_data_fashion_mnist`` and ``train_ch6`` run it (the animator left out)."""
    import torchvision
    from torchvision import transforms

    t = config.train
    torch.backends.cudnn.benchmark = False  # the seed never sets it (the Trainer does)
    torch.manual_seed(t.seed)
    start = time.perf_counter()
    trans = transforms.Compose([transforms.Resize(config.arch.resize), transforms.ToTensor()])
    train = torchvision.datasets.FashionMNIST(root=str(root), train=True, transform=trans, download=False)
    torchvision.datasets.FashionMNIST(root=str(root), train=False, transform=trans, download=False)
    # The images take_subset gives the Trainer, so both pipelines see the same ones.
    index = torch.randperm(len(train), generator=torch.Generator().manual_seed(t.seed))[:t.train_size].tolist()
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(train, index), t.batch_size, shuffle=True,
                                         num_workers=SEED_WORKERS)
    net = build_model(config.arch, t.init).to(device)
    optimizer = make_optimizer(config, net.parameters())  # the configuration's, as the Trainer builds it
    loss = nn.CrossEntropyLoss()
    net.train()
    metric = [0.0, 0.0, 0]
    for X, y in loader:
        optimizer.zero_grad()
        X, y = X.to(device), y.to(device)
        y_hat = net(X)
        l = loss(y_hat, y)  # noqa: E741 - d2l's train_ch6, verbatim
        l.backward()
        optimizer.step()
        with torch.no_grad():  # d2l's Accumulator.add: float() of each value, a host sync every batch
            metric[0] += float(l * X.shape[0])
            metric[1] += float((y_hat.argmax(dim=1).type(y.dtype) == y).type(y.dtype).sum())
            metric[2] += X.shape[0]
    return time.perf_counter() - start


# --- nin_core's pipeline ------------------------------------------------------------------------------

def fast_pipeline_seconds(config: RunConfig) -> float:
    """One epoch of the Trainer, up to the moment it turns to evaluating."""
    start = time.perf_counter()
    root = find_dataset(config.train.data_dir)
    # Read from disk as the seed does, not the copy this process may already hold.
    data = FashionMNIST(root, *load_split(root, train=True), *load_split(root, train=False))
    trained_at: list[float] = []

    def on_progress(progress, points) -> None:
        if progress.phase == "evaluating" and not trained_at:
            trained_at.append(time.perf_counter())

    result = Trainer(config, data=data, on_progress=on_progress).run()
    if not trained_at:
        raise RuntimeError(f"the Trainer ended before finishing its epoch: {result.status} ({result.message})")
    return trained_at[0] - start


def batch_prep_seconds(config: RunConfig, device: torch.device) -> float:
    """The Trainer's per-batch data work alone for one epoch, no training: each batch indexed, resized and laid out
    channels_last on the device (the images already there, as the Trainer puts them once)."""
    t = config.train
    data = load_fashion_mnist(t.data_dir)
    images, labels = take_subset(data.train_images, data.train_labels, t.train_size, t.seed)
    batches = Batches(images, labels, t.batch_size, resize=config.arch.resize, device=device, shuffle=True,
                      generator=torch.Generator().manual_seed(t.seed))
    start = time.perf_counter()
    for x, _ in batches:
        x.contiguous(memory_format=torch.channels_last)
    synchronize(device)
    return time.perf_counter() - start


# --- the bare step ------------------------------------------------------------------------------------

def bf16_available(device: torch.device) -> bool:
    return device.type == "cpu" or (device.type == "cuda" and torch.cuda.is_bf16_supported())


def step_variants(device: torch.device) -> dict[str, tuple[torch.memory_format, torch.dtype | None]]:
    variants: dict[str, tuple[torch.memory_format, torch.dtype | None]] = {
        "float32 NCHW": (torch.contiguous_format, None), "float32 channels_last": (torch.channels_last, None)}
    if bf16_available(device):
        variants["bf16 channels_last"] = (torch.channels_last, torch.bfloat16)
    return variants


def variant_name(dtype: torch.dtype | None) -> str:
    return "bf16 channels_last" if dtype == torch.bfloat16 else "float32 channels_last"


def make_step(config: RunConfig, device: torch.device, memory_format: torch.memory_format,
              dtype: torch.dtype | None, compile_model: bool = False):
    """One training step of a fresh model on a synthetic batch that stays on the device: no data pipeline at all."""
    arch, batch = config.arch, config.train.batch_size
    model = build_model(arch, config.train.init).to(device).to(memory_format=memory_format)
    optimizer = make_optimizer(config, model.parameters())
    # torch.compile of a module returns a module (an OptimizedModule); its hints say only "a callable".
    forward = cast(nn.Module, torch.compile(model)) if compile_model else model
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, arch.in_channels, arch.resize, arch.resize, generator=gen).to(device)
    x = x.contiguous(memory_format=memory_format)
    y = torch.randint(0, arch.num_classes, (batch,), generator=gen).to(device)
    loss_fn = make_loss(config)

    def step() -> float:
        """Seconds for one step, the device's queue drained."""
        started = time.perf_counter()
        train_step(forward, optimizer, loss_fn, x, y, dtype)
        synchronize(device)
        return time.perf_counter() - started

    return step


def interleaved(timers: dict[str, Callable[[], float]], repeats: int,
                summary: Callable[[list[float]], float] = min) -> dict[str, float]:
    """Each timer's seconds, summarised over ``repeats`` rounds in which the timers take turns, after a warm-up
    call each (kernels chosen, memory allocated): a neighbour's load falls on all of them alike."""
    for timer in timers.values():
        timer()
    times: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(repeats):
        for name, timer in timers.items():
            times[name].append(timer())
    return {name: summary(seconds) for name, seconds in times.items()}


def bare_step_rates(config: RunConfig, device: torch.device, steps: int) -> dict[str, float]:
    """Images/s of a training step in each layout and precision, from each one's fastest step."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the Trainer runs
    timers = {name: make_step(config, device, fmt, dtype) for name, (fmt, dtype) in step_variants(device).items()}
    return {name: config.train.batch_size / seconds for name, seconds in interleaved(timers, steps).items()}


def make_forward(config: RunConfig, device: torch.device, memory_format: torch.memory_format,
                 dtype: torch.dtype | None):
    """The forward pass alone (logits and class maps) on one image, as the Predictor runs it."""
    arch = config.arch
    model = build_model(arch, config.train.init).to(device).to(memory_format=memory_format).eval()
    x = torch.rand(1, arch.in_channels, arch.resize, arch.resize).to(device).contiguous(memory_format=memory_format)

    def forward() -> float:
        started = time.perf_counter()
        with torch.inference_mode(), autocast(device, dtype):
            model.forward_with_maps(x)
        synchronize(device)
        return time.perf_counter() - started

    return forward


def forward_ms(config: RunConfig, device: torch.device, repeats: int = INFERENCE_REPEATS) -> dict[str, float]:
    """Median milliseconds of one image's forward pass per layout and precision: how much of an upload's time
    is the network, and what another layout or precision would make of it."""
    timers = {name: make_forward(config, device, fmt, dtype) for name, (fmt, dtype) in step_variants(device).items()}
    return {name: 1000 * seconds for name, seconds in interleaved(timers, repeats, statistics.median).items()}


def compile_gain(config: RunConfig, device: torch.device, dtype: torch.dtype | None, steps: int) -> dict:
    """torch.compile against eager on the Trainer's step: the compile time, both rates, and the seconds it would
    save over the seed's 10 epochs of the whole training set (negative: it does not pay)."""
    eager = make_step(config, device, torch.channels_last, dtype)
    compiled = make_step(config, device, torch.channels_last, dtype, compile_model=True)
    compile_s = compiled()  # the first call compiles
    best = interleaved({"eager": eager, "compiled": compiled}, steps)
    eager_s, compiled_s = best["eager"], best["compiled"]
    full_run_steps = FULL_RUN_EPOCHS * math.ceil(FASHION_MNIST_TRAIN / config.train.batch_size)
    batch = config.train.batch_size
    return {"compile_s": compile_s, "eager_images_per_sec": batch / eager_s,
            "compiled_images_per_sec": batch / compiled_s,
            "saved_s_over_10_epochs": full_run_steps * (eager_s - compiled_s) - compile_s}


# --- inference, memory, utilisation -------------------------------------------------------------------

def upload_png(seed: int, data_dir: str | None) -> bytes:
    """A real test image enlarged to UPLOAD_SIDE px and encoded as PNG: the bytes of an upload."""
    [(image, _)] = sample_test_images(1, seed, data_dir)
    picture = Image.fromarray(image.numpy(), "L").resize((UPLOAD_SIDE, UPLOAD_SIDE), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def inference_ms(config: RunConfig, device: torch.device, png: bytes,
                 repeats: int = INFERENCE_REPEATS) -> dict[str, float]:
    """Milliseconds of one upload through Predictor.predict_files (decoding and preprocessing, the forward pass,
    top-k and the class map): the median, and the fastest, which a neighbour's load on a shared CPU does not
    reach (two threads that wait on each other stall whenever one is descheduled)."""
    predictor = Predictor(build_model(config.arch, config.train.init), config, device)
    for _ in range(3):  # the first calls set up kernels
        predictor.predict_files([("upload.png", png)])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        [prediction] = predictor.predict_files([("upload.png", png)])
        times.append(time.perf_counter() - started)
    if prediction.error:
        raise RuntimeError(prediction.error)
    return {"median": 1000 * statistics.median(times), "best": 1000 * min(times)}


def peak_rss_mb(config: RunConfig) -> float:
    """Peak resident memory (MB) of a fresh process that trains ``config`` for RSS_STEPS steps and evaluates:
    a process of its own, so nothing this one holds counts."""
    t = config.train
    child = config.with_overrides(train_size=RSS_STEPS * t.batch_size, test_size=t.batch_size, epochs=1)
    return in_fresh_process("nin_core.lab.bench:rss_child", child.to_json(None))


def rss_child(config_json: str) -> float:
    Trainer(RunConfig.from_json(config_json)).run()
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return kib / 1024 / (1024 if sys.platform == "darwin" else 1)


def peak_tflops(device_name: str) -> float | None:
    name = device_name.upper()
    return next((peak for key, peak in PEAK_BF16_TFLOPS if key.upper() in name), None)


def mfu(images_per_sec: float, flops_per_image: float, peak: float | None) -> float | None:
    """Model FLOP utilisation: the training FLOP/s done over the device's dense bf16 peak."""
    return images_per_sec * flops_per_image / (peak * 1e12) if peak else None


# --- the whole bench ----------------------------------------------------------------------------------

def machine(device: torch.device) -> dict:
    return {"device": device_label(device), "cpu": cpu_model(), "logical_cpus": os.cpu_count(),
            "torch": torch.__version__, "python": platform.python_version(),
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_config(config: RunConfig, images: int, device: str | None) -> RunConfig:
    """One epoch of ``images`` training images; the test split cut to one batch, since evaluation is not timed."""
    batch = min(config.train.batch_size, images)
    overrides: dict[str, int | str] = {"train_size": images, "test_size": batch, "batch_size": batch, "epochs": 1}
    if device is not None:
        overrides["device"] = device
    return config.with_overrides(**overrides).check()


def pipeline_seconds(config: RunConfig, device: torch.device, repeats: int) -> tuple[float, float]:
    """Seconds of one epoch through the seed's pipeline and through the Trainer, each run ``repeats`` times taking
    turns, each keeping its fastest: a burst of load elsewhere hits one run."""
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # The seed's 4 workers on a machine with fewer CPUs are kept on purpose: PyTorch's advice is not news here.
        warnings.filterwarnings("ignore", message="This DataLoader will create")
        root = torchvision_root(find_dataset(config.train.data_dir), Path(tmp))
        seed_s = fast_s = math.inf
        for _ in range(repeats):
            seed_s = min(seed_s, seed_pipeline_seconds(config, root, device))
            fast_s = min(fast_s, fast_pipeline_seconds(config))
    return seed_s, fast_s


def mfu_report(device: torch.device, mult_adds_per_image: int, fast_rate: float, bare: dict[str, float]) -> dict:
    """Model FLOP utilisation of the Trainer and of each bare step against the GPU's dense bf16 peak."""
    peak = peak_tflops(torch.cuda.get_device_name(device))
    flops = 6 * mult_adds_per_image  # 2 FLOPs a multiply-add, backward twice the forward
    return {"peak_bf16_tflops": peak, "fast_pipeline": mfu(fast_rate, flops, peak),
            **{f"bare {name}": mfu(rate, flops, peak) for name, rate in bare.items()}}


def run_bench(config: RunConfig, images: int, device: str | None = None, repeats: int = 1,
              compile_model: bool | None = None) -> dict:
    """Every figure of the bench as a dict (what ``--format json`` prints): each pipeline run ``repeats`` times,
    its fastest kept. ``compile_model`` None: on CUDA only."""
    import torchvision  # noqa: F401 - imported before any clock starts: importing is not the seed's pipeline

    config = bench_config(config, images, device)
    dev = resolve_device(config.train.device)
    dtype = autocast_dtype(config, dev)
    start_device(dev)
    load_before = os.getloadavg()
    seed_s, fast_s = pipeline_seconds(config, dev, repeats)
    bare = bare_step_rates(config, dev, BARE_STEPS)
    fast_rate = images / fast_s
    fast_bare_s = images / bare[variant_name(dtype)]
    prep_s = batch_prep_seconds(config, dev)
    report: dict[str, Any] = {
        "machine": machine(dev),
        "load_average": {"before": load_before, "after": None},
        "setup": {"images": images, "repeats": repeats, "resize": config.arch.resize,
                  "batch_size": config.train.batch_size, "epochs": 1, "evaluation": "excluded from both",
                  "fast_path": variant_name(dtype),
                  "mult_adds_per_image": shape_table(config.arch).total_mult_adds},
        "seed_pipeline": {"seconds": seed_s, "images_per_sec": images / seed_s},
        "fast_pipeline": {"seconds": fast_s, "images_per_sec": fast_rate},
        "speedup": seed_s / fast_s,
        "bare_step_images_per_sec": bare,
        "data_pipeline_cost_pct": 100 * (1 - fast_rate / bare[variant_name(dtype)]),
        "batch_prep_cost_pct": 100 * prep_s / (prep_s + fast_bare_s),
        "inference_ms": inference_ms(config, dev, upload_png(config.train.seed, config.train.data_dir)),
        "forward_ms_median": forward_ms(config, dev),
        "peak_rss_mb": peak_rss_mb(config),
    }
    if dev.type == "cuda":
        report["mfu"] = mfu_report(dev, report["setup"]["mult_adds_per_image"], fast_rate, bare)
    measure_compile = dev.type == "cuda" if compile_model is None else compile_model
    if measure_compile:
        report["compile"] = compile_gain(config, dev, dtype, BARE_STEPS)
    report["load_average"]["after"] = os.getloadavg()
    return report


def to_text(report: dict) -> str:
    m, s = report["machine"], report["setup"]
    load = " → ".join(f"{r[0]:.2f}" for r in report["load_average"].values())
    lines = [
        f"{m['device']} · {m['cpu']} · {m['logical_cpus']} logical CPUs · torch {m['torch']} · {m['date']}",
        f"load average (1 min) {load}",
        f"{s['images']} images at {s['resize']} px, batch {s['batch_size']}, one epoch, evaluation excluded from "
        f"both, data loading included; the fastest of {s['repeats']} run(s) each",
        f"  seed pipeline (torchvision, DataLoader ×{SEED_WORKERS} workers, float32 NCHW, sync per batch)"
        f"  {report['seed_pipeline']['images_per_sec']:8.1f} images/s  ({report['seed_pipeline']['seconds']:.1f} s)",
        f"  nin_core Trainer ({s['fast_path']}, uint8 data resized on the device)"
        f"  {report['fast_pipeline']['images_per_sec']:8.1f} images/s  ({report['fast_pipeline']['seconds']:.1f} s)",
        f"  speed-up end to end: {report['speedup']:.2f}×",
        f"bare training step, synthetic batch of {s['batch_size']} resident on the device:",
        *(f"  {name:<22} {rate:8.1f} images/s" for name, rate in report["bare_step_images_per_sec"].items()),
        f"data pipeline cost, Trainer end to end against its bare step: {report['data_pipeline_cost_pct']:.1f} % "
        f"(reading the IDX files and building the model included); its per-batch part alone (index, resize, "
        f"channels_last): {report['batch_prep_cost_pct']:.1f} %",
        f"one uploaded {UPLOAD_SIDE}×{UPLOAD_SIDE} PNG through Predictor.predict_files at {s['resize']} px: "
        f"median {report['inference_ms']['median']:.1f} ms of {INFERENCE_REPEATS} (best "
        f"{report['inference_ms']['best']:.1f} ms); its forward pass alone (median):",
        *(f"  {name:<22} {ms:8.1f} ms" for name, ms in report["forward_ms_median"].items()),
        f"peak RSS training at {s['resize']} px, batch {s['batch_size']} (own process): "
        f"{report['peak_rss_mb']:.0f} MB",
    ]
    if "mfu" in report:
        peak = report["mfu"]["peak_bf16_tflops"]
        lines.append(f"MFU against {peak:g} TFLOP/s dense bf16:" if peak else "MFU: this GPU's bf16 peak is unknown")
        lines += [f"  {name:<28} {value:6.1%}" for name, value in report["mfu"].items()
                  if name != "peak_bf16_tflops" and value is not None]
    if "compile" in report:
        c = report["compile"]
        lines.append(f"torch.compile: {c['compile_s']:.1f} s to compile, {c['eager_images_per_sec']:.1f} → "
                     f"{c['compiled_images_per_sec']:.1f} images/s; over {FULL_RUN_EPOCHS} epochs of the whole "
                     f"training set it saves {c['saved_s_over_10_epochs']:.0f} s")
    return "\n".join(lines)
