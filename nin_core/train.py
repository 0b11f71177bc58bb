"""Training with the semantics of d2l's ``train_ch6``: cross-entropy, train loss and accuracy averaged over each
epoch, test accuracy after each epoch, examples/sec over the training batches.

Metrics accumulate on the device and are read back only where progress is reported (five times an epoch, as
d2l's animator plots), so a GPU is not stalled by a host synchronisation every batch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from .checkpoint import save_checkpoint
from .config import RunConfig
from .data import Batches, FashionMNIST, load_fashion_mnist, take_subset
from .devices import device_label, resolve_device
from .distributed import Distributed
from .model import NiN, build_model
from .store import MetricPoint

CHANCE_LOSS = math.log(10)
STALL_BATCHES = 5  # consecutive batches with every class map zero: no gradient can flow any more
PROGRESS_EVERY_S = 1.0
EVAL_PIXELS = 1024 * 28 * 28  # an evaluation batch holds at most this many input pixels per image times batch

DIVERGED_HINT = ("The loss became NaN or infinite: the steps are too large. Lower the learning rate (try a tenth "
                 "of it), or use plain SGD without momentum.")
STALLED_HINT = ("Every class map went to zero: the ReLU after the last NiN block feeds the global pool directly, "
                "so once all its outputs are zero every logit is zero, the loss is exactly ln 10 = 2.303, accuracy "
                "is chance (0.100) and no gradient flows back. It happens when the effective step is too large: "
                "lower the learning rate, drop the momentum, or keep xavier init.")
SLOW_START_HINT = ("NiN with plain SGD stays near loss 2.303 for its first few hundred steps. Train on more images or "
                   "for more epochs, or try AdamW with lr 0.001 to 0.003.")


@dataclass
class Progress:
    """What a person watching a run wants to know, reported to the callback and stored with the run."""

    phase: str  # loading data, training, evaluating, finished
    device: str
    epoch: int  # 1-based epoch under way
    epochs: int
    batch: int = 0
    batches: int = 0
    train_loss: float | None = None
    train_acc: float | None = None
    test_acc: float | None = None
    examples_per_sec: float | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        """How much of the whole run is done, 0..1."""
        if not self.batches:
            return 0.0
        return min(1.0, ((self.epoch - 1) + self.batch / self.batches) / self.epochs)


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_acc: float
    test_acc: float
    examples_per_sec: float


@dataclass
class TrainResult:
    status: str  # finished, stopped, diverged, stalled
    device: str
    history: list[EpochMetrics] = field(default_factory=list)
    train_loss: float | None = None
    train_acc: float | None = None
    test_acc: float | None = None
    examples_per_sec: float | None = None
    message: str | None = None
    hint: str | None = None

    def final(self) -> dict:
        """The final metrics a run records: those it reached (a diverged run's loss is NaN or infinite)."""
        return {k: v for k, v in asdict(self).items()
                if k in ("train_loss", "train_acc", "test_acc", "examples_per_sec") and v is not None}


def closing_lines(final: dict, device: str | None) -> str:
    """The seed's two closing lines, ``loss X, train acc Y, test acc Z`` and ``N examples/sec on DEVICE``, from a
    run's final metrics; a run that ended before its first evaluation (diverged, stalled or stopped in epoch 1)
    gets what it has."""
    parts = [f"{label} {final[key]:.3f}" for label, key in (("loss", "train_loss"), ("train acc", "train_acc"),
                                                           ("test acc", "test_acc")) if final.get(key) is not None]
    speed = final.get("examples_per_sec")
    return ", ".join(parts) + (f"\n{speed:.1f} examples/sec on {device}" if speed is not None else "")


def make_optimizer(config: RunConfig, params) -> torch.optim.Optimizer:
    t = config.train
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)


def autocast_dtype(config: RunConfig, device: torch.device) -> torch.dtype | None:
    """bf16 under ``auto`` where it is fast and keeps accuracy (docs/benchmarks.md): a CUDA GPU with bf16 support,
    or a CPU with native bf16 arithmetic (AVX-512 BF16 or AMX). ``float32`` is always exact float32."""
    p = config.train.precision
    if p == "bf16" or (p == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    # Without these instructions PyTorch emulates bf16 on the CPU, slower than float32. (Private API: it is
    # there in the PyTorch requirements.txt pins.)
    return device.type == "cpu" and torch.cpu._is_avx512_bf16_supported()


def evaluate(model: NiN, batches: Batches, dtype: torch.dtype | None = None,
             dist: Distributed | None = None) -> float:
    """Accuracy over the batches, in eval mode (dropout off), as d2l's ``evaluate_accuracy_gpu``; distributed,
    each process counts its part and the counts are summed."""
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=next(model.parameters()).device)
    with torch.inference_mode(), torch.autocast(batches.device.type, dtype=dtype or torch.float32,
                                                enabled=dtype is not None):
        for x, y in batches:
            x = x.contiguous(memory_format=torch.channels_last)
            correct += (model(x).argmax(dim=1) == y).sum()
    if dist:
        [correct] = dist.sum(correct)
    return correct.item() / batches.num_examples


class Trainer:
    """Trains one configuration. ``on_progress`` gets a Progress about once a second and at every report point;
    ``on_points`` gets the new curve points; ``should_stop`` is polled between batches."""

    def __init__(self, config: RunConfig, *, data: FashionMNIST | None = None,
                 on_progress: Callable[[Progress, list[MetricPoint]], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, checkpoint_path: str | Path | None = None,
                 dist: Distributed | None = None):
        self.config = config.check()
        self.dist = dist
        self.device = dist.device(config.train.device) if dist else resolve_device(config.train.device)
        self.data = data
        self.on_progress = on_progress or (lambda progress, points: None)
        self.should_stop = should_stop or (lambda: False)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.model: NiN | None = None

    def run(self) -> TrainResult:
        cfg, t, device = self.config, self.config.train, self.device
        label = device_label(device)
        self.on_progress(Progress("loading data", label, 1, t.epochs), [])
        data = self.data or load_fashion_mnist(t.data_dir)
        torch.manual_seed(t.seed)
        train_x, train_y = take_subset(data.train_images, data.train_labels, t.train_size, t.seed)
        test_x, test_y = take_subset(data.test_images, data.test_labels, t.test_size, t.seed)
        shuffle = torch.Generator().manual_seed(t.seed)
        shard = (self.dist.rank, self.dist.world_size) if self.dist else (0, 1)
        train_iter = Batches(train_x, train_y, t.batch_size, resize=cfg.arch.resize, device=device, shuffle=True,
                             generator=shuffle, shard=shard)
        eval_batch = max(t.batch_size, min(1024, EVAL_PIXELS // cfg.arch.resize ** 2))
        test_iter = Batches(test_x, test_y, eval_batch, resize=cfg.arch.resize, device=device, shard=shard)

        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # every full batch has one shape: time the algorithms once
        model = build_model(cfg.arch, t.init).to(device, memory_format=torch.channels_last)
        self.model = model
        net = model
        if self.dist:  # gradients all-reduced across processes; parameters start as rank 0's
            net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                      else None)
        optimizer = make_optimizer(cfg, model.parameters())
        loss_fn = nn.CrossEntropyLoss()
        dtype = autocast_dtype(cfg, device)
        result = TrainResult("finished", str(device))
        num_batches = len(train_iter)
        report_every = max(1, num_batches // 5)
        train_time = eval_time = 0.0
        started = time.perf_counter()
        last_progress = last_stop_poll = 0.0
        progress = Progress("training", label, 1, t.epochs, 0, num_batches)

        def eta(trained_s: float, epoch: int, batch: int) -> float | None:
            """Seconds left: training batches at the measured pace, plus the evaluations still to come."""
            done = (epoch - 1) * num_batches + batch
            if not done:
                return None
            per_batch = trained_s / done
            evals_left = t.epochs - epoch + 1
            per_eval = eval_time / (epoch - 1) if epoch > 1 else per_batch * len(test_iter) / 3
            return per_batch * (t.epochs * num_batches - done) + per_eval * evals_left

        for epoch in range(1, t.epochs + 1):
            net.train()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            dead_streak = torch.zeros((), dtype=torch.int64, device=device)
            seen = 0
            epoch_start = time.perf_counter()
            for i, (x, y) in enumerate(train_iter, start=1):
                x = x.contiguous(memory_format=torch.channels_last)
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    logits = net(x)
                    loss = loss_fn(logits.float(), y)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    loss_sum += loss.detach() * y.shape[0]
                    correct += (logits.argmax(dim=1) == y).sum()
                    # The logits are the pooled ReLU outputs: all exactly zero means every class map is zero.
                    dead = (logits.detach().abs().amax() == 0).long()
                    dead_streak = (dead_streak + 1) * dead
                seen += y.shape[0]

                now = time.perf_counter()
                report = i % report_every == 0 or i == num_batches
                if report or now - last_progress >= PROGRESS_EVERY_S:
                    points = []
                    if report:  # one host synchronisation: read the accumulated metrics
                        progress.train_loss, progress.train_acc, streak = self._metrics(loss_sum, correct, seen,
                                                                                       dead_streak)
                        points.append(MetricPoint(epoch - 1 + i / num_batches, progress.train_loss,
                                                  progress.train_acc))
                        if not math.isfinite(progress.train_loss):
                            return self._end(result, "diverged", progress,
                                             f"the loss became {progress.train_loss} in epoch {epoch}", DIVERGED_HINT)
                        if streak >= STALL_BATCHES:
                            return self._end(result, "stalled", progress,
                                             f"stalled at chance in epoch {epoch}: every class map was zero for "
                                             f"{streak} batches in a row (loss 2.303, accuracy 0.100)", STALLED_HINT)
                    train_time_now = train_time + (now - epoch_start)
                    progress.batch, progress.epoch = i, epoch
                    progress.elapsed_s = now - started
                    done = (epoch - 1) * train_iter.num_examples + seen * (self.dist.world_size if self.dist else 1)
                    progress.examples_per_sec = done / train_time_now
                    progress.eta_s = eta(train_time_now, epoch, i)
                    self.on_progress(progress, points)
                    last_progress = now
                # Distributed, every process must decide at the same batch: the report points; else twice a second.
                poll = report if self.dist else now - last_stop_poll >= 0.5 or i == num_batches
                if poll:
                    last_stop_poll = now
                    stop = self.should_stop()
                    if self.dist.any(stop, device) if self.dist else stop:
                        train_time += time.perf_counter() - epoch_start
                        progress.train_loss, progress.train_acc, _ = self._metrics(loss_sum, correct, seen,
                                                                                   dead_streak)
                        self._save(model, epoch - 1 + i / num_batches, progress)
                        return self._end(result, "stopped", progress, f"stopped in epoch {epoch}, batch {i}", None)
            train_time += time.perf_counter() - epoch_start

            progress.phase = "evaluating"
            self.on_progress(progress, [])
            eval_start = time.perf_counter()
            progress.test_acc = evaluate(model, test_iter, dtype, self.dist)
            eval_time += time.perf_counter() - eval_start
            # d2l's figure: examples of the last epoch times epochs over the summed training time.
            progress.examples_per_sec = train_iter.num_examples * epoch / train_time
            result.history.append(EpochMetrics(epoch, progress.train_loss, progress.train_acc, progress.test_acc,
                                               progress.examples_per_sec))
            self._save(model, epoch, progress)
            progress.phase = "training"
            progress.eta_s = eta(train_time, epoch + 1, 0) if epoch < t.epochs else 0.0
            self.on_progress(progress, [MetricPoint(float(epoch), test_acc=progress.test_acc,
                                                    examples_per_sec=progress.examples_per_sec)])
        if abs(progress.train_loss - CHANCE_LOSS) < 0.01 and progress.train_acc < 0.12:
            # Not stalled (the class maps are alive), just not learning yet: NiN with SGD starts slowly.
            return self._end(result, "finished", progress,
                             f"ended at chance level (loss {progress.train_loss:.3f}, train acc "
                             f"{progress.train_acc:.3f})", SLOW_START_HINT)
        return self._end(result, "finished", progress, None, None)

    def _metrics(self, loss_sum: torch.Tensor, correct: torch.Tensor, seen: int,
                 dead_streak: torch.Tensor) -> tuple[float, float, int]:
        """Train loss and accuracy so far this epoch, and the run of batches with every class map zero: over all
        processes when distributed (the stall counts only where every process saw it)."""
        if self.dist:
            loss_sum, correct, total = self.dist.sum(loss_sum, correct, torch.tensor(seen, device=loss_sum.device))
            dead_streak, seen = self.dist.smallest(dead_streak), total.item()
        return loss_sum.item() / seen, correct.item() / seen, int(dead_streak.item())

    def _save(self, model: NiN, epoch: float, progress: Progress) -> None:
        if self.checkpoint_path is not None and (self.dist is None or self.dist.is_main):
            save_checkpoint(self.checkpoint_path, model, self.config, epoch=epoch,
                            metrics={k: v for k, v in (("train_loss", progress.train_loss),
                                                       ("train_acc", progress.train_acc),
                                                       ("test_acc", progress.test_acc)) if v is not None})

    def _end(self, result: TrainResult, status: str, progress: Progress, message: str | None,
             hint: str | None) -> TrainResult:
        result.status, result.message, result.hint = status, message, hint
        result.train_loss, result.train_acc = progress.train_loss, progress.train_acc
        result.test_acc, result.examples_per_sec = progress.test_acc, progress.examples_per_sec
        progress.phase = status
        progress.eta_s = 0.0
        self.on_progress(progress, [])
        return result
