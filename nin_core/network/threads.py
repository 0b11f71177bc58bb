"""How many threads a run on the CPU trains with: chosen by measurement while it trains, and again as the
machine's load changes.

PyTorch splits each operation over its intra-op threads (OpenMP) and every thread waits at the operation's end
for the others, so when another process takes one of their cores, all of them stall until it gives the core
back. On a 2-core machine that is busy, or whose browser is drawing the run's curves, two threads can train
several times slower than one (docs/benchmarks.md, "Watching a run"). So the trainer trains with the fastest count
it has measured, and every so often tries a neighbouring count (half or twice as many) for a moment: the faster
one stays. A try that loses waits twice as long before the next one, so a steady machine pays almost nothing.
A try is judged against the current count's windows on both sides of it, and must beat the better one: a tab's
redraw can stall two threads for most of a window, and one such window must not talk a run into one thread.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

# Each measurement: at least this long, one batch after a change. A whole period of the live view's poll
# (nin_core/live.POLL_S): every window then holds one redraw of each watching tab, so a count is not judged by
# whether a redraw happened to fall in its window (a 1-s window made one thread "win" while a tab watched).
WINDOW_S = 2.0
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
    (an evaluation) took the time since the last one; ``close()`` puts PyTorch's thread count back.

    A window adds up training time only: a pause leaves it out and the window goes on after it. (Calling off the
    try in progress instead made the try start again after every evaluation and end at the next one, so short
    epochs spent a third of their time on one thread, never judged.)"""

    def __init__(self, most: int | None = None, clock: Callable[[], float] = time.perf_counter):
        self.original = torch.get_num_threads()
        self.counts = thread_counts(most or self.original)
        self.current = self.counts[-1]
        self.clock = clock
        self.trying: int | None = None
        self.baseline = 0.0  # images/s of ``current`` in the window just before a try (set when one starts)
        self.checking: int | None = None  # the count just tried, while ``current`` is measured again after it
        self.tried = 0.0  # images/s of the count just tried
        self.wait_s = SHORTEST_WAIT_S
        self.tries = 0
        self.trained_s, self.images = 0.0, 0  # the window so far
        self.last: float | None = None  # when the last measured step ended; None: the next step is not measured
        self.next_try = 0.0  # the first try follows the first window: a busy machine is found at once
        torch.set_num_threads(self.current)

    @property
    def threads(self) -> int:
        return self.trying or self.current

    def pause(self) -> None:
        """The time since the last step was not training: the next step only marks where measuring resumes."""
        self.last = None

    def batch(self, images: int) -> bool:
        """Count a training step of ``images``; True when the thread count just changed."""
        now = self.clock()
        if self.last is None:  # after a pause, or the first step after a change (which sets kernels up anew)
            self.last = now
            return False
        self.trained_s += now - self.last
        self.images += images
        self.last = now
        if self.trained_s < WINDOW_S:
            return False
        rate = self.images / self.trained_s
        self.trained_s, self.images = 0.0, 0
        if self.trying is not None:  # the try is measured: the current count again, for the window after it
            self.tried, self.checking, self.trying = rate, self.trying, None
            self._set(self.current)
            return True
        if self.checking is not None:
            return self._decide(self.checking, rate, now)
        if now >= self.next_try and len(self.counts) > 1:
            self.baseline = rate
            self.trying = self._neighbour()
            self._set(self.trying)
            return True
        return False

    def _decide(self, checking: int, after: float, now: float) -> bool:
        """True when the count tried (``checking``) beat the current one's windows before and after it, and now
        trains."""
        won = self.tried > max(self.baseline, after) * MARGIN
        if won:
            self.current, self.wait_s = checking, SHORTEST_WAIT_S
            self._set(self.current)
        else:
            self.wait_s = min(LONGEST_WAIT_S, self.wait_s * 2)
        self.checking, self.next_try = None, now + self.wait_s
        return won

    def _neighbour(self) -> int:
        """Half as many threads or twice as many, taking turns where there are both."""
        i = self.counts.index(self.current)
        options = self.counts[max(0, i - 1):i] + self.counts[i + 1:i + 2]
        self.tries += 1
        return options[self.tries % len(options)]

    def _set(self, n: int) -> None:
        torch.set_num_threads(n)
        self.last = None

    def close(self) -> None:
        torch.set_num_threads(self.original)
