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

ALPHA = 0.05  # a difference is called better or worse when Welch's test gives p below this


@dataclass(frozen=True)
class Spread:
    """A sample's mean and standard deviation (sd None when there are fewer than two values)."""

    mean: float
    sd: float | None
    n: int

    def text(self, fmt: str = "{:.3f}") -> str:
        """``0.812 ± 0.012 (3 runs)``; ``0.812 (1 run)``."""
        runs = f"{self.n} run{'' if self.n == 1 else 's'}"
        if self.sd is None:
            return f"{fmt.format(self.mean)} ({runs})"
        return f"{fmt.format(self.mean)} ± {fmt.format(self.sd)} ({runs})"


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
        """``+0.031 (95 % CI +0.012 … +0.050, Welch p = 0.004): better``."""
        delta = _signed(self.delta)
        if self.finding == Finding.NO_ESTIMATE:
            return f"{delta}: no noise estimate with one run on a side ({NEEDED} repeats of each would give one)"
        interval = f"95 % CI {_signed(self.low)} … {_signed(self.high)}, " if self.low is not None else ""
        return f"{delta} ({interval}Welch p = {self.p:.2g}): {self.finding}"


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
    if math.isnan(p) or p >= alpha:
        finding = Finding.WITHIN_NOISE
    else:
        finding = Finding.BETTER if delta > 0 else Finding.WORSE
    return Difference(delta, float(ci.low), float(ci.high), p, finding, a.n, b.n)
