"""The CPU thread count chosen by measurement (nin_core/threads.py), on a simulated clock: each step takes as long
as the simulated machine says for the thread count PyTorch has at that moment."""

from __future__ import annotations

import pytest
import torch

from nin_core.threads import LONGEST_WAIT_S, ThreadTuner, thread_counts


@pytest.fixture(autouse=True)
def _threads_back():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


class Machine:
    """A clock that moves by one step's time at ``rates[threads]`` images/s, for the thread count set now."""

    def __init__(self, rates: dict[int, float]):
        self.rates, self.now = rates, 0.0

    def clock(self) -> float:
        return self.now

    def train(self, tuner: ThreadTuner, seconds: float, images: int = 64) -> list[int]:
        """Steps for ``seconds``; the thread counts they ran with."""
        used, end = [], self.now + seconds
        while self.now < end:
            used.append(torch.get_num_threads())
            self.now += images / self.rates[torch.get_num_threads()]
            tuner.batch(images)
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
    machine.train(tuner, 3)  # a window of measurement, then one of trying one thread
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
    # The time spent trying one thread: about a second per try, tries after 1, 5, 10, 20, 40, 80, 80 s.
    one_s = used.count(1) * 64 / 6000
    assert one_s < 10


def test_a_small_gain_within_the_noise_does_not_switch():
    machine = Machine({1: 10_000.0, 2: 9600.0})
    tuner = ThreadTuner(2, clock=machine.clock)
    machine.train(tuner, 60)
    assert tuner.current == 2


def test_pause_calls_off_a_try_and_restarts_the_measurement():
    machine = Machine({1: 2000.0, 2: 100.0})
    tuner = ThreadTuner(2, clock=machine.clock)
    machine.train(tuner, 2)  # the first window is measured: the try of one thread has begun
    assert tuner.trying == 1 and torch.get_num_threads() == 1
    machine.now += 30  # an evaluation: not training, must not count
    tuner.pause()
    assert tuner.trying is None and torch.get_num_threads() == 2
