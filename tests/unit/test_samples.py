"""The sample rule: how many measured messages a latency clause needs, and the window a
step is lengthened to for them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.measure.samples import measured_window, required_samples, samples_for
from pytest_frida.measure.slo import parse_slo


@pytest.mark.parametrize(
    ("metric", "need"),
    [
        ("p50", 20),
        ("p90", 100),
        ("p95", 200),
        ("p99", 1000),
        ("p99.9", 10000),
        ("max", 1),
        ("mean", 20),
    ],
)
def test_samples_per_metric(metric: str, need: int) -> None:
    assert samples_for(metric) == need


def test_the_strictest_clause_sets_the_minimum() -> None:
    assert required_samples(parse_slo("p50<=10ms, p99.9<=1s, loss==0")) == 10000
    assert required_samples(parse_slo("loss==0")) == 0


def test_a_short_window_is_lengthened_to_the_minimum() -> None:
    slo = parse_slo("p99<=250ms")
    w = measured_window(slo, producers=5, rate=10, duration_s=10, max_duration_s=60)
    assert (w.duration_s, w.planned_samples, w.lengthened, w.enough) == (20, 1000, True, True)
    assert "lengthened to 20s" in w.describe()


def test_a_window_the_cap_cannot_fill_runs_as_planned_and_says_so() -> None:
    slo = parse_slo("p99<=250ms")
    w = measured_window(slo, producers=1, rate=10, duration_s=10, max_duration_s=60)
    assert (w.duration_s, w.planned_samples, w.lengthened, w.enough) == (10, 100, False, False)
    assert "need 1000" in w.describe()


@given(
    st.integers(1, 500),
    st.floats(0.5, 5000),
    st.floats(1, 30),
    st.floats(1, 300),
    st.sampled_from(["p50", "p90", "p99", "p99.9", "max"]),
)
def test_the_window_never_shrinks_and_reaches_the_minimum_when_it_can(
    producers: int, rate: float, duration: float, cap: float, metric: str
) -> None:
    slo = parse_slo(f"{metric}<=250ms")
    w = measured_window(slo, producers, rate, duration, cap)
    assert w.duration_s >= duration
    assert w.planned_samples == int(producers * rate * w.duration_s)
    if w.lengthened:
        assert w.duration_s <= cap and w.enough
        assert int(producers * rate * (w.duration_s - 1)) < w.required_samples
    elif not w.enough:
        assert w.duration_s == duration
