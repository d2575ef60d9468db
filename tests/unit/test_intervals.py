"""Percentile intervals: ranks from the binomial, bounds from the histogram, ~95% coverage."""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.measure.intervals import (
    latency_intervals,
    percentile_interval,
    rank_bounds,
)


def hist_of(values: list[int] | np.ndarray) -> LatencyHistogram:
    hist = LatencyHistogram()
    hist.record_batch_us(values)
    return hist


def test_rank_bounds_follow_the_binomial() -> None:
    # 990 +- 1.96 * sqrt(9.9) = 983.8 .. 996.2: floor and ceil, the upper one moved up by one
    assert rank_bounds(1000, 0.99) == (983, 998)
    assert rank_bounds(1000, 0.5) == (469, 532)
    # less confidence, a narrower interval
    low, high = rank_bounds(1000, 0.5, confidence=0.5)
    assert low is not None and high is not None and 469 < low < 500 < high < 532


def test_bounds_outside_the_samples_are_unknown() -> None:
    assert rank_bounds(100, 0.99) == (97, None)  # 100 samples cannot bound a p99 above
    assert rank_bounds(5000, 1.0) == (5000, None)  # nor any sample count the maximum
    assert rank_bounds(3, 0.01) == (None, 2)
    assert rank_bounds(0, 0.5) == (None, None)
    with pytest.raises(ValueError, match=r"quantile 1.5 must be in \[0, 1\]"):
        rank_bounds(10, 1.5)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(1, 10**9), min_size=1, max_size=200),
    percentile=st.sampled_from([0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0]),
)
def test_value_at_rank_agrees_with_percentile_and_holds_the_sample(
    values: list[int], percentile: float
) -> None:
    hist = LatencyHistogram()
    for v in values:
        hist.record_us(v)
    n = len(values)
    rank = max(1, math.ceil(percentile / 100.0 * n - 1e-9))
    assert hist.value_at_rank_ms(rank) == hist.percentile_ms(percentile)
    ordered = sorted(values)
    for r in range(1, n + 1):
        low, top = hist.value_at_rank_ms(r, lowest=True), hist.value_at_rank_ms(r)
        assert low is not None and top is not None
        assert low <= ordered[r - 1] / 1000.0 <= top
    assert hist.value_at_rank_ms(0) is None and hist.value_at_rank_ms(n + 1) is None


def test_interval_brackets_the_percentile_read_out() -> None:
    hist = hist_of(np.arange(1000, 101_000, 1))  # 100,000 values, 1 ms to 101 ms
    iv = percentile_interval(hist, 50)
    assert iv.samples == 100_000 and iv.value == hist.percentile_ms(50)
    assert iv.low is not None and iv.high is not None and iv.value is not None
    assert iv.low <= iv.value <= iv.high
    assert iv.high - iv.low < 0.02 * iv.value  # many samples: a tight interval
    assert percentile_interval(hist, 100).high is None
    assert percentile_interval(LatencyHistogram(), 99).as_list() == [None, None]


def test_intervals_from_an_encoded_histogram() -> None:
    encoded = hist_of(np.arange(1000, 11_000)).encode()
    out = latency_intervals(encoded, {"p50": 50.0, "p99": 99.0})
    assert set(out) == {"p50", "p99"} and out["p99"].samples == 10_000
    assert latency_intervals("", {"p99": 99.0})["p99"].as_list() == [None, None]


#: name -> (draw n latencies in us, true q-quantile in us)
Distribution = tuple[Callable[[np.random.Generator, int], np.ndarray], Callable[[float], float]]
DISTRIBUTIONS: dict[str, Distribution] = {
    "exponential": (
        lambda rng, n: rng.exponential(10_000.0, n),
        lambda q: -10_000.0 * math.log1p(-q),
    ),
    "lognormal": (
        lambda rng, n: rng.lognormal(9.0, 1.0, n),
        lambda q: math.exp(9.0 + NormalDist().inv_cdf(q)),
    ),
    "lomax": (
        lambda rng, n: 1_000.0 + 1_000.0 * rng.pareto(3.0, n),
        lambda q: 1_000.0 + 1_000.0 * ((1.0 - q) ** (-1.0 / 3.0) - 1.0),
    ),
    "uniform": (lambda rng, n: rng.uniform(1_000.0, 50_000.0, n), lambda q: 1_000.0 + q * 49_000.0),
}
TRIALS = 400


@settings(max_examples=6, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(sorted(DISTRIBUTIONS)),
    percentile=st.sampled_from([50.0, 90.0, 99.0]),
    samples=st.integers(1_000, 3_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_interval_covers_the_true_quantile_about_95_percent_of_the_time(
    name: str, percentile: float, samples: int, seed: int
) -> None:
    draw, quantile = DISTRIBUTIONS[name]
    # values are recorded as whole microseconds rounded up: so is the true quantile
    truth_ms = math.ceil(quantile(percentile / 100.0)) / 1000.0
    rng = np.random.default_rng(seed)
    covered = 0
    for _ in range(TRIALS):
        iv = percentile_interval(hist_of(np.ceil(draw(rng, samples)).astype(np.int64)), percentile)
        assert iv.low is not None and iv.high is not None
        covered += iv.low <= truth_ms <= iv.high
    assert covered / TRIALS >= 0.90
