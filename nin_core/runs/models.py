"""The trained models a person can predict with: finished (or stopped) runs' checkpoints and the shipped demo
model, and which of them to offer first."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Literal

from nin_core.i18n import _
from nin_core.network.status import PREDICTABLE, RunStatus
from nin_core.runs.store import Run

DEMO_CHECKPOINT = Path(__file__).resolve().parents[1] / "demo" / "demo.pt"


@dataclass(frozen=True)
class ModelChoice:
    """A model to pick. ``label`` (``#3 name (finished, test acc 91.0%)``, in English whatever the language) is
    its value in a picker, so a choice survives a language switch; ``shown_label`` is what a person reads."""

    label: str
    path: Path
    test_acc: float | None = None
    run_id: int | None = None
    finished: bool = True  # False for a stopped run: its checkpoint may be newer than its last test accuracy
    name: str = ""  # the run's name (none for the demo model)
    status: RunStatus | None = None  # the run's (None: the demo model)

    @property
    def shown_label(self) -> str:
        """The label in the current language: the run's name as it is, its status and test accuracy translated."""
        acc = f"{self.test_acc:.1%}" if self.test_acc is not None else None
        if self.status is None:
            return _("Demo model") if acc is None else _("Demo model (test acc {acc})").format(acc=acc)
        if acc is None:
            return _("#{id} {name} ({status})").format(id=self.run_id, name=self.name, status=self.status.label)
        return _("#{id} {name} ({status}, test acc {acc})").format(id=self.run_id, name=self.name,
                                                                   status=self.status.label, acc=acc)


def demo_info(checkpoint: str | os.PathLike = DEMO_CHECKPOINT) -> dict:
    """The demo model's ``demo.json`` (its configuration and measured test accuracy), or {} if absent or broken."""
    try:
        info = json.loads(Path(checkpoint).with_name("demo.json").read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _test_acc(info: dict) -> float | None:
    for source in (info, info.get("final"), info.get("metrics")):
        if isinstance(source, dict) and isinstance(source.get("test_acc"), (int, float)):
            return float(source["test_acc"])
    return None


class _Default(Enum):
    SHIPPED = "shipped"  # demo not given: the shipped DEMO_CHECKPOINT (None already means "no demo")


_SHIPPED = _Default.SHIPPED


def model_choices(runs: Iterable[Run],
                  demo: str | os.PathLike | None | Literal[_Default.SHIPPED] = _SHIPPED) -> list[ModelChoice]:
    """Finished or stopped runs with a checkpoint on disk, in the order given (newest first from the store),
    then the demo model (``demo``; by default the shipped ``DEMO_CHECKPOINT``; None: none) if it is there."""
    demo = DEMO_CHECKPOINT if demo is _SHIPPED else demo
    choices = []
    for run in runs:
        if run.status in PREDICTABLE and run.checkpoint and Path(run.checkpoint).is_file():
            acc = _test_acc(run.final)
            score = f", test acc {acc:.1%}" if acc is not None else ""
            choices.append(ModelChoice(f"#{run.id} {run.name} ({run.status}{score})", Path(run.checkpoint), acc,
                                       run.id, run.status == RunStatus.FINISHED, run.name, RunStatus(run.status)))
    if demo is not None and Path(demo).is_file():
        acc = _test_acc(demo_info(demo))
        score = f" (test acc {acc:.1%})" if acc is not None else ""
        choices.append(ModelChoice(f"Demo model{score}", Path(demo), acc))
    return choices


def best_choice(choices: list[ModelChoice]) -> int:
    """Where in ``choices`` the model to offer first is: the highest test accuracy of a finished run or the demo
    (the newest first among equals), else the first."""
    ranked = [(c.test_acc, -i) for i, c in enumerate(choices) if c.finished and c.test_acc is not None]
    return -max(ranked)[1] if ranked else 0
