"""Groups: the repeats of one configuration over seeds, shown and compared as one.

A configuration with ``repeats`` N is launched as N runs (seeds seed … seed + N − 1, each one run of its own, see
``RunConfig.seed_configs``) sharing a group label in the store. A group's figures are over the runs that reached
them, and say how many those are: the mean ± standard deviation of each final metric, the time summed, the
curves' mean with a band from the lowest to the highest seed. A run without a group is a group of one, which
reads as the run itself.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nin_core.i18n import _, ngettext
from nin_core.network.config import RunConfig
from nin_core.network.metrics import Band, MetricPoint
from nin_core.network.status import ACTIVE, RunStatus
from nin_core.runs import noise
from nin_core.runs.store import Run, RunStore

METRICS = ("train_loss", "train_acc", "test_acc", "examples_per_sec")


def queue_group(store: RunStore, config: RunConfig, name: str | None = None, *, sweep: str | None = None,
                experiment: str | None = None, group: str | None = None, claim: bool = False) -> list[int]:
    """Queue ``config`` as its repeats: one run per seed, sharing a group (a new one unless ``group`` names it);
    a configuration of one repeat is one run, as ever. Returns the ids, first seed first."""
    seeds = config.seed_configs()
    if len(seeds) == 1:
        return [store.create_run(config, name, sweep=sweep, experiment=experiment, group=group, claim=claim)]
    group = group or f"g{secrets.token_hex(6)}"
    base = name or "run"
    return [store.create_run(c, f"{base} · seed {c.train.seed}", sweep=sweep, experiment=experiment, group=group,
                             claim=claim) for c in seeds]


@dataclass(frozen=True)
class Group:
    """Runs of one configuration over seeds (newest first, as the store lists them)."""

    runs: tuple[Run, ...]

    @property
    def key(self) -> str:
        first = self.runs[-1]
        return first.group or f"run {first.id}"

    @property
    def single(self) -> bool:
        return len(self.runs) == 1

    @property
    def by_seed(self) -> list[Run]:
        return sorted(self.runs, key=lambda r: r.config.train.seed)

    @property
    def name(self) -> str:
        """The first seed's name without its seed (``tiny · seed 0`` → ``tiny``)."""
        name = self.by_seed[0].name
        return name if self.single else name.rsplit(" · seed ", 1)[0]

    @property
    def config(self) -> RunConfig:
        """The configuration that launches the group again: its first seed, its number of runs."""
        return self.by_seed[0].config.with_overrides(repeats=len(self.runs))

    @property
    def active(self) -> bool:
        return any(r.status in ACTIVE for r in self.runs)

    def counts(self) -> Counter[RunStatus]:
        return Counter(r.status for r in self.runs)

    def status_text(self) -> str:
        """``finished`` when all runs share a status, else ``2 finished · 1 diverged`` (in the current language)."""
        counts = self.counts()
        if len(counts) == 1:
            return next(iter(counts)).label
        return " · ".join(_count(n, status) for status, n in counts.most_common())

    def values(self, metric: str) -> list[float]:
        """The final ``metric`` of each run that reached one."""
        return [r.final[metric] for r in self.by_seed if r.final.get(metric) is not None]

    def spread(self, metric: str) -> noise.Spread | None:
        values = self.values(metric)
        return noise.spread(values) if values else None

    def problems(self) -> str:
        """One line on what makes the group's figures partial ("" when every run finished), in the current
        language."""
        counts, n = self.counts(), len(self.runs)
        others = {s: k for s, k in counts.items() if s != RunStatus.FINISHED}
        if not others or self.single:
            return ""
        said = _(", ").join(_count(k, s) for s, k in sorted(others.items()))
        over = len(self.values("test_acc"))
        if not over:
            return _("{statuses} of {n} runs: no test accuracy yet").format(statuses=said, n=n)
        return ngettext("{statuses} of {n} runs: its figures are over the {over} run with a test accuracy",
                        "{statuses} of {n} runs: its figures are over the {over} runs with a test accuracy",
                        over).format(statuses=said, n=n, over=over)

    @property
    def duration_s(self) -> float:
        return sum(r.duration_s or 0.0 for r in self.runs)


def _count(n: int, status: RunStatus) -> str:
    """``2 finished``, in the current language."""
    return _("{n} {status}").format(n=n, status=status.label)


def group_runs(runs: Sequence[Run]) -> list[Group]:
    """The store's runs as groups, in the order of their newest run; a run without a group is a group of one."""
    members: dict[str, list[Run]] = {}
    for r in runs:
        members.setdefault(r.group or f"run {r.id}", []).append(r)
    return [Group(tuple(rs)) for rs in members.values()]


def mean_curves(curves: Sequence[Sequence[MetricPoint]]) -> tuple[list[MetricPoint], dict[str, Band]]:
    """The seeds' curves of a group → the mean curve (MetricPoints, as one run's) and each metric's band. The runs
    record points at their own moments: each is interpolated onto the epochs of the run with the most points, within
    the span it reached; an epoch is averaged over the runs that reached it."""
    curves = [c for c in curves if c]
    if len(curves) == 1:
        return list(curves[0]), {}
    bands: dict[str, Band] = {}
    for metric in ("train_loss", "train_acc", "test_acc"):
        tracks = [[(p.epoch, getattr(p, metric)) for p in c if getattr(p, metric) is not None] for c in curves]
        tracks = [t for t in tracks if t]
        if not tracks:
            continue
        grid = [e for e, _ in max(tracks, key=len)]
        rows = [np.where((np.array(grid) >= t[0][0] - 1e-9) & (np.array(grid) <= t[-1][0] + 1e-9),
                         np.interp(grid, [e for e, _ in t], [v for _, v in t]), np.nan) for t in tracks]
        stack = np.vstack(rows)
        keep = ~np.all(np.isnan(stack), axis=0)
        bands[metric] = Band([g for g, k in zip(grid, keep, strict=True) if k],
                             *(np.asarray(f(stack[:, keep], axis=0)).tolist() for f in (np.nanmean, np.nanmin,
                                                                                         np.nanmax)))
    epochs = sorted({e for b in bands.values() for e in b.epochs})
    mean = [MetricPoint(e, **{m: _at(bands.get(m), e) for m in ("train_loss", "train_acc", "test_acc")})
            for e in epochs]
    return mean, bands


def _at(band: Band | None, epoch: float) -> float | None:
    if band is None or epoch not in band.epochs:
        return None
    return band.mean[band.epochs.index(epoch)]


def curves_of(store: RunStore, groups: Mapping[str, Sequence[Run]]) -> tuple[dict[str, list[MetricPoint]],
                                                                         dict[str, dict[str, Band]]]:
    """Each labelled group's mean curve and bands (for ``charts.curves_figure``), for the groups with points."""
    points, bands = {}, {}
    for label, runs in groups.items():
        mean, band = mean_curves([store.metrics(r.id) for r in runs])
        if mean:
            points[label] = mean
        if band:
            bands[label] = band
    return points, bands
