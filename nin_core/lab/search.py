"""A search over the settings with Optuna: its space from the settings table, its study in a storage any number of
workers share, each trial a run in the run store judged on a validation split (never the test set).

A parameter is written as a person writes it (``lr=0.01..0.5:log``, ``batch_size=64,128,256``, ``batch_norm``)
and checked against the base configuration before anything is queued: each problem is one ``ConfigIssue``. The
study keeps its space and its base configuration, so a worker that names only the study (and its storage) adds
trials to it, and one that names another space is told so. A worker killed mid-trial leaves a trial whose heartbeat
goes stale: the next worker fails it and queues its parameters again (SQL storages; a journal file keeps no
heartbeat).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import optuna
import sqlalchemy.exc
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, Trial, TrialState

from nin_core import ROOT
from nin_core.i18n import N_, _, format_count, ngettext
from nin_core.network.config import FASHION_MNIST_TRAIN, SETTINGS, ConfigError, ConfigIssue, RunConfig, parse_setting
from nin_core.network.metrics import Phase, Progress
from nin_core.network.settings import format_value
from nin_core.network.status import ENDED_BY_TRAINING, RunStatus
from nin_core.runs.jobs import launch_issues, run_training
from nin_core.runs.store import Run, RunStore

log = logging.getLogger(__name__)
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("asha", "median", "hyperband", "none")
STUDY_DB = "search.db"  # the default storage, beside the run store's database
JOURNAL = "journal:"  # --storage journal:PATH: Optuna's journal file (for a shared filesystem)
HEARTBEAT_S = 5  # a running trial's heartbeat; one silent for GRACE_S is taken for lost
GRACE_S = 20
FIRST_JUDGED_EPOCH = 2  # the pruners judge a trial from this epoch on (why: make_pruner)
TABLE_TRIES = 5  # creating Optuna's tables beside other workers doing the same
MAX_RETRIES = 3  # a lost trial is tried again this many times at most
GRID_MAX = 50  # an int range the grid sampler expands, at most this many values
VALIDATION_SHARE = 10  # without a validation split, a search holds out 1/10 of the training images


@dataclass(frozen=True)
class Param:
    """One searched setting: a range (low..high, perhaps on a log scale) or a set of choices."""

    name: str
    low: Any = None
    high: Any = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def text(self) -> str:
        """As a person writes it, and as the study keeps it: ``lr=0.01..0.5:log``."""
        if self.choices:
            return f"{self.name}={','.join(format_value(c) for c in self.choices)}"
        return f"{self.name}={format_value(self.low)}..{format_value(self.high)}{':log' if self.log else ''}"

    def distribution(self) -> BaseDistribution:
        if self.choices:
            return CategoricalDistribution(self.choices)
        if SETTINGS[self.name].kind is int:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(float(self.low), float(self.high), log=self.log)

    def values_to_check(self) -> tuple[Any, ...]:
        """The values whose configurations must validate: the choices, or the range's ends."""
        return self.choices or (self.low, self.high)

    def grid(self) -> tuple[Any, ...] | None:
        """The values the grid sampler tries, or None for a float range (a grid needs values)."""
        if self.choices:
            return self.choices
        if SETTINGS[self.name].kind is int and int(self.high) - int(self.low) < GRID_MAX:
            return tuple(range(int(self.low), int(self.high) + 1))
        return None


def parse_param(text: str) -> tuple[Param | None, ConfigIssue | None]:
    """``lr=0.01..0.5:log``, ``batch_size=64,128,256``, ``batch_norm`` (every value of a switch or a choice
    setting) → (Param, None), or (None, the problem)."""
    name, _equals, rhs = text.strip().partition("=")
    name = name.strip().replace("-", "_")
    s = SETTINGS.get(name)
    if s is None:
        return None, ConfigIssue(name or text, _("is not a setting"))
    if not s.spec.sweep:
        return None, ConfigIssue(name, _("cannot be searched: choose one of {names}").format(
            names=", ".join(searchable())))
    if not rhs.strip():
        if s.kind is bool:
            return Param(name, choices=(False, True)), None
        if s.spec.choices:
            return Param(name, choices=tuple(s.spec.choices)), None
        return None, ConfigIssue(name, _("needs a range (low..high, :log for a log scale) or choices (a,b,c)"))
    if ".." in rhs:
        return _parse_range(name, rhs.strip())
    values = []
    for part in rhs.split(","):
        value, problem = parse_setting(name, part)
        if problem:
            return None, ConfigIssue(name, problem)
        values.append(value)
    if len(set(values)) < len(values):
        return None, ConfigIssue(name, _("lists a choice twice: {choices}").format(choices=rhs.strip()))
    return Param(name, choices=tuple(values)), None


def _parse_range(name: str, rhs: str) -> tuple[Param | None, ConfigIssue | None]:
    s = SETTINGS[name]
    body, _colon, scale = rhs.partition(":")
    if scale not in ("", "log"):
        return None, ConfigIssue(name, _("a range's scale can only be :log, got :{scale}").format(scale=scale))
    if s.kind not in (int, float):
        return None, ConfigIssue(name, _("is not a number: give choices ({choices})").format(
            choices=",".join(map(format_value, s.spec.choices)) if s.spec.choices else "a,b,c"))
    ends = []
    for part in body.split("..", 1):
        value, problem = parse_setting(name, part)
        if problem or value is None:
            return None, ConfigIssue(name, problem or _("a range needs two numbers: low..high"))
        ends.append(value)
    low, high = ends
    if low > high:
        return None, ConfigIssue(name, _("the range {range} is reversed: write the low end first").format(range=body))
    if low == high:
        return None, ConfigIssue(name, _("the range {range} is empty: give two different ends").format(range=body))
    if scale and low <= 0:
        return None, ConfigIssue(name, _("a log range must stay above 0, got {range}").format(range=body))
    return Param(name, low, high, log=bool(scale)), None


def searchable() -> list[str]:
    """The settings a search may vary: the table's sweepable ones."""
    return [s.name for s in SETTINGS.values() if s.spec.sweep]


def default_param(name: str) -> Param:
    """A first range or set of choices for a setting, from its table entry: what the page offers to edit."""
    s, value = SETTINGS[name], SETTINGS[name].default
    if s.kind is bool:
        return Param(name, choices=(False, True))
    if s.spec.choices:
        return Param(name, choices=tuple(s.spec.choices))
    if s.kind is float:
        if s.spec.low_open:  # above 0, such as a rate: a decade either side, on a log scale
            return Param(name, value / 10, min(value * 10, s.spec.high or value * 10), log=True)
        high = min(float(s.spec.high if s.spec.high is not None else 1), 1.0)
        return Param(name, float(s.spec.low or 0), high * 0.9 if s.spec.high_open else high)
    if value is None:  # an optional size: "all" or a tenth of it
        return Param(name, choices=(None, int((s.spec.high or 10) // 10)))
    low = max(int(s.spec.low or 0), value // 2)
    return Param(name, low, max(low + 1, min(value * 2, int(s.spec.high or value * 2))),
                 log=low > 0 and name in ("batch_size", "resize"))


@dataclass(frozen=True)
class SearchSpec:
    """A search as the page and the CLI ask for it; ``trials`` and ``minutes`` are this worker's budget (None: no
    limit of that kind)."""

    study: str
    params: tuple[Param, ...]
    base: RunConfig = field(default_factory=RunConfig)
    sampler: str = "tpe"
    pruner: str = "asha"
    trials: int | None = 20
    minutes: float | None = None
    storage: str | None = None
    base_first: bool = False  # a new study's first trial: the base's own values (base_values)

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "params": [p.text for p in self.params], "base": self.base.to_dict(),
                "sampler": self.sampler, "pruner": self.pruner, "trials": self.trials, "minutes": self.minutes,
                "storage": self.storage, "base_first": self.base_first}


def validation_ready(base: RunConfig) -> tuple[RunConfig, str | None]:
    """The base configuration with a validation split to judge trials on, and what was changed (None: nothing).
    A search never looks at the test set: without a split it holds out a tenth of the training images."""
    t = base.train
    if t.validation_size > 0:
        return base, None
    size = max(1, (t.train_size or FASHION_MNIST_TRAIN) // VALIDATION_SHARE)
    test_size = t.test_size if t.test_size is None or t.test_size <= size else None
    note = _("trials are judged on {count} validation images held out of the training set (`validation_size` "
             "was 0)").format(count=format_count(size))
    return base.with_overrides(validation_size=size, test_size=test_size), note


def spec_issues(spec: SearchSpec) -> list[ConfigIssue]:
    """Every problem with a search before anything is queued: names, budget, sampler, pruner, the base
    configuration, and each parameter's values in it."""
    issues = [] if spec.study.strip() else [ConfigIssue("study", _("needs a name"))]
    if spec.sampler not in SAMPLERS:
        issues.append(ConfigIssue("sampler", _("must be one of {choices}, got {value}").format(
            choices=", ".join(SAMPLERS), value=repr(spec.sampler))))
    if spec.pruner not in PRUNERS:
        issues.append(ConfigIssue("pruner", _("must be one of {choices}, got {value}").format(
            choices=", ".join(PRUNERS), value=repr(spec.pruner))))
    if spec.trials is not None and spec.trials < 1:
        issues.append(ConfigIssue("trials", _("must be at least 1, got {value}").format(value=spec.trials)))
    if spec.minutes is not None and not spec.minutes > 0:
        issues.append(ConfigIssue("minutes", _("must be above 0, got {value}").format(value=f"{spec.minutes:g}")))
    base_issues = spec.base.validate()
    issues += base_issues
    if not spec.params:
        issues.append(ConfigIssue("params", _("name at least one setting to search")))
    names = [p.name for p in spec.params]
    issues += [ConfigIssue(n, _("is searched twice")) for n in sorted({n for n in names if names.count(n) > 1})]
    if not base_issues:
        issues += [issue for p in spec.params for issue in param_issues(spec.base, p)]
        issues += launch_issues(spec.base)  # the device, its memory, the data folder
    if spec.sampler == "grid":
        issues += [ConfigIssue(p.name, _("the grid sampler needs values: give choices (a,b,c)"))
                   for p in spec.params if p.grid() is None]
    return issues


def param_issues(base: RunConfig, param: Param) -> list[ConfigIssue]:
    """The values of ``param`` the configuration rejects (checked at the range's ends or at each choice)."""
    issues = []
    for value in param.values_to_check():
        try:
            found = base.with_overrides(**{param.name: value}).validate()
        except (ConfigError, TypeError) as e:  # a value of the wrong type for the dataclass
            found = [ConfigIssue(param.name, str(e))]
        if found:
            issues.append(ConfigIssue(param.name, _("{value} is rejected: {problem}").format(
                value=format_value(value), problem=found[0])))
    return issues


# --- storage and study -----------------------------------------------------------------------------------------

def default_storage(store: RunStore) -> str:
    return f"sqlite:///{(store.home / STUDY_DB).resolve()}"


def open_storage(url: str, *, grace_s: int = GRACE_S) -> BaseStorage:
    """The Optuna storage at ``url``: any SQLAlchemy URL Optuna takes (sqlite, postgresql, mysql), with heartbeats
    and lost trials tried again, or ``journal:PATH``. Raises ConfigError when it cannot be reached."""
    try:
        if url.startswith(JOURNAL):
            return JournalStorage(JournalFileBackend(url.removeprefix(JOURNAL)))
        if url.startswith("postgresql://"):  # SQLAlchemy's default driver is psycopg2; psycopg 3 is installed
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return _rdb_storage(url, grace_s)
    except Exception as e:  # noqa: BLE001 - any driver's error: one line saying the storage cannot be used
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError([ConfigIssue("storage", _("cannot be used: {reason}").format(reason=first))]) from None


def _rdb_storage(url: str, grace_s: int) -> RDBStorage:
    """An SQL storage. Workers started together on a fresh database all create Optuna's tables at once, and all but
    one fail on a duplicate (PostgreSQL's catalogue, SQLite's tables): those try again, and then find the tables
    made."""
    engine: dict[str, Any] = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}

    def storage() -> RDBStorage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats are, since 2.8
            return RDBStorage(url, engine_kwargs=engine, heartbeat_interval=min(HEARTBEAT_S, max(1, grace_s // 2)),
                              grace_period=grace_s,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES))

    for attempt in range(1, TABLE_TRIES):
        try:
            return storage()
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as e:
            # PostgreSQL's duplicate in its catalogue, or SQLite's "table alembic_version already exists"; any
            # other OperationalError (an unreachable server) is said at once
            if isinstance(e, sqlalchemy.exc.OperationalError) and "already exists" not in str(e):
                raise
            time.sleep(0.5 * attempt)  # the other worker's transaction commits its tables meanwhile
    return storage()


def _sampler(spec: SearchSpec) -> optuna.samplers.BaseSampler:
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler()
    if spec.sampler == "grid":
        return optuna.samplers.GridSampler({p.name: list(p.grid() or ()) for p in spec.params})
    return optuna.samplers.TPESampler()


def make_pruner(spec: SearchSpec) -> optuna.pruners.BasePruner:
    """The pruner a search with ``spec`` uses (searchbench replays its decisions too)."""
    # Judged from epoch 2 on: NiN's first epoch is its slow start, where a rate that ends best can still sit at
    # chance. Judged from epoch 1, successive halving lost the best trial in two orders of three; from epoch 2 it
    # kept it in every order (docs/benchmarks.md, "Pruning").
    epochs = spec.base.train.epochs
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=FIRST_JUDGED_EPOCH - 1)
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=min(FIRST_JUDGED_EPOCH, epochs), max_resource=epochs)
    if spec.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=FIRST_JUDGED_EPOCH)


def open_study(spec: SearchSpec, store: RunStore, *, grace_s: int = GRACE_S) -> optuna.Study:
    """The study ``spec.study`` in its storage, created with the spec's space and base configuration, or loaded
    and checked against them. Raises ConfigError with one issue per problem; then nothing has changed."""
    issues = spec_issues(spec)
    if issues:
        raise ConfigError(issues)
    storage = open_storage(spec.storage or default_storage(store), grace_s=grace_s)
    try:
        study = optuna.create_study(study_name=spec.study, storage=storage, direction="maximize",
                                    sampler=_sampler(spec), pruner=make_pruner(spec), load_if_exists=True)
    except Exception as e:  # noqa: BLE001 - a storage that answers the connection but not the query
        raise ConfigError([ConfigIssue("storage", _("cannot be used: {reason}").format(
            reason=str(e).splitlines()[0]))]) from None
    kept = study.user_attrs.get("space")
    if kept is None:
        # The base first: a worker that finds the space finds the base too.
        study.set_user_attr("base", spec.base.to_dict())
        study.set_user_attr("space", [p.text for p in spec.params])
        if spec.base_first and spec.sampler != "grid" and (values := base_values(spec)):  # a grid tries them all
            study.enqueue_trial(values, skip_if_exists=True)  # once, however many workers create it at once
    elif sorted(kept) != sorted(p.text for p in spec.params):
        raise ConfigError([ConfigIssue("study", _("{study} exists with another space ({space}): give that space, "
                                                  "or another study name").format(study=repr(spec.study),
                                                                                  space=" ".join(kept)))])
    elif RunConfig.from_dict(study.user_attrs.get("base")) != spec.base:
        raise ConfigError([ConfigIssue("study", _("{study} exists with another base configuration: give the same "
                                                  "one, or another study name").format(study=repr(spec.study)))])
    return study


def base_values(spec: SearchSpec) -> dict[str, Any]:
    """The base configuration's own values of the searched settings, those inside their range or among their
    choices (the others are sampled): tried first, the search says whether anything beats what one has."""
    values = {p.name: spec.base.get(p.name) for p in spec.params}
    return {p.name: values[p.name] for p in spec.params
            if (values[p.name] in p.choices if p.choices else p.low <= values[p.name] <= p.high)}


def stored_spec(study_name: str, storage: str, **budget: Any) -> SearchSpec:
    """The space and base configuration a study was created with: what a worker that names only the study adds
    trials to. Raises ConfigError if there is no such study."""
    try:
        attrs = optuna.load_study(study_name=study_name, storage=open_storage(storage)).user_attrs
    except KeyError:
        raise ConfigError([ConfigIssue("study", _("no study {study} in {storage}: name settings to search (--param) "
                                                  "to create it").format(study=repr(study_name), storage=storage))
                           ]) from None
    params = [parse_param(text)[0] for text in attrs.get("space", [])]
    return SearchSpec(study_name, tuple(p for p in params if p is not None), RunConfig.from_dict(attrs["base"]),
                      storage=storage, **budget)


# --- trials ----------------------------------------------------------------------------------------------------

class TrialFailed(Exception):
    """A trial that gave no value: its configuration does not validate, or its run failed (the store says why)."""


class _Judge:
    """Hands each epoch's validation accuracy to the trial and asks the pruner; once it says prune, the run is
    asked to stop (the trainer polls ``should_stop`` between batches)."""

    def __init__(self, trial: Trial, say: Callable[[str], None]):
        self.trial, self.say = trial, say
        self.was: Phase | RunStatus | None = None
        self.last: float | None = None
        self.pruned_at: int | None = None

    def __call__(self, p: Progress) -> None:
        # The end of an epoch's evaluation: the phase leaves EVALUATING with the new accuracy.
        if self.was == Phase.EVALUATING and p.phase != Phase.EVALUATING and p.test_acc is not None:
            self.last = p.test_acc
            self.trial.report(p.test_acc, p.epoch)
            self.say(_("trial {number}: epoch {epoch}, validation accuracy {accuracy}").format(
                number=self.trial.number, epoch=p.epoch, accuracy=f"{p.test_acc:.4f}"))
            if self.pruned_at is None and p.epoch < p.epochs and self.trial.should_prune():
                self.pruned_at = p.epoch
        self.was = p.phase

    def should_stop(self) -> bool:
        return self.pruned_at is not None


def run_trial(trial: Trial, spec: SearchSpec, store: RunStore, say: Callable[[str], None],
              should_stop: Callable[[], bool] = lambda: False) -> float:
    """Train the trial's configuration as a run in the store; its final validation accuracy is the trial's value.
    Raises TrialPruned (the run marked pruned) or TrialFailed."""
    values = {p.name: trial.suggest_categorical(p.name, list(p.choices)) if p.choices else _suggest(trial, p)
              for p in spec.params}
    config = spec.base.with_overrides(**values)
    issues = config.validate()
    if issues:  # values that pass one by one and clash together (nesterov with adamw)
        trial.set_user_attr("message", str(issues[0]))
        raise TrialFailed(f"trial {trial.number}: {issues[0]}")
    run_id = store.create_run(config, f"search {spec.study} #{trial.number}", experiment=f"search {spec.study}",
                              claim=True)
    trial.set_user_attr("run_id", run_id)
    say(_("trial {number} (run {run}): {values}").format(
        number=trial.number, run=run_id, values=" ".join(f"{k}={_short(v)}" for k, v in values.items())))
    judge = _Judge(trial, say)
    run_training(store, run_id, on_progress=judge, should_stop=lambda: judge.should_stop() or should_stop())
    run = store.get_run(run_id)
    if judge.pruned_at is not None and run.status in ENDED_BY_TRAINING | {RunStatus.STOPPED}:
        _end_pruned(trial, run, judge, store, say)
    if run.status not in ENDED_BY_TRAINING:
        trial.set_user_attr("message", f"run {run_id} {run.status}: {run.message or ''}".strip())
        raise TrialFailed(f"trial {trial.number}: run {run_id} {run.status}: {run.message or ''}")
    # A run that stalled or diverged is a result, not a failure: it predicts at chance, so the sampler learns
    # to avoid where it was.
    value = judge.last if run.status == RunStatus.FINISHED and judge.last is not None else \
        1 / config.arch.num_classes
    say(_("trial {number} {status}: validation accuracy {accuracy}").format(
        number=trial.number, status=run.status.label, accuracy=f"{value:.4f}"))
    return value


def _end_pruned(trial: Trial, run: Run, judge: _Judge, store: RunStore, say: Callable[[str], None]) -> NoReturn:
    """The run stopped as its pruner asked, or ended by itself (stalled at chance) before the stop was seen: pruned
    either way. The run keeps its message in English (stored data); the progress line is in the reader's language."""
    message = f"pruned after epoch {judge.pruned_at} (validation accuracy {judge.last:.4f})" + \
        (f"; it had {run.status}: {run.message}" if run.status != RunStatus.STOPPED else "")
    store.finish(run.id, RunStatus.PRUNED, final=run.final, message=message)
    said = _("trial {number} pruned after epoch {epoch} (validation accuracy {accuracy})").format(
        number=trial.number, epoch=judge.pruned_at, accuracy=f"{judge.last:.4f}")
    if run.status != RunStatus.STOPPED:
        said += _("; it had {status}: {message}").format(status=run.status.label, message=run.message)
    say(said)
    raise optuna.TrialPruned(message)


def _short(value: Any) -> str:
    """A sampled value for a progress line: 0.00124, not 0.0012419778071225426 (the run keeps it exact)."""
    return f"{value:.3g}" if isinstance(value, float) else format_value(value)


def _suggest(trial: Trial, p: Param) -> Any:
    if SETTINGS[p.name].kind is int:
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
    return trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log)


def run_search(spec: SearchSpec, store: RunStore, *, say: Callable[[str], None] = log.info,
               should_stop: Callable[[], bool] = lambda: False, grace_s: int = GRACE_S) -> optuna.Study:
    """Add trials to the study until this worker's budget (trials, minutes) is spent, the grid is done or
    ``should_stop`` says so (the trial under way stops too). Raises ConfigError before anything is queued when
    the search cannot start."""
    base, note = validation_ready(spec.base)
    spec = SearchSpec(**{**spec.__dict__, "base": base})
    study = open_study(spec, store, grace_s=grace_s)
    if note:
        say(note)
    started = time.monotonic()
    study.optimize(lambda trial: run_trial(trial, spec, store, say, should_stop), n_trials=spec.trials,
                   timeout=spec.minutes * 60 if spec.minutes else None, catch=(TrialFailed,),
                   callbacks=[_after_trial(say, should_stop)])
    say(ngettext("{study}: {count} trial in the study; this worker spent {seconds} s",
                 "{study}: {count} trials in the study; this worker spent {seconds} s", len(study.trials)).format(
        study=spec.study, count=len(study.trials), seconds=f"{time.monotonic() - started:.0f}"))
    return study


def _after_trial(say: Callable[[str], None], should_stop: Callable[[], bool]
                 ) -> Callable[[optuna.Study, FrozenTrial], None]:
    def after(study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state == TrialState.FAIL:
            say(_("trial {number} failed: {message}").format(
                number=trial.number, message=trial.user_attrs.get("message") or _("see the log")))
        if should_stop():
            study.stop()
    return after


def best_config(study: optuna.Study) -> RunConfig | None:
    """The best complete trial's configuration (its run's, as trained), or None before any trial completed."""
    try:
        best = study.best_trial  # the one final_name and the page name: Optuna's own choice
    except ValueError:  # no trial has completed yet
        return None
    return RunConfig.from_dict(study.user_attrs["base"]).with_overrides(**best.params)


def final_config(study: optuna.Study) -> RunConfig | None:
    """The best trial's configuration trained on the whole training set (no validation split) and tested once:
    the search chose it without looking at the test set, so this run's test accuracy is an honest estimate."""
    config = best_config(study)
    return config.with_overrides(validation_size=0) if config else None


def final_name(study: optuna.Study) -> str:
    return f"search {study.study_name}: best trial #{study.best_trial.number} on the full training set"


def final_runs(study: optuna.Study, store: RunStore) -> list[Run]:
    """The runs that trained the best trial on the full training set already (its test, done once)."""
    name = final_name(study)
    return [r for r in store.list_runs() if r.experiment == f"search {study.study_name}" and r.name == name]


def queue_final(study: optuna.Study, store: RunStore) -> int:
    """Queue the best trial on the full training set, once: the run that already did returns its id."""
    if done := final_runs(study, store):
        return done[0].id
    config = final_config(study)
    if config is None:
        raise ValueError(f"study {study.study_name!r} has no complete trial yet")
    return store.create_run(config, final_name(study), experiment=f"search {study.study_name}")


def best_json(study: optuna.Study) -> str:
    config = best_config(study)
    return json.dumps(config.to_dict() if config else None, indent=2)


# --- a search in the background, and what a page shows of a study ----------------------------------------------

def worker_args(spec: SearchSpec, base_file: Path) -> list[str]:
    """The command line of ``python -m nin_core search`` that runs ``spec`` (its base configuration in a file)."""
    args = ["search", "--study", spec.study, *(f"--param={p.text}" for p in spec.params), "--config", str(base_file),
            "--sampler", spec.sampler, "--pruner", spec.pruner]
    args += ["--trials", str(spec.trials)] if spec.trials else []
    args += ["--minutes", f"{spec.minutes:g}"] if spec.minutes else []
    args += ["--base-first"] if spec.base_first else []
    return args + (["--storage", spec.storage] if spec.storage else [])


def start_worker(spec: SearchSpec, store: RunStore) -> subprocess.Popen:
    """Check the search as the CLI would (a ConfigError names every problem, and then nothing has started), then
    run it in a process of its own session, its pid and output in the store's ``search`` folder: it goes on when
    the page, the tab or the app server goes away."""
    spec = SearchSpec(**{**spec.__dict__, "base": validation_ready(spec.base)[0]})
    open_study(spec, store)  # the study exists with this space, or the problem is said here
    folder = store.home / "search"
    folder.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(spec.study)
    base_file = folder / f"{stem}.json"
    base_file.write_text(spec.base.to_json())
    env = os.environ | {"NIN_HOME": str(store.home.resolve())}
    with open(folder / f"{stem}.log", "a") as out:
        proc = subprocess.Popen([sys.executable, "-m", "nin_core", *worker_args(spec, base_file)], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                cwd=ROOT)
    (folder / f"{stem}.pid").write_text(str(proc.pid))
    return proc


def _file_stem(study: str) -> str:
    """A study's name as a file name: any name is one (a slash or a space is not in a file name)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", study)[:80]


def worker_running(store: RunStore, study: str) -> bool:
    """Whether the background worker this store started for ``study`` is still alive."""
    path = store.home / "search" / f"{_file_stem(study)}.pid"
    try:
        pid = int(path.read_text())
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError):
        return False
    return state != "Z"


def study_names(storage: str) -> list[str]:
    """The studies in a storage, newest first."""
    summaries = optuna.get_all_study_summaries(open_storage(storage), include_best_trial=False)
    return [s.study_name for s in reversed(summaries)]  # the storage lists them in the order they were made


def trials_table(study: optuna.Study) -> list[dict[str, Any]]:
    """One row a trial: its number, state, validation accuracy, epochs reported, run and parameters."""
    return [{"trial": t.number, "state": t.state.name.lower(), "validation acc": t.value,
             "epochs": len(t.intermediate_values), "run": t.user_attrs.get("run_id"),
             **{k: format_value(v) if not isinstance(v, float) else v for k, v in t.params.items()}}
            for t in study.get_trials(deepcopy=False)]


def version(study: optuna.Study) -> tuple:
    """What the figures and the table of a study are drawn from: it changes when a trial starts, reports an epoch or
    ends."""
    return tuple((t.number, t.state, len(t.intermediate_values)) for t in study.get_trials(deepcopy=False))


# The figures' headings on the page (in English, as keys; the page shows them translated).
HISTORY, INTERMEDIATE = N_("Optimisation history"), N_("Every trial's validation accuracy by epoch")
PARALLEL, IMPORTANCE = N_("Parallel coordinates"), N_("Importance of the settings")
# What Optuna writes on its figures (titles, axes, legends, the parallel plot's axes), in its English; figures()
# puts them in the reader's language.
OPTUNA_TEXTS = (N_("Optimization History Plot"), N_("Trial"), N_("Objective Value"), N_("Best Value"),
                N_("Infeasible Trial"), N_("Intermediate Values Plot"), N_("Step"), N_("Intermediate Value"),
                N_("Parallel Coordinate Plot"), N_("Hyperparameter Importances"), N_("Hyperparameter Importance"),
                N_("Hyperparameter"))
_OPTUNA_TRIAL = re.compile(r"Trial(\d+)")


def figures(study: optuna.Study) -> dict[str, Any]:
    """Optuna's plotly figures of a study, each by its heading (HISTORY, …: English, the page translates it), or
    why it cannot be drawn yet (a str, in the reader's language). Their texts are in the reader's language."""
    from optuna import visualization as vis

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    drawn: dict[str, Any] = {}
    for title, plot, needs in ((HISTORY, vis.plot_optimization_history, 1),
                               (INTERMEDIATE, vis.plot_intermediate_values, 0),
                               (PARALLEL, vis.plot_parallel_coordinate, 1),
                               (IMPORTANCE, vis.plot_param_importances, 2)):
        if len(done) < needs:
            drawn[title] = ngettext("drawn once {count} trial has completed",
                                    "drawn once {count} trials have completed", needs).format(count=needs)
            continue
        try:
            drawn[title] = plot(study)
        except (ValueError, RuntimeError) as e:  # such as importances over a setting that never varied
            drawn[title] = _("cannot be drawn yet: {reason}").format(reason=e)
    _mark_pruned(study, drawn[INTERMEDIATE])
    for figure in drawn.values():
        if not isinstance(figure, str):
            _translate_figure(figure)
    return drawn


def _mark_pruned(study: optuna.Study, figure: Any) -> None:
    """A pruned trial's curve, cut where it was pruned, is dotted and says so (Optuna draws it as any other)."""
    pruned = {f"Trial{t.number}" for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))}
    for trace in getattr(figure, "data", ()):
        if trace.name in pruned:
            trace.update(name=f"{trace.name} (pruned)", line={"dash": "dot"})


def _translate_figure(figure: Any) -> None:
    """Optuna's English on a figure (title, axis titles and ticks, legend names, colour bar) in the reader's
    language: English stays exactly Optuna's."""
    known = {text: _(text) for text in OPTUNA_TEXTS}

    def said(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        if text in known:
            return known[text]
        trial = _OPTUNA_TRIAL.fullmatch(text.removesuffix(" (pruned)"))
        if trial is None:
            return text
        name = _("Trial{number}").format(number=trial.group(1))
        return _("{trial} (pruned)").format(trial=name) if text.endswith(" (pruned)") else name

    layout = figure.layout
    figure.update_layout(title_text=said(layout.title.text))
    for axis in (layout.xaxis, layout.yaxis):
        axis.update(title_text=said(axis.title.text))
        if axis.ticktext is not None:
            axis.update(ticktext=[said(t) for t in axis.ticktext])
    for trace in figure.data:
        if getattr(trace, "name", None):
            trace.update(name=said(trace.name))
        marker = getattr(trace, "marker", None)
        if marker is not None and getattr(marker, "colorbar", None) is not None and marker.colorbar.title.text:
            marker.colorbar.update(title_text=said(marker.colorbar.title.text))
        data = getattr(trace, "customdata", None)
        if data is not None and len(data) and isinstance(data[0], (list, tuple)) and data[0] and \
                isinstance(data[0][0], str):  # the parallel plot's hover: (axis name, value) per point
            trace.update(customdata=[[said(row[0]), *row[1:]] for row in data])
