"""Small sweeps: up to two settings, each with a list of values, expanded into validated runs; and the queue.

``plan_sweep(base, [("lr", "0.1, 0.05"), ("batch_size", "64,128")])`` gives four RunConfigs named
``lr=0.1, batch_size=64`` …, or the problems (a value that is not a number, a value the configuration
rejects, too many runs), each naming the setting. ``queue_sweep`` puts the runs in the store under one sweep
label; the worker trains them one after another.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nin_core.i18n import _
from nin_core.network.config import SETTINGS, ConfigIssue, RunConfig, parse_setting
from nin_core.network.settings import format_value
from nin_core.network.status import RunStatus
from nin_core.runs.groups import queue_group
from nin_core.runs.store import Run, RunStore

# The settings a sweep may vary (their declarations say so), with what a person reads in the picker (marked N_ where
# declared: shown with _()).
SWEEPABLE: dict[str, str] = {name: s.spec.label for name, s in SETTINGS.items() if s.spec.sweep}
MAX_SETTINGS = 2
MAX_RUNS = 16
MAX_TRAINED = 48  # the points' runs with their seeds (repeats)


@dataclass(frozen=True)
class SweepRun:
    name: str
    config: RunConfig
    overrides: dict[str, Any]


@dataclass
class SweepPlan:
    runs: list[SweepRun] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and not self.issues

    @property
    def trained(self) -> int:
        """How many runs it trains: each point over its seeds."""
        return sum(run.config.train.repeats for run in self.runs)

    @property
    def settings(self) -> list[str]:
        return list(self.runs[0].overrides) if self.runs else []


def parse_values(setting: str, text: str) -> tuple[list[Any], list[ConfigIssue]]:
    """``"0.1, 0.05, 1e-3"`` → the values for ``setting``, or issues naming each one that cannot be read."""
    name = f"sweep.{setting}"
    if setting not in SWEEPABLE:
        return [], [ConfigIssue(name, _("{setting} cannot be swept; choose one of {settings}").format(
            setting=repr(setting), settings=", ".join(SWEEPABLE)))]
    # Commas, semicolons or spaces between values: "0.1, 0.05" and "0.1 0.05" are the same list.
    parts = text.replace(";", ",").replace(",", " ").split()
    if not parts:
        return [], [ConfigIssue(name, _("give at least one value, separated by commas"))]
    values, issues = [], []
    for part in parts:
        value, problem = parse_setting(setting, part)
        if problem:
            issues.append(ConfigIssue(name, problem))
        elif value in values:
            issues.append(ConfigIssue(name, _("{value} is listed twice").format(value=format_value(value))))
        else:
            values.append(value)
    return values, issues


def run_name(overrides: dict[str, Any], base_name: str | None = None) -> str:
    """``lr=0.1, batch_size=64``, after the base configuration's name when there is one: ``cpu · lr=0.1``."""
    varied = ", ".join(f"{k}={format_value(v)}" for k, v in overrides.items())
    return f"{base_name} · {varied}" if base_name else varied


def plan_sweep(base: RunConfig, axes: Sequence[tuple[str, str]], base_name: str | None = None) -> SweepPlan:
    """The cartesian product of the values of up to two settings, each run validated. ``axes`` holds
    (setting, values separated by commas or spaces); a setting left empty ("") is skipped. ``base_name`` (what
    the base configuration is called, e.g. ``cpu, resize=32``) starts each run's name."""
    axes = [(s, t) for s, t in axes if s]
    plan = SweepPlan(issues=_axes_issues(axes))
    if plan.issues:
        return plan
    values: list[list[Any]] = []
    for setting, text in axes:
        vals, issues = parse_values(setting, text)
        values.append(vals)
        plan.issues += issues
    if plan.issues:
        return plan
    count = math.prod(len(vals) for vals in values)
    if count > MAX_RUNS:
        plan.issues.append(ConfigIssue("sweep", _("{count} runs is more than {most}: use fewer values").format(
            count=count, most=MAX_RUNS)))
        return plan
    if count * base.train.repeats > MAX_TRAINED:
        plan.issues.append(ConfigIssue("sweep", _("{count} points × {seeds} seeds is more than {most} runs: use "
                                                  "fewer values or repeats").format(
            count=count, seeds=base.train.repeats, most=MAX_TRAINED)))
        return plan
    settings = [s for s, _values in axes]
    for combo in itertools.product(*values):
        overrides = dict(zip(settings, combo, strict=True))
        config = base.with_overrides(**overrides)
        for issue in config.validate():
            found = _sweep_issue(issue, overrides)
            if found not in plan.issues:  # the same problem in several runs is said once
                plan.issues.append(found)
        plan.runs.append(SweepRun(run_name(overrides, base_name), config, overrides))
    return plan


def _axes_issues(axes: Sequence[tuple[str, str]]) -> list[ConfigIssue]:
    """What is wrong with the choice of settings itself: none chosen, too many, or one chosen twice."""
    if not axes:
        return [ConfigIssue("sweep", _("choose a setting to sweep"))]
    if len(axes) > MAX_SETTINGS:
        return [ConfigIssue("sweep", _("a sweep varies at most {most} settings").format(most=MAX_SETTINGS))]
    if len({s for s, _values in axes}) != len(axes):
        return [ConfigIssue(f"sweep.{axes[0][0]}", _("is chosen twice: pick two different settings"))]
    return []


def _sweep_issue(issue: ConfigIssue, overrides: dict[str, Any]) -> ConfigIssue:
    """A run's validation problem, named for the swept setting and its value when it is about one of them."""
    setting = issue.field.split(".", 1)[-1]
    if setting in overrides:
        return ConfigIssue(f"sweep.{setting}", f"{setting}={format_value(overrides[setting])}: {issue.message}")
    return issue  # a problem of the base configuration (or of two settings together)


def sweep_label(plan: SweepPlan, now: float | None = None) -> str:
    """A label shared by the sweep's runs, e.g. ``lr × batch_size, Nov 28 14:03:07`` (stored: language-free, as a
    person typed it)."""
    stamp = time.strftime("%b %d %H:%M:%S", time.localtime(now if now is not None else time.time()))
    return f"{' × '.join(plan.settings) or 'sweep'}, {stamp}"


def queue_sweep(store: RunStore, plan: SweepPlan, label: str | None = None) -> list[int]:
    """Queue every run of a valid plan under one sweep label, each point over its seeds (a group); returns their
    ids in queue order."""
    if not plan.ok:
        raise ValueError("; ".join(str(i) for i in plan.issues) or _("the sweep has no runs"))
    label = label or sweep_label(plan)
    return [i for run in plan.runs for i in queue_group(store, run.config, run.name, sweep=label)]


# --- the queue ----------------------------------------------------------------------------------------

def queue_position(runs: Sequence[Run], run_id: int) -> int | None:
    """A queued run's place in line (1 = next to start), as the worker takes them: oldest first."""
    queued = sorted(r.id for r in runs if r.status == RunStatus.QUEUED)
    return queued.index(run_id) + 1 if run_id in queued else None


def pick_live_run(runs: Sequence[Run], watched: int | None = None) -> Run | None:
    """The run to show on the training page: the one this person launched while it is active, else the run
    training now (newest), else the next in the queue, else the launched one (finished), else the newest."""
    by_id = {r.id: r for r in runs}
    mine = by_id.get(watched) if watched is not None else None
    if mine is not None and mine.active:
        return mine
    running = [r for r in runs if r.status == RunStatus.RUNNING]
    if running:
        return max(running, key=lambda r: r.id)
    queued = [r for r in runs if r.status == RunStatus.QUEUED]
    if queued:
        return min(queued, key=lambda r: r.id)
    if mine is not None:
        return mine
    return max(runs, key=lambda r: r.id) if runs else None

