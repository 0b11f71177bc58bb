"""Differences judged against the noise between seeds: what a learner is told about two groups of runs."""

import pytest

from nin_core.runs.noise import Finding, compare, spread


def test_a_gap_far_above_the_spread_is_better_or_worse():
    reference, other = [0.70, 0.71, 0.69], [0.80, 0.81, 0.79]
    up, down = compare(reference, other), compare(other, reference)
    assert up.finding == Finding.BETTER and down.finding == Finding.WORSE
    assert up.delta == pytest.approx(0.10) and up.low < 0.10 < up.high and up.p < 0.05
    assert up.text().startswith("+0.100 (95 % CI") and up.text().endswith(": better")


def test_a_gap_inside_the_spread_is_within_noise():
    # The project's own bf16 test: two seeds of one configuration parted by 0.14 in their first epochs.
    difference = compare([0.437, 0.581, 0.50], [0.52, 0.46, 0.60])
    assert difference.finding == Finding.WITHIN_NOISE
    assert difference.low < 0 < difference.high
    assert "better" not in difference.text() and difference.text().endswith("within noise")


@pytest.mark.parametrize(("reference", "other"), [([0.7], [0.8]), ([0.7], [0.8, 0.81, 0.79]), ([0.7, 0.72], [0.9])])
def test_one_run_on_a_side_gives_no_estimate_and_says_what_would(reference, other):
    difference = compare(reference, other)
    assert difference.finding == Finding.NO_ESTIMATE and difference.p is None
    assert "no noise estimate" in difference.text() and "3 repeats" in difference.text()


def test_identical_repeats_have_no_noise():
    assert compare([0.5, 0.5], [0.5, 0.5]).finding == Finding.WITHIN_NOISE
    assert compare([0.5, 0.5], [0.6, 0.6]).finding == Finding.BETTER


def test_a_spread_says_over_how_many_runs():
    assert spread([0.8, 0.82, 0.84]).text() == "0.820 ± 0.020 (3 runs)"
    assert spread([0.8]).text() == "0.800 (1 run)"
    with pytest.raises(ValueError):
        spread([])
