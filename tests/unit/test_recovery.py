"""Recovery time after a fault, from the per-second delivery timeline."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.measure.recovery import latency_bound_ms, recovered_after_s
from pytest_frida.measure.slo import parse_slo


def _timeline(worst_ms: Sequence[float]) -> list[tuple[int, int, int]]:
    return [(sec, 10, int(ms * 1000)) for sec, ms in enumerate(worst_ms)]


def test_recovery_is_the_first_second_from_which_all_are_good() -> None:
    # fault at 3.2 s: seconds 3..6 slow, a good second 7, a relapse at 8, good from 9
    worst = [5, 5, 5, 900, 800, 700, 600, 5, 300, 5, 5, 5]
    assert recovered_after_s(_timeline(worst), 3.2, 250, 12) == pytest.approx(5.8)


def test_no_disruption_means_zero() -> None:
    assert recovered_after_s(_timeline([5] * 10), 4.0, 250, 10) == 0.0


def test_not_recovered_when_the_last_second_is_bad() -> None:
    assert recovered_after_s(_timeline([5, 5, 900, 900]), 2.0, 250, 4) is None


def test_a_silent_second_counts_as_bad() -> None:
    timeline = [(0, 10, 5000), (1, 10, 5000), (3, 10, 5000), (4, 10, 5000)]  # nothing at 2
    assert recovered_after_s(timeline, 1.5, 250, 5) == pytest.approx(1.5)


def test_bound_is_the_tightest_latency_clause() -> None:
    slo = parse_slo("p99<=250ms, max<1s, loss==0")
    assert latency_bound_ms(slo, _timeline([5] * 4), 2.0) == 250


def test_bound_without_latency_clause_is_twice_the_worst_before_the_fault() -> None:
    slo = parse_slo("loss==0")
    assert latency_bound_ms(slo, _timeline([20, 30, 900]), 2.0) == 60
    assert latency_bound_ms(slo, _timeline([1, 2, 900]), 2.0) == 10  # at least 10 ms


@given(st.lists(st.floats(0, 2000), min_size=1, max_size=30), st.floats(0, 29), st.floats(1, 1000))
def test_after_recovery_every_second_is_within_bound(
    worst: list[float], at: float, bound: float
) -> None:
    timeline = _timeline(worst)
    after = recovered_after_s(timeline, at, bound, len(worst))
    tail = [w / 1000 for s, _, w in timeline if s >= int(at)]
    if after is None:  # the last second of the step was bad (or there was none)
        assert not tail or tail[-1] > bound
    else:
        first_good = int(at) if after == 0 else round(at + after)
        assert all(w / 1000 <= bound for s, _, w in timeline if s >= first_good)
        if first_good > int(at):  # and the second before it was bad
            assert worst[first_good - 1] > bound


def test_seconds_with_a_latency_sum_read_the_same() -> None:
    worst = [5, 5, 5, 900, 800, 5, 5, 5]
    with_sums = [(sec, n, w, w * n) for sec, n, w in _timeline(worst)]
    assert (
        recovered_after_s(with_sums, 3.2, 250, 8)
        == recovered_after_s(_timeline(worst), 3.2, 250, 8)
        == pytest.approx(1.8)
    )
    assert latency_bound_ms(parse_slo("loss==0"), with_sums, 3.0) == 10
