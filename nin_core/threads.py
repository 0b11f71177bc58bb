"""How many threads a run on the CPU trains with: chosen by measurement while it trains, and again as the
machine's load changes.

PyTorch splits each operation over its intra-op threads (OpenMP) and every thread waits at the operation's end
for the others, so when another process takes one of their cores, all of them stall until it gives the core
back. On a 2-core machine that is busy, or whose browser is drawing the run's curves, two threads can train
several times slower than one (docs/benchmarks.md, "Watching a run"). So the trainer trains with the fastest count
it has measured, and every so often tries a neighbouring count (half or twice as many) for a moment: the faster
one stays. A try that loses waits twice as long before the next one, so a steady machine pays almost nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

WINDOW_S = 1.0  # each measurement: at least this long (half the live view's poll), one batch after a change
SHORTEST_WAIT_S = 5.0  # between two tries: after one that won; doubled after each that lost
LONGEST_WAIT_S = 80.0  # tries that keep losing wait up to this long
MARGIN = 1.1  # a count must be this much faster to take over: noise on a shared machine is larger than 5 %


def thread_counts(most: int) -> list[int]:
    """The counts worth trying, fewest first: 1, 2, 4, … up to ``most`` (``most`` itself included)."""
    counts = {most}
    n = 1
    while n < most:
        counts.add(n)
        n *= 2
    return sorted(counts)


def tuner_for(device: torch.device, distributed: bool) -> ThreadTuner | None:
    """A tuner for a run on the CPU in a single process; none where there is nothing to choose, or where the
    person chose already (OMP_NUM_THREADS set)."""
    if device.type != "cpu" or distributed or "OMP_NUM_THREADS" in os.environ or torch.get_num_threads() < 2:
        return None
    return ThreadTuner()


class ThreadTuner:
    """Call ``batch(images)`` after each training step and ``pause()`` when something other than training steps
    (an evaluation) took the time since the last one; ``close()`` puts PyTorch's thread count back."""

    def __init__(self, most: int | None = None, clock: Callable[[], float] = time.perf_counter):
        self.original = torch.get_num_threads()
        self.counts = thread_counts(most or self.original)
        self.current = self.counts[-1]
        self.clock = clock
        self.trying: int | None = None
        self.baseline: float | None = None  # images/s of ``current`` in the window just before a try
        self.wait_s = SHORTEST_WAIT_S
        self.tries = 0
        torch.set_num_threads(self.current)
        self.pause()
        self.next_try = self.start  # the first try follows the first measurement: a busy machine is found at once

    @property
    def threads(self) -> int:
        return self.trying or self.current

    def pause(self) -> None:
        """Forget the window in progress (its time was not all training); a try in progress is called off."""
        if self.trying is not None:
            self._set(self.current)
            self.trying = None
        self.start, self.images, self.skip = self.clock(), 0, 1

    def batch(self, images: int) -> bool:
        """Count a training step of ``images``; True when the thread count just changed."""
        now = self.clock()
        if self.skip:  # the first step after a change pays for it (kernels set up anew): not measured
            self.skip -= 1
            self.start = now
            return False
        self.images += images
        if now - self.start < WINDOW_S:
            return False
        rate = self.images / (now - self.start)
        self.start, self.images = now, 0
        if self.trying is not None:
            return self._decide(rate, now)
        if now >= self.next_try and len(self.counts) > 1:
            self.baseline = rate
            self.trying = self._neighbour()
            self._set(self.trying)
            return True
        return False

    def _decide(self, rate: float, now: float) -> bool:
        won = rate > self.baseline * MARGIN
        if won:
            self.current, self.wait_s = self.trying, SHORTEST_WAIT_S
        else:
            self.wait_s = min(LONGEST_WAIT_S, self.wait_s * 2)
            self._set(self.current)
        self.trying, self.next_try = None, now + self.wait_s
        return not won

    def _neighbour(self) -> int:
        """Half as many threads or twice as many, taking turns where there are both."""
        i = self.counts.index(self.current)
        options = self.counts[max(0, i - 1):i] + self.counts[i + 1:i + 2]
        self.tries += 1
        return options[self.tries % len(options)]

    def _set(self, n: int) -> None:
        torch.set_num_threads(n)
        self.skip = 1

    def close(self) -> None:
        torch.set_num_threads(self.original)
