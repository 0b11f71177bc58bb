"""The CPU thread count chosen by measurement (nin_core/threads.py), on a simulated clock: each step takes as long
as the simulated machine says for the thread count PyTorch has at that moment."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from nin_core.network.threads import LONGEST_WAIT_S, WINDOW_S, ThreadTuner, thread_counts
from nin_core.runs.live import POLL_S


@pytest.fixture(autouse=True)
def _threads_back():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


class Machine:
    """A clock that moves by one step's time at ``rates[threads]`` images/s, for the thread count set now (a rate
    may be a function of the time: a machine whose load comes and goes)."""

    def __init__(self, rates: dict[int, float | Callable[[float], float]]):
        self.rates, self.now = rates, 0.0

    def clock(self) -> float:
        return self.now

    def rate(self) -> float:
        rate = self.rates[torch.get_num_threads()]
        return rate(self.now) if callable(rate) else rate

    def train(self, tuner: ThreadTuner, seconds: float, images: int = 64, epoch_s: float | None = None,
              evaluation_s: float = 1.0) -> list[int]:
        """Steps for ``seconds``; the thread counts they ran with. With ``epoch_s``: an evaluation of
        ``evaluation_s`` (a pause) after each ``epoch_s`` of training."""
        used, end, epoch_end = [], self.now + seconds, self.now + (epoch_s or seconds)
        while self.now < end:
            used.append(torch.get_num_threads())
            self.now += images / self.rate()
            tuner.batch(images)
            if epoch_s and self.now >= epoch_end:
                self.now += evaluation_s
                end += evaluation_s
                epoch_end = self.now + epoch_s
                tuner.pause()
        return used


def test_the_counts_tried_are_powers_of_two_up_to_all_of_them():
    assert thread_counts(1) == [1]
    assert thread_counts(2) == [1, 2]
    assert thread_counts(6) == [1, 2, 4, 6]


def test_a_busy_machine_trains_on_one_thread_after_the_first_try():
    # As measured on the shared 2-core machine under load: two threads far slower than one.
    machine = Machine({1: 2000.0, 2: 100.0})
    tuner = ThreadTuner(2, clock=machine.clock)
    assert torch.get_num_threads() == 2
    machine.train(tuner, 5 * WINDOW_S)  # a window on two threads, the try of one, a window on two again
    assert tuner.current == 1 and torch.get_num_threads() == 1
    used = machine.train(tuner, 60)
    # Later tries of two threads are short and ever rarer: nearly every step runs on one thread.
    assert used.count(1) / len(used) > 0.99
    tuner.close()
    assert torch.get_num_threads() == tuner.original


def test_a_quiet_machine_keeps_every_thread_and_tries_less_and_less_often():
    machine = Machine({1: 6000.0, 2: 10_000.0})
    tuner = ThreadTuner(2, clock=machine.clock)
    used = machine.train(tuner, 300)
    assert tuner.current == 2
    assert tuner.wait_s == LONGEST_WAIT_S
    # The time spent trying one thread: a window per try; the first after 2 s, the next 10, 20, 40, 80, 80 s after
    # each loss.
    one_s = used.count(1) * 64 / 6000
    assert one_s < 8 * WINDOW_S


def test_a_small_gain_within_the_noise_does_not_switch():
    machine = Machine({1: 10_000.0, 2: 9600.0})
    tuner = ThreadTuner(2, clock=machine.clock)
    machine.train(tuner, 60)
    assert tuner.current == 2


def test_an_evaluation_is_left_out_of_the_window_and_the_try_goes_on():
    machine = Machine({1: 2000.0, 2: 100.0})
    tuner = ThreadTuner(2, clock=machine.clock)
    machine.train(tuner, WINDOW_S + 1)  # the first window is measured: the try of one thread has begun
    assert tuner.trying == 1 and torch.get_num_threads() == 1
    machine.now += 30  # an evaluation: counted, it would make the try look slow and lose
    tuner.pause()
    machine.train(tuner, 3 * WINDOW_S)  # the rest of the try's window, then two threads' window after it
    assert tuner.current == 1 and tuner.trying is None and tuner.checking is None


def test_short_epochs_on_a_quiet_machine_keep_every_thread():
    # The tiny preset: epochs of about 3 s of training, each followed by an evaluation. Tries must be judged, not
    # started after each evaluation and called off by the next (which once ran a third of the steps on one thread).
    machine = Machine({1: 4000.0, 2: 6500.0})
    tuner = ThreadTuner(2, clock=machine.clock)
    used = machine.train(tuner, 120, epoch_s=3.0)
    assert tuner.current == 2
    assert used.count(1) / len(used) < 0.1


def test_a_watching_tab_does_not_talk_a_quiet_machine_into_one_thread():
    # As measured with a tab following the run: two threads stall while the browser redraws (here the first half
    # second of each poll) and still beat one thread overall. A window shorter than the poll judged a count by
    # whether a redraw fell in it.
    assert WINDOW_S % POLL_S == 0

    def two_threads(t: float) -> float:
        return 300.0 if t % POLL_S < 0.5 else 7000.0

    machine = Machine({1: 4400.0, 2: two_threads})
    tuner = ThreadTuner(2, clock=machine.clock)
    used = machine.train(tuner, 120)
    assert tuner.current == 2
    assert used.count(2) / len(used) > 0.9


def test_one_stalled_window_does_not_make_the_run_switch():
    # Two threads stall for one whole window (a redraw that took a core, a neighbour's burst) just as the first try
    # is measured against it: the window after the try shows two threads are faster, so they stay.
    def two_threads(t: float) -> float:
        return 100.0 if 0.5 < t < 2.5 else 7000.0

    machine = Machine({1: 4400.0, 2: two_threads})
    tuner = ThreadTuner(2, clock=machine.clock)
    used = machine.train(tuner, 60)
    assert tuner.current == 2
    assert used.count(2) / len(used) > 0.9
