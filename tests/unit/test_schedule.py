"""Open-model send schedules and measurement windows.

Exact properties derived from schedule.py, with S = (end_ns - t0_ns) * rate / 1e9 the
number of periods in the window and n the total number of producers:

* producer p sends k = 0, 1, ... at t0 + round((p/n + k) * 1e9 / rate): the unrounded times
  of one producer are exactly 1e9/rate apart, so rounded ones are within 1 ns of that;
* messages_per_producer(p) = ceil(S - p/n), i.e. the number of k >= 0 with
  (p/n + k) < S: every unrounded intended time lies in [t0, end), so every rounded one
  lies in [t0, end] (the rounded count keeps them strictly before end). S is in floats, so
  when S - p/n is within float error of a whole number the count may be off by one
  (rate=0.05 is really 0.05000000000000000277);
* by Hermite's identity, sum over p of ceil(S - p/n) = ceil(n * S): the whole schedule
  holds exactly ceil(n * rate * span_s) messages: at least n*rate*span_s and less than one
  more (not merely "within n of it").
"""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.workload.schedule import NS, Schedule, Window


def test_window_of_places_boundaries():
    w = Window.of(t0_ns=1_000, warmup_s=2.0, duration_s=10.0)
    assert w == Window(1_000, 1_000 + 2 * NS, 1_000 + 12 * NS)
    w = Window.of(t0_ns=0, warmup_s=0.0000000016, duration_s=0.5)
    assert w.measure_start_ns == 2  # rounded to the nearest ns
    assert w.end_ns == 2 + NS // 2


def test_window_measured_is_half_open():
    w = Window.of(t0_ns=5 * NS, warmup_s=1, duration_s=3)
    assert not w.measured(w.t0_ns)
    assert not w.measured(w.measure_start_ns - 1)
    assert w.measured(w.measure_start_ns)
    assert w.measured(w.end_ns - 1)
    assert not w.measured(w.end_ns)
    assert not w.measured(w.end_ns + NS)


def test_zero_warmup_measures_from_t0():
    w = Window.of(t0_ns=7, warmup_s=0, duration_s=1)
    assert w.measured(7)
    assert not w.measured(6)


@settings(max_examples=150)
@given(
    rate=st.floats(0.01, 1e6),
    n=st.integers(1, 64),
    data=st.data(),
    t0=st.integers(0, 2**62),
)
def test_one_producers_times_are_spaced_one_period_apart(rate, n, data, t0):
    producer = data.draw(st.integers(0, n - 1))
    sched = Schedule(rate, n, Window(t0, t0, t0 + 10**12))
    period = NS / rate
    ks = data.draw(st.lists(st.integers(0, 10**5), min_size=1, max_size=20))
    first = sched.intended_ns(producer, 0)
    assert t0 <= first <= t0 + round(period * producer / n) + 1
    for k in ks:
        a, b = sched.intended_ns(producer, k), sched.intended_ns(producer, k + 1)
        assert b > a
        assert abs((b - a) - period) <= 1 + period * 1e-9


def test_producers_are_spread_over_one_period():
    sched = Schedule(10.0, 4, Window(0, 0, NS))
    # 10 msg/s -> 100 ms period, four producers 25 ms apart
    assert [sched.intended_ns(p, 0) for p in range(4)] == [0, 25_000_000, 50_000_000, 75_000_000]
    assert sched.intended_ns(1, 3) == 325_000_000
    assert [sched.messages_per_producer(p) for p in range(4)] == [10, 10, 10, 10]


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    rate = draw(st.one_of(st.integers(1, 2000).map(float), st.floats(0.05, 2000.0)))
    n = draw(st.integers(1, 8))
    t0 = draw(st.integers(0, 2**61))
    if draw(st.booleans()):
        # a window of a whole number of 1/n-periods, +-1 ns: the boundary cases
        slots = draw(st.one_of(st.integers(0, 10), st.integers(10, 300)))
        span = max(0, round(slots * NS / (rate * n)) + draw(st.integers(-1, 1)))
    else:
        periods = draw(st.one_of(st.floats(0, 2.0), st.floats(1.0, 300.0 / n)))
        span = round(periods * NS / rate)
    warmup = draw(st.integers(0, span))
    return Schedule(rate, n, Window(t0, t0 + warmup, t0 + span))


def exact_time(sched: Schedule, p: int, k: int) -> Fraction:
    """The unrounded intended offset from t0, in ns."""
    return (Fraction(p, sched.total_producers) + k) * NS / Fraction(sched.rate)


@settings(max_examples=150, deadline=None)
@given(schedules())
def test_merged_yields_every_message_once_in_time_order(sched):
    n, w = sched.total_producers, sched.window
    events = list(sched.merged(range(n)))
    times = [t for t, _, _ in events]
    assert times == sorted(times)
    pairs = [(p, k) for _, p, k in events]
    assert len(pairs) == len(set(pairs))
    expected = {(p, k) for p in range(n) for k in range(sched.messages_per_producer(p))}
    assert set(pairs) == expected
    for t, p, k in events:
        assert t == sched.intended_ns(p, k)
        assert w.t0_ns <= t <= w.end_ns
        # unrounded, the time is before the end (up to the float error of the count)
        assert exact_time(sched, p, k) < w.end_ns - w.t0_ns + Fraction(1, 1000)
    span = Fraction(w.end_ns - w.t0_ns) * Fraction(sched.rate) / NS
    for p in range(n):
        count = sched.messages_per_producer(p)
        assert [k for _, q, k in events if q == p] == list(range(count))
        # exactly the k whose (rounded, whole-ns) intended time is before the end
        if count:
            assert sched.intended_ns(p, count - 1) < w.end_ns
        assert sched.intended_ns(p, count) >= w.end_ns
        # ...which differs from the unrounded count only where rounding crosses the end
        assert abs(count - max(0, math.ceil(span - Fraction(p, n)))) <= 1
    # in all, ceil(n * rate * span_s) messages, give or take one per producer at the edge
    assert abs(len(events) - math.ceil(n * span)) <= n


def exact_or_nearly(x: Fraction, got: int) -> int:
    """max(0, ceil(x)) -- or `got`, when x is within float error of a whole number and
    `got` is the other side of it (e.g. rate=0.05 is the float 0.05000000000000000277)."""
    want = max(0, math.ceil(x))
    if abs(x - round(x)) < Fraction(1, 10**9) * max(Fraction(1), abs(x)) and abs(got - want) == 1:
        return got
    return want


@settings(max_examples=60, deadline=None)
@given(sched=schedules(), data=st.data())
def test_merging_a_shard_is_the_full_merge_restricted(sched, data):
    n = sched.total_producers
    first = data.draw(st.integers(0, n - 1))
    last = data.draw(st.integers(first, n - 1))
    shard = range(first, last + 1)
    full = [e for e in sched.merged(range(n)) if e[1] in shard]
    assert list(sched.merged(shard)) == full


def test_total_count_example():
    # 3 producers x 7 msg/s over 1.5 s: ceil(31.5) = 32 messages
    sched = Schedule(7.0, 3, Window(100, 100, 100 + 3 * NS // 2))
    assert [sched.messages_per_producer(p) for p in range(3)] == [11, 11, 10]
    assert len(list(sched.merged(range(3)))) == 32


def test_empty_window_sends_nothing():
    sched = Schedule(100.0, 5, Window(10, 10, 10))
    assert [sched.messages_per_producer(p) for p in range(5)] == [0] * 5
    assert list(sched.merged(range(5))) == []


def test_intended_times_are_strictly_before_the_end():
    # 3 msg/s, window of 666_666_667 ns: k=2 is meant for 666_666_666.67 ns -> 666_666_667
    sched = Schedule(3.0, 1, Window(0, 0, 666_666_667))
    times = [t for t, _, _ in sched.merged(range(1))]
    assert times and all(t < sched.window.end_ns for t in times)


def test_scheduler_busy_is_the_share_without_slack() -> None:
    from pytest_frida.workload.producer_effort import scheduler_busy

    assert abs(scheduler_busy(10.0, 9.0) - 0.1) < 1e-9  # slept 90%: a relaxed loop
    assert scheduler_busy(10.0, 0.0) == 1.0  # never slept: no slack at all
    assert scheduler_busy(10.0, 10.4) == 0.0  # oversleeping is not negative work
    assert scheduler_busy(0.0, 0.0) == 0.0
