"""The noise between seeds, and differences judged against it.

Two runs of one configuration that differ only in the seed part by several points in their first epochs, so a
difference between two configurations means something only beside that spread. ``compare`` applies Welch's t-test
(SciPy; it does not assume the two spreads are equal) to the final accuracies of two groups of runs and says
*better*, *worse* or *within noise*; with a single run on a side there is no spread to judge against, and it says so.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from nin_core.i18n import N_, _, ngettext

ALPHA = 0.05  # a difference is called better or worse when Welch's test gives p below this


@dataclass(frozen=True)
class Spread:
    """A sample's mean and standard deviation (sd None when there are fewer than two values)."""

    mean: float
    sd: float | None
    n: int

    def text(self, fmt: str = "{:.3f}") -> str:
        """``0.812 ± 0.012 (3 runs)``; ``0.812 (1 run)`` (in the current language)."""
        runs = ngettext("{n} run", "{n} runs", self.n).format(n=self.n)
        if self.sd is None:
            return _("{mean} ({runs})").format(mean=fmt.format(self.mean), runs=runs)
        return _("{mean} ± {sd} ({runs})").format(mean=fmt.format(self.mean), sd=fmt.format(self.sd), runs=runs)


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("a spread needs at least one value")
    sd = statistics.stdev(values) if len(values) > 1 else None
    return Spread(statistics.fmean(values), sd, len(values))


class Finding(StrEnum):
    BETTER = "better"
    WORSE = "worse"
    WITHIN_NOISE = "within noise"
    NO_ESTIMATE = "no estimate"

    @property
    def label(self) -> str:
        """The finding as a person reads it, in the current language (the value stays the English word)."""
        return _(_FINDINGS[self])


_FINDINGS = {Finding.BETTER: N_("better"), Finding.WORSE: N_("worse"), Finding.WITHIN_NOISE: N_("within noise"),
             Finding.NO_ESTIMATE: N_("no estimate")}


@dataclass(frozen=True)
class Difference:
    """``other`` minus ``reference``: the difference of their means, its 95 % interval and Welch's p-value."""

    delta: float
    low: float | None
    high: float | None
    p: float | None
    finding: Finding
    n_reference: int
    n_other: int

    def text(self) -> str:
        """``+0.031 (95 % CI +0.012 … +0.050, Welch p = 0.004): better`` (in the current language)."""
        delta = _signed(self.delta)
        if self.finding == Finding.NO_ESTIMATE:
            return _("{delta}: no noise estimate with one run on a side ({needed} repeats of each would give one)"
                     ).format(delta=delta, needed=NEEDED)
        # the level is a value, not in the message: a percent sign in a message reads as a format flag
        return _("{delta} ({level} CI {low} … {high}, Welch p = {p}): {finding}").format(
            delta=delta, level="95 %", low=_signed(self.low), high=_signed(self.high), p=format(self.p, ".2g"),
            finding=self.finding.label)


def _signed(value: float | None) -> str:
    """``+0.031``, ``−0.012`` (a minus sign, not a hyphen)."""
    return format(value, "+.3f").replace("-", "−")


NEEDED = 3  # repeats per side that give a first estimate of the noise (two leave one degree of freedom each)


def compare(reference: Sequence[float], other: Sequence[float], alpha: float = ALPHA) -> Difference:
    """Welch's t-test of ``other`` against ``reference`` (each a sample of final accuracies, one per seed)."""
    a, b = spread(reference), spread(other)
    delta = b.mean - a.mean
    if a.sd is None or b.sd is None:
        return Difference(delta, None, None, None, Finding.NO_ESTIMATE, a.n, b.n)
    if a.sd == 0 and b.sd == 0:  # identical runs on each side (deterministic training): no noise at all
        finding = Finding.WITHIN_NOISE if delta == 0 else (Finding.BETTER if delta > 0 else Finding.WORSE)
        return Difference(delta, delta, delta, 0.0 if delta else 1.0, finding, a.n, b.n)
    from scipy import stats  # a second or two to import on a busy machine: only when there is a spread to judge

    test = stats.ttest_ind(other, reference, equal_var=False)
    ci = test.confidence_interval(1 - alpha)
    p = float(test.pvalue)
    significant = not math.isnan(p) and p < alpha
    finding = (Finding.BETTER if delta > 0 else Finding.WORSE) if significant else Finding.WITHIN_NOISE
    return Difference(delta, float(ci.low), float(ci.high), p, finding, a.n, b.n)
