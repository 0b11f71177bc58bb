"""Learning-rate schedules as one pure function of the step: the trainer sets each step's rate from it, a
checkpoint keeps only the step, and a test can draw each curve.

Every schedule may start with a linear warm-up from a tenth of the rate. ``constant`` is the chapter's (no
warm-up: the rate itself throughout); ``onecycle`` rises from 1/25 of the rate to the rate (over the warm-up, or
30 % of the run) and falls along a cosine to 1/10,000 of it, as ``torch.optim.lr_scheduler.OneCycleLR``;
``cosine`` falls along a cosine to zero; ``step`` divides the rate by ten at half and three quarters of the run.
"""

from __future__ import annotations

import math

from nin_core.network.config import TrainConfig

ONECYCLE_START = 1 / 25
ONECYCLE_END = 1 / 10_000
ONECYCLE_RISE = 0.3
WARMUP_START = 0.1


def lr_at(t: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate for training step ``step`` (0-based) of a run of ``t.epochs`` epochs."""
    total = max(1, t.epochs * steps_per_epoch)
    warm = round(t.warmup_epochs * steps_per_epoch)
    if t.schedule == "onecycle":
        rise = warm or max(1, round(ONECYCLE_RISE * total))
        if step < rise:
            return _cosine(t.lr * ONECYCLE_START, t.lr, step / rise)
        return _cosine(t.lr, t.lr * ONECYCLE_END, (step - rise) / max(1, total - rise))
    if step < warm:
        return t.lr * (WARMUP_START + (1 - WARMUP_START) * step / warm)
    done = (step - warm) / max(1, total - warm)
    if t.schedule == "cosine":
        return _cosine(t.lr, 0.0, done)
    if t.schedule == "step":
        return t.lr * (0.1 ** ((done >= 0.5) + (done >= 0.75)))
    return t.lr


def _cosine(start: float, end: float, fraction: float) -> float:
    """From ``start`` at 0 to ``end`` at 1 along half a cosine."""
    return end + (start - end) * (1 + math.cos(math.pi * min(1.0, fraction))) / 2
