"""Training with the semantics of d2l's ``train_ch6``: cross-entropy, train loss and accuracy averaged over each
epoch, test accuracy after each epoch, examples/sec over the training batches.

Metrics accumulate on the device and are read back only where progress is reported (five times an epoch, as
d2l's animator plots), so a GPU is not stalled by a host synchronisation every batch.

A checkpoint, saved each epoch and when a run stops, keeps what continuing needs (the optimizer's state, the step
the schedule is at, the epoch and batch reached, the random generators), so a continued run trains on exactly as
the same run would have without the stop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NoReturn

import torch
from torch import nn

from nin_core.i18n import _
from nin_core.network.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from nin_core.network.config import RunConfig
from nin_core.network.data import Batches, FashionMNIST, load_fashion_mnist, take_subset, training_batch
from nin_core.network.devices import device_label, resolve_device
from nin_core.network.distributed import Distributed
from nin_core.network.hints import (
    AT_CHANCE_AFTER_FIRST_EPOCH,
    DIVERGED,
    DIVERGED_HINT,
    ENDED_AT_CHANCE,
    SGD_SLOW_START_HINT,
    SLOW_START_HINT,
    STALLED,
    STALLED_HINT,
    STOPPED,
)
from nin_core.network.metrics import MetricPoint, Phase, Progress, at_chance, chance_loss
from nin_core.network.model import NiN, build_model, predict_logits
from nin_core.network.schedule import lr_at
from nin_core.network.status import RunStatus
from nin_core.network.threads import tuner_for

STALL_BATCHES = 5  # consecutive batches with every class map zero: no gradient can flow any more
PROGRESS_EVERY_S = 1.0
REPORTS_PER_EPOCH = 5  # d2l's animator plots five points an epoch
EVAL_PIXELS = 1024 * 28 * 28  # an evaluation batch holds at most this many input pixels


def stalled_hint(num_classes: int) -> str:
    """Why a run whose class maps all died cannot recover, and what to change (stored in English: hints.py)."""
    return STALLED_HINT.format(classes=num_classes, loss=f"{chance_loss(num_classes):.3f}",
                               accuracy=f"{1 / num_classes:.3f}")


def slow_start_hint(config: RunConfig) -> str:
    """What to try when a run sits at chance level, for the optimizer it used (stored in English: hints.py)."""
    if config.train.optimizer == "sgd":
        return SGD_SLOW_START_HINT.format(loss=f"{chance_loss(config.arch.num_classes):.3f}")
    return SLOW_START_HINT.format(optimizer=config.train.optimizer, lr=f"{config.train.lr:g}")


def eval_batch_size(config: RunConfig) -> int:
    """The evaluation's batch: as large as memory comfortably allows at this size, never smaller than training's."""
    return max(config.train.batch_size, min(1024, EVAL_PIXELS // config.arch.resize ** 2))


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


def autocast(device: torch.device, dtype: torch.dtype | None):
    """The autocast context for a device and a training precision (None: plain float32)."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def make_optimizer(config: RunConfig, params) -> torch.optim.Optimizer:
    t = config.train
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay, nesterov=t.nesterov)


def make_loss(config: RunConfig) -> nn.Module:
    return nn.CrossEntropyLoss(label_smoothing=config.train.label_smoothing)


def train_step(net: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module, x: torch.Tensor,
               y: torch.Tensor, dtype: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step, as the trainer, the benchmark and the time estimate all take it: the loss and the
    logits, detached, left on the device."""
    optimizer.zero_grad(set_to_none=True)
    with autocast(x.device, dtype):
        logits = net(x)
        loss = loss_fn(logits.float(), y)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def test_accuracy(model: NiN, batches: Batches, dtype: torch.dtype | None = None, dist: Distributed | None = None,
                  tta: bool = False) -> float:
    """Accuracy over the batches, in eval mode (dropout off), as d2l's ``evaluate_accuracy_gpu``; distributed,
    each process counts its part and the counts are summed."""
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=batches.device)
    with torch.inference_mode(), autocast(batches.device, dtype):
        for x, y in batches:
            x = x.contiguous(memory_format=torch.channels_last)
            correct += (predict_logits(model, x, tta).argmax(dim=1) == y).sum()
    if dist:
        [correct] = dist.sum(correct)
    return correct.item() / batches.num_examples


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_acc: float
    test_acc: float
    examples_per_sec: float


@dataclass
class TrainResult:
    status: RunStatus  # finished, stopped, diverged or stalled: how training itself ended
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


class RunEnded(Exception):
    """The run ends before its last epoch: stopped, diverged or stalled."""

    def __init__(self, status: RunStatus, message: str, hint: str | None = None):
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


class Pace:
    """Training and evaluation time so far, and what they say about the time left."""

    def __init__(self, epochs: int, batches: int, eval_batches: int, train_s: float = 0.0, eval_s: float = 0.0,
                 evals: int = 0):
        self.epochs, self.batches, self.eval_batches = epochs, batches, eval_batches
        self.train_s, self.eval_s, self.evals = train_s, eval_s, evals
        self.started = time.perf_counter()

    def eta(self, trained_s: float, epoch: int, batch: int) -> float | None:
        """Seconds left: training batches at the measured pace, plus the evaluations still to come."""
        done = (epoch - 1) * self.batches + batch
        if not done:
            return None
        per_batch = trained_s / done
        per_eval = self.eval_s / self.evals if self.evals else per_batch * self.eval_batches / 3
        return per_batch * (self.epochs * self.batches - done) + per_eval * (self.epochs - epoch + 1)


@dataclass
class _Sums:
    """One epoch's running metrics, on the device until a report reads them."""

    loss: torch.Tensor
    correct: torch.Tensor
    dead_streak: torch.Tensor
    seen: int = 0

    @classmethod
    def zeros(cls, device: torch.device) -> _Sums:
        return cls(torch.zeros((), device=device), torch.zeros((), dtype=torch.int64, device=device),
                   torch.zeros((), dtype=torch.int64, device=device))


class Trainer:
    """Trains one configuration. ``on_progress`` gets a Progress about once a second and at every report point,
    with the new curve points; ``should_stop`` is polled between batches. ``resume_from``: a checkpoint of this
    run to continue from (its configuration may ask for more epochs)."""

    def __init__(self, config: RunConfig, *, data: FashionMNIST | None = None,
                 on_progress: Callable[[Progress, list[MetricPoint]], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, checkpoint_path: str | Path | None = None,
                 dist: Distributed | None = None, resume_from: str | Path | None = None):
        self.config = config.check()
        self.dist = dist
        self.device = dist.device(config.train.device) if dist else resolve_device(config.train.device)
        self.data = data
        self.on_progress = on_progress or (lambda progress, points: None)
        self.should_stop = should_stop or (lambda: False)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.resume = resumable_state(resume_from) if resume_from else None
        self.model: NiN | None = None

    # --- setup ----------------------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg, t, device = self.config, self.config.train, self.device
        self.progress = Progress(Phase.LOADING_DATA, device_label(device), 1, t.epochs)
        self.on_progress(self.progress, [])
        self._load_data()
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # every full batch has one shape: time the algorithms once
        model = build_model(cfg.arch, t.init).to(device).to(memory_format=torch.channels_last)
        self.model = model
        self.net: nn.Module = model  # what trains: the model, or distributed, the wrapper that all-reduces
        self.optimizer = make_optimizer(cfg, model.parameters())
        self.loss_fn = make_loss(cfg)
        self.dtype = autocast_dtype(cfg, device)
        self.result = TrainResult(RunStatus.FINISHED, str(device))
        self.batches = len(self.train_iter)
        self.report_every = max(1, self.batches // REPORTS_PER_EPOCH)
        self.pace = Pace(t.epochs, self.batches, len(self.test_iter))
        self.start_epoch, self.skip, self.step, self.sums = 1, 0, 0, _Sums.zeros(device)
        if self.resume:
            self._restore(self.resume)
        if self.dist:  # gradients all-reduced across processes; parameters start as rank 0's
            self.net = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        self.progress = Progress(Phase.TRAINING, self.progress.device, self.start_epoch, t.epochs, self.skip,
                                 self.batches)
        # d2l's chance-level stall can only be seen where the logits are pooled ReLU outputs.
        self.watch_dead_maps = model.has_class_maps and cfg.arch.final_relu
        # On the CPU, the thread count that trains fastest depends on what else the machine runs (threads.py).
        self.tuner = tuner_for(device, self.dist is not None)

    @property
    def _built(self) -> NiN:
        """The model ``_setup`` built (there is none before the run starts)."""
        if self.model is None:
            raise RuntimeError("the model is built when the run starts")
        return self.model

    def _load_data(self) -> None:
        """The seeded training and evaluation subsets, as batches on the device (this process's shard of them)."""
        cfg, t, device = self.config, self.config.train, self.device
        data = self.data or load_fashion_mnist(t.data_dir)
        torch.manual_seed(t.seed)  # also seeds the model's initial weights, built next
        train_x, train_y, eval_x, eval_y = data.train_images, data.train_labels, data.test_images, data.test_labels
        if t.validation_size:  # the last training images stand in for the test set
            cut = len(train_y) - t.validation_size
            train_x, train_y, eval_x, eval_y = train_x[:cut], train_y[:cut], train_x[cut:], train_y[cut:]
        train_x, train_y = take_subset(train_x, train_y, t.train_size, t.seed)
        eval_x, eval_y = take_subset(eval_x, eval_y, t.test_size, t.seed)
        self.shuffle = torch.Generator().manual_seed(t.seed)
        self.augment = torch.Generator().manual_seed(t.seed + 1) if t.augment == "flip-shift" else None
        shard = (self.dist.rank, self.dist.world_size) if self.dist else (0, 1)
        self.train_iter = Batches(train_x, train_y, t.batch_size, resize=cfg.arch.resize, device=device,
                                  shuffle=True, generator=self.shuffle, shard=shard, in_channels=cfg.arch.in_channels)
        self.test_iter = Batches(eval_x, eval_y, eval_batch_size(cfg), resize=cfg.arch.resize, device=device,
                                 shard=shard, in_channels=cfg.arch.in_channels)

    # --- continuing -------------------------------------------------------------------------------------
    def _state(self, epoch: int, batch: int, epoch_start_shuffle: torch.Tensor) -> dict:
        """What continuing needs, at ``batch`` batches into ``epoch`` (0: the epoch has not begun)."""
        return {"epoch": epoch, "batch": batch, "step": self.step, "batches": self.batches,
                "optimizer": self.optimizer.state_dict(), "shuffle": epoch_start_shuffle,
                "augment": self.augment.get_state() if self.augment else None,
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
                "sums": [self.sums.loss.item(), self.sums.correct.item(), self.sums.dead_streak.item(),
                         self.sums.seen],
                "train_s": self.pace.train_s, "eval_s": self.pace.eval_s, "evals": self.pace.evals,
                "progress": {k: getattr(self.progress, k) for k in ("train_loss", "train_acc", "test_acc")}}

    def _restore(self, saved: dict) -> None:
        state = saved["train_state"]
        if state["batches"] != self.batches:
            raise CheckpointError(_("the checkpoint was taken with {saved} batches an epoch, this run has {batches}: "
                                    "the batch size or the data changed").format(saved=state["batches"],
                                                                                  batches=self.batches))
        self._built.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.shuffle.set_state(state["shuffle"])
        if self.augment is not None and state["augment"] is not None:
            self.augment.set_state(state["augment"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.start_epoch, self.skip, self.step = state["epoch"], state["batch"], state["step"]
        loss, correct, dead, seen = state["sums"]
        self.sums = _Sums(torch.tensor(loss, device=self.device), torch.tensor(correct, device=self.device),
                          torch.tensor(dead, device=self.device), seen)
        self.pace.train_s, self.pace.eval_s, self.pace.evals = state["train_s"], state["eval_s"], state["evals"]
        for key, value in state["progress"].items():
            setattr(self.progress, key, value)

    # --- the run ----------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        self._setup()
        t = self.config.train
        try:
            for epoch in range(self.start_epoch, t.epochs + 1):
                self._train_epoch(epoch)
                self._evaluate(epoch)
            p = self.progress
            if at_chance(p.train_loss, p.train_acc, self.config.arch.num_classes):
                # Not stalled (the class maps are alive), just not learning yet: NiN with SGD starts slowly.
                return self._end(RunStatus.FINISHED, ENDED_AT_CHANCE.format(
                    loss=f"{p.train_loss:.3f}", train_acc=f"{p.train_acc:.3f}"), slow_start_hint(self.config))
        except RunEnded as end:
            return self._end(end.status, end.message, end.hint)
        finally:
            if self.tuner:
                self.tuner.close()
        return self._end(RunStatus.FINISHED, None, None)

    def _batches(self, epoch: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """The epoch's batches, numbered from 1, augmented if asked, laid out channels_last."""
        skip, self.skip = (self.skip, 0) if epoch == self.start_epoch else (0, 0)
        for i, (x, y) in enumerate(self.train_iter.epoch(skip), start=skip + 1):
            yield i, training_batch(x, self.augment), y

    def _train_epoch(self, epoch: int) -> None:
        """One epoch, as torchvision's ``train_one_epoch`` reads: for each batch the learning rate, the step and
        the running metrics; about once a second and at the report points, the progress; twice a second (at the
        report points when distributed), whether to stop."""
        epoch_shuffle = self.shuffle.get_state()  # the order this epoch draws, for a checkpoint taken inside it
        self.net.train()
        if self.tuner:
            self.tuner.pause()  # the evaluation and the checkpoint since the last step are not training
        epoch_start = time.perf_counter()
        last_progress = last_poll = 0.0
        for i, x, y in self._batches(epoch):
            lr = self._set_lr()
            loss, logits = train_step(self.net, self.optimizer, self.loss_fn, x, y, self.dtype)
            self.step += 1
            self._accumulate(loss, logits, y)
            if self.tuner and self.tuner.batch(y.shape[0]):  # it changed the thread count: the label says so
                self.progress.device = device_label(self.device)

            now = time.perf_counter()
            report = i % self.report_every == 0 or i == self.batches
            if report or now - last_progress >= PROGRESS_EVERY_S:
                self._publish(epoch, i, lr, report, now, self.pace.train_s + (now - epoch_start))
                last_progress = now
            # Distributed, every process must decide at the same batch: the report points; else twice a second.
            if report if self.dist else now - last_poll >= 0.5 or i == self.batches:
                last_poll = now
                if self._stop_asked():
                    self._stop(epoch, i, epoch_start, epoch_shuffle)
        self.pace.train_s += time.perf_counter() - epoch_start

    def _set_lr(self) -> float:
        """The schedule's learning rate for the step about to be taken, set on the optimizer."""
        lr = lr_at(self.config.train, self.step, self.batches)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def _accumulate(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Add a step to the epoch's running metrics, on the device (no host synchronisation)."""
        sums = self.sums
        with torch.no_grad():
            sums.loss += loss * y.shape[0]
            sums.correct += (logits.argmax(dim=1) == y).sum()
            if self.watch_dead_maps:  # the logits are the pooled ReLU outputs: all zero, every map is zero
                dead = (logits.abs().amax() == 0).long()
                sums.dead_streak = (sums.dead_streak + 1) * dead
        sums.seen += y.shape[0]

    def _publish(self, epoch: int, i: int, lr: float, report: bool, now: float, trained_s: float) -> None:
        """Tell ``on_progress`` where the run is after batch ``i``; at a report point, with a new curve point."""
        p = self.progress
        points = [self._report(epoch, i, lr)] if report else []
        p.batch, p.epoch, p.lr = i, epoch, lr
        p.elapsed_s = now - self.pace.started
        world = self.dist.world_size if self.dist else 1
        p.examples_per_sec = ((epoch - 1) * self.train_iter.num_examples + self.sums.seen * world) / trained_s
        p.eta_s = self.pace.eta(trained_s, epoch, i)
        self.on_progress(p, points)

    def _stop_asked(self) -> bool:
        """Whether someone asked the run to stop; distributed, whether any process was asked."""
        stop = self.should_stop()
        return self.dist.any(stop, self.device) if self.dist else stop

    def _stop(self, epoch: int, i: int, epoch_start: float, epoch_shuffle: torch.Tensor) -> NoReturn:
        """End the run after batch ``i``, with the epoch's metrics so far and a checkpoint to continue from."""
        p = self.progress
        self.pace.train_s += time.perf_counter() - epoch_start
        p.train_loss, p.train_acc, _streak = self._read(self.sums)
        p.batch = i
        self._save(epoch - 1 + i / self.batches, self._state(epoch, i, epoch_shuffle))
        raise RunEnded(RunStatus.STOPPED, STOPPED.format(epoch=epoch, batch=i))

    def _report(self, epoch: int, i: int, lr: float) -> MetricPoint:
        """A curve point from the sums so far (one host synchronisation), ending the run if it went wrong."""
        p = self.progress
        p.train_loss, p.train_acc, streak = self._read(self.sums)
        if not math.isfinite(p.train_loss):
            raise RunEnded(RunStatus.DIVERGED, DIVERGED.format(loss=p.train_loss, epoch=epoch), DIVERGED_HINT)
        if streak >= STALL_BATCHES:
            classes = self.config.arch.num_classes
            raise RunEnded(RunStatus.STALLED, STALLED.format(
                epoch=epoch, batches=streak, loss=f"{chance_loss(classes):.3f}", accuracy=f"{1 / classes:.3f}"),
                stalled_hint(classes))
        return MetricPoint(epoch - 1 + i / self.batches, p.train_loss, p.train_acc, lr=lr)

    def _read(self, sums: _Sums) -> tuple[float, float, int]:
        """Train loss and accuracy so far this epoch, and the run of batches with every class map zero: over all
        processes when distributed (the stall counts only where every process saw it)."""
        loss, correct, seen, dead = sums.loss, sums.correct, sums.seen, sums.dead_streak
        if self.dist:
            loss, correct, total = self.dist.sum(loss, correct, torch.tensor(seen, device=loss.device))
            dead, seen = self.dist.smallest(dead), int(total.item())  # a count, summed in float64
        return loss.item() / seen, correct.item() / seen, int(dead.item())

    def _evaluate(self, epoch: int) -> None:
        p, t = self.progress, self.config.train
        p.phase = Phase.EVALUATING
        self.on_progress(p, [])
        started = time.perf_counter()
        p.test_acc = test_accuracy(self._built, self.test_iter, self.dtype, self.dist, t.tta)
        self.pace.eval_s += time.perf_counter() - started
        self.pace.evals += 1
        # d2l's figure: examples of the last epoch times epochs over the summed training time.
        p.examples_per_sec = self.train_iter.num_examples * epoch / self.pace.train_s
        if p.train_loss is None or p.train_acc is None:  # set at every epoch's last batch (or restored with it)
            raise RuntimeError(f"epoch {epoch} ended without its training metrics")
        self.result.history.append(EpochMetrics(epoch, p.train_loss, p.train_acc, p.test_acc, p.examples_per_sec))
        self.sums = _Sums.zeros(self.device)
        self._save(epoch, self._state(epoch + 1, 0, self.shuffle.get_state()))
        p.phase = Phase.TRAINING
        p.eta_s = self.pace.eta(self.pace.train_s, epoch + 1, 0) if epoch < t.epochs else 0.0
        self.on_progress(p, [MetricPoint(float(epoch), test_acc=p.test_acc, examples_per_sec=p.examples_per_sec)])
        if epoch == 1 and not self.watch_dead_maps and epoch < t.epochs and \
                at_chance(p.train_loss, p.train_acc, self.config.arch.num_classes):
            # Without the last ReLU (or with a fully connected head) no map dies: a whole epoch at chance is
            # what a stall looks like then.
            raise RunEnded(RunStatus.STALLED, AT_CHANCE_AFTER_FIRST_EPOCH.format(
                loss=f"{p.train_loss:.3f}", train_acc=f"{p.train_acc:.3f}"), slow_start_hint(self.config))

    def _save(self, epoch: float, state: dict) -> None:
        if self.checkpoint_path is not None and (self.dist is None or self.dist.is_main):
            p = self.progress
            save_checkpoint(self.checkpoint_path, self._built, self.config, epoch=epoch, train_state=state,
                            metrics={k: v for k, v in (("train_loss", p.train_loss), ("train_acc", p.train_acc),
                                                       ("test_acc", p.test_acc)) if v is not None})

    def _end(self, status: RunStatus, message: str | None, hint: str | None) -> TrainResult:
        p, result = self.progress, self.result
        result.status, result.message, result.hint = status, message, hint
        result.train_loss, result.train_acc = p.train_loss, p.train_acc
        result.test_acc, result.examples_per_sec = p.test_acc, p.examples_per_sec
        p.phase = status
        p.eta_s = 0.0
        self.on_progress(p, [])
        return result


def resumable_state(path: str | Path) -> dict:
    """A checkpoint that a run can continue from, or a CheckpointError saying why it cannot."""
    saved = load_checkpoint(path)
    if not isinstance(saved.get("train_state"), dict):
        raise CheckpointError(_("{path} is from an older format that kept only the model: it can still be used for "
                                "prediction, but a run cannot continue from it").format(path=path))
    return saved
