"""What a run reports as it trains: the curves' points and the live progress (no storage, no torch)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from enum import StrEnum

from nin_core.i18n import N_, _
from nin_core.network.status import RunStatus


@dataclass(frozen=True)
class MetricPoint:
    """One point of the curves, at a fractional epoch as d2l's animator plots them; test accuracy only at epoch
    ends; ``lr`` the learning rate in use at that point."""

    epoch: float
    train_loss: float | None = None
    train_acc: float | None = None
    test_acc: float | None = None
    examples_per_sec: float | None = None
    lr: float | None = None


@dataclass(frozen=True)
class Band:
    """One curve of a group of runs (seeds): its mean, and the lowest and highest run, at each epoch of a grid."""

    epochs: list[float]
    mean: list[float]
    low: list[float]
    high: list[float]


class Phase(StrEnum):
    """What a run is doing while it has not ended; once it has, its Progress's phase is the RunStatus it ended with."""

    STARTING = "starting"  # nothing reported yet
    LOADING_DATA = "loading data"
    TRAINING = "training"
    EVALUATING = "evaluating"

    @property
    def label(self) -> str:
        """The phase as a person reads it, in the current language (the value stays the stored, English word); a
        Progress's phase, a Phase or a RunStatus, shows with ``phase.label`` either way."""
        return _(_PHASES[self])


_PHASES = {Phase.STARTING: N_("starting"), Phase.LOADING_DATA: N_("loading data"), Phase.TRAINING: N_("training"),
           Phase.EVALUATING: N_("evaluating")}


@dataclass
class Progress:
    """What a person watching a run wants to know, reported to the callback and stored with the run. The empty
    Progress (every field left at its default) stands for a run that has reported nothing yet."""

    phase: Phase | RunStatus = Phase.STARTING
    device: str | None = None
    epoch: int = 1  # 1-based epoch under way
    epochs: int = 0  # 0: not known yet
    batch: int = 0
    batches: int = 0
    train_loss: float | None = None
    train_acc: float | None = None
    test_acc: float | None = None
    examples_per_sec: float | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None
    lr: float | None = None

    @property
    def fraction(self) -> float:
        """How much of the whole run is done, 0..1."""
        if not self.batches or not self.epochs:
            return 0.0
        return min(1.0, ((self.epoch - 1) + self.batch / self.batches) / self.epochs)

    @property
    def reported(self) -> bool:
        """Whether the run has reported anything."""
        return self != Progress()

    def to_dict(self) -> dict:
        """The Progress as the run store keeps it (JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Progress:
        """A Progress as stored. Every run recorded so far loads: a key it does not know (such as ``fraction``,
        which older versions stored and which is computed now) is left out, and a missing one takes its default."""
        known = {f.name for f in fields(cls)}
        progress = cls(**{k: v for k, v in data.items() if k in known})
        progress.phase = _phase(progress.phase)
        return progress


def _phase(value: str) -> Phase | RunStatus:
    try:
        return Phase(value)
    except ValueError:
        return RunStatus(value)


# --- chance level ---------------------------------------------------------------------------------------------

CHANCE_LOSS_MARGIN = 0.02  # a loss this close to ln(classes) has not left the start
CHANCE_ACC_MARGIN = 0.05  # on a small subset, always answering the most frequent class scores a little above 1/C


def chance_loss(num_classes: int) -> float:
    """The cross-entropy of a network that knows nothing (every logit equal): ln(classes), 2.303 for ten."""
    return math.log(num_classes)


def at_chance(loss: float | None, accuracy: float | None, num_classes: int) -> bool:
    """Whether a loss and an accuracy are where every run starts: the loss still ln(classes), the accuracy near
    1/classes. The one test of chance level: the trainer's stall and slow-start checks and the exercises use it."""
    if loss is None or accuracy is None:
        return False
    return abs(loss - chance_loss(num_classes)) < CHANCE_LOSS_MARGIN and accuracy < 1 / num_classes + CHANCE_ACC_MARGIN
