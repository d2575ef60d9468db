"""The between-run noise bound: how often identical runs trip it, and what it lets through."""

from __future__ import annotations

import math
import random

import pytest

from pytest_frida.report.noise import MIN_SPREAD, T99, prediction_bound


def test_bound_is_the_log_normal_prediction_bound() -> None:
    values = [12.0, 15.8, 12.5, 12.1]
    logs = [math.log(v) for v in values]
    mean = sum(logs) / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 3)
    expected = math.exp(mean + T99[3] * sd * math.sqrt(1 + 1 / 4))
    bound = prediction_bound(values, higher_is_worse=True)
    assert bound.bound == pytest.approx(expected) == pytest.approx(25.25, abs=0.01)
    assert bound.extreme == 15.8 and bound.runs == 4
    low = prediction_bound(values, higher_is_worse=False)
    assert low.bound == pytest.approx(math.exp(2 * mean) / expected)
    assert low.extreme == 12.0


def test_identical_runs_still_leave_room_for_one_grid_step() -> None:
    bound = prediction_bound([24, 24, 24], higher_is_worse=False)
    reach = T99[2] * MIN_SPREAD * math.sqrt(1 + 1 / 3)
    assert bound.bound == pytest.approx(24 * math.exp(-reach))
    assert not bound.exceeded_by(22) and bound.exceeded_by(15)


@pytest.mark.parametrize("runs", range(2, 11))
def test_up_to_ten_runs_the_bound_lies_beyond_every_earlier_one(runs: int) -> None:
    """Their largest is at most (k-1)/sqrt(k) deviations from their mean, less than
    t(0.99, k-1) * sqrt(1 + 1/k): beyond the bound is beyond them all, so the bound alone
    decides. The most lopsided case: one run far from all the others."""
    bound = prediction_bound([10.0] * (runs - 1) + [30.0], higher_is_worse=True)
    assert bound.bound > 30.0
    assert not bound.exceeded_by(bound.bound * 0.99) and bound.exceeded_by(bound.bound * 1.01)
    # a lower-is-worse figure (a capacity limit)
    limits = prediction_bound([24, 26, 20], higher_is_worse=False)
    assert limits.exceeded_by(4) and not limits.exceeded_by(19)


def test_fewer_than_two_runs_have_no_spread() -> None:
    with pytest.raises(ValueError, match="two or more runs, got 1"):
        prediction_bound([12.0], higher_is_worse=True)
    with pytest.raises(ValueError, match="two or more runs, got 1"):  # NaN is no run
        prediction_bound([12.0, float("nan")], higher_is_worse=True)


@pytest.mark.parametrize("runs", [3, 5, 10])
def test_identical_runs_trip_it_about_once_in_a_hundred(runs: int) -> None:
    """Identical runs, log-normal with a spread like this VM's p99s (sigma 0.3): the bound
    is exceeded about 1% of the time, where "beyond all earlier runs" alone would be
    1 / (runs + 1)."""
    rng = random.Random(runs)
    trials = 4000
    bound_alarms = beyond_all = 0
    for _ in range(trials):
        earlier = [rng.lognormvariate(2.5, 0.3) for _ in range(runs)]
        new = rng.lognormvariate(2.5, 0.3)
        bound_alarms += prediction_bound(earlier, higher_is_worse=True).exceeded_by(new)
        beyond_all += new > max(earlier)
    assert bound_alarms / trials < 0.02
    assert beyond_all / trials == pytest.approx(1 / (runs + 1), abs=0.03)


def test_a_shift_of_six_spreads_is_nearly_always_caught_with_ten_runs() -> None:
    rng = random.Random(7)
    caught = sum(
        prediction_bound(
            [rng.lognormvariate(2.5, 0.1) for _ in range(10)], higher_is_worse=True
        ).exceeded_by(rng.lognormvariate(2.5 + 0.6, 0.1))
        for _ in range(1000)
    )
    assert caught > 900  # six standard deviations up: a regression, not noise
