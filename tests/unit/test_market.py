"""Market workloads: the schedule's counts, times and rates, instrument shares, the lanes
both sides agree on, and the options that ask for them."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.config import SettingsError, StepPlan
from pytest_frida.config.build import build_settings
from pytest_frida.config.options import OPTIONS
from pytest_frida.config.settings import FridaSettings
from pytest_frida.controller.merge import unanswered_ages
from pytest_frida.measure.accounting import SequenceTracker
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.slo import parse_slo
from pytest_frida.report.history import HistoryEntry, differences, plan_differs, workload_plan
from pytest_frida.report.html import render
from pytest_frida.report.model import RunInfo
from pytest_frida.report.summary import largest_workload, market_workload, workload_lines
from pytest_frida.report.writer import step_row
from pytest_frida.workload.arrivals import (
    Arrivals,
    MarketSpec,
    parse_arrivals,
)
from pytest_frida.workload.consumer_books import Books
from pytest_frida.workload.drain import DrainCheck
from pytest_frida.workload.instruments import Instruments
from pytest_frida.workload.market import (
    MarketSchedule,
    prepared_sends,
    schedule_for,
    workload_figures,
)
from pytest_frida.workload.messages import pack_header
from pytest_frida.workload.protocol import ProducerResult
from pytest_frida.workload.schedule import NS, Schedule, Window


def build(cli: dict[str, str] | None = None, ini: dict[str, str] | None = None) -> FridaSettings:
    all_none: dict[str, str | None] = {o.name: None for o in OPTIONS}
    all_empty: dict[str, str | None] = {o.name: "" for o in OPTIONS}
    return build_settings({**all_none, **(cli or {})}, {**all_empty, **(ini or {})})


BURSTS = st.builds(
    Arrivals,
    st.just("burst"),
    st.floats(1.5, 8.0),
    st.floats(0.1, 0.9),
    st.just(1.0),
).map(lambda a: Arrivals("burst", a.factor, a.burst_s * 2.0, 2.0))

SPECS = st.builds(
    MarketSpec,
    st.integers(8, 200),
    st.sampled_from([0.0, 0.5, 1.0, 1.1, 2.0]),
    st.one_of(st.just(Arrivals()), st.just(Arrivals("poisson")), BURSTS),
    st.integers(0, 5),
)


def intensity_integral(arrivals: Arrivals, rate: float, t: float) -> float:
    """Messages a producer of mean `rate` is due to have sent by t seconds from t0."""
    if arrivals.kind != "burst":
        return rate * t
    base = rate / (1.0 + (arrivals.factor - 1.0) * arrivals.burst_s / arrivals.period_s)
    whole, rest = divmod(t, arrivals.period_s)
    in_burst = min(rest, arrivals.burst_s)
    return (
        whole * rate * arrivals.period_s
        + in_burst * arrivals.factor * base
        + (rest - in_burst) * base
    )


@settings(max_examples=40, deadline=None)
@given(
    spec=SPECS,
    producers=st.integers(1, 8),
    rate=st.floats(5.0, 400.0),
    t0=st.integers(0, 10**15),
)
def test_times_are_in_the_window_non_decreasing_and_counted(spec, producers, rate, t0):
    window = Window.of(t0, 0.5, 3.0)
    schedule = MarketSchedule(spec, rate, producers, window)
    for p in range(producers):
        times = schedule.times(p)
        assert schedule.messages_per_producer(p) == len(times)
        if len(times):
            assert t0 <= times[0] and times[-1] < window.end_ns
            assert bool(np.all(np.diff(times) >= 0))
            assert schedule.intended_ns(p, len(times) - 1) == int(times[-1])
        if spec.arrivals.kind != "poisson":
            # the rate it promises over the window, within rounding: the intensity's
            # integral, less the producer's phase, rounded up
            due = intensity_integral(spec.arrivals, schedule.producer_rate(p), 3.5) - p / producers
            assert abs(len(times) - math.ceil(due)) <= 1


@settings(max_examples=30, deadline=None)
@given(spec=SPECS, producers=st.integers(1, 8))
def test_the_load_stays_producers_times_rate(spec, producers):
    # the instruments split the step's load; they never add to it
    instruments = Instruments(spec, producers)
    shares = [instruments.rate_share(p) for p in range(producers)]
    assert math.isclose(math.fsum(shares), producers, rel_tol=1e-12)
    if spec.instruments is not None and spec.popularity > 0:
        assert shares[0] == max(shares)  # the top instrument's producer sends the most


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_poisson_keeps_its_mean_rate(seed):
    # 20 producers at 500 msg/s for 10 s: 100,000 expected; a Poisson count is within
    # 5 standard deviations (about 1,600) with probability 1 - 6e-7, fixed seeds
    spec = MarketSpec(None, 0.0, Arrivals("poisson"), seed)
    schedule = MarketSchedule(spec, 500.0, 20, Window.of(0, 0.0, 10.0))
    total = sum(schedule.messages_per_producer(p) for p in range(20))
    assert abs(total - 100_000) <= 5 * math.sqrt(100_000)
    gaps = np.diff(schedule.times(0)) / NS
    assert abs(gaps.mean() - 1 / 500) < 5 * (1 / 500) / math.sqrt(len(gaps))
    # the same seed gives the same times on the controller; another seed others
    again = MarketSchedule(spec, 500.0, 20, Window.of(0, 0.0, 10.0))
    assert np.array_equal(again.times(7), schedule.times(7))
    other = MarketSchedule(
        MarketSpec(None, 0.0, Arrivals("poisson"), seed + 10), 500.0, 20, Window.of(0, 0.0, 10.0)
    )
    assert not np.array_equal(other.times(7)[:100], schedule.times(7)[:100])


@settings(max_examples=30, deadline=None)
@given(
    instruments=st.integers(1, 300),
    producers=st.integers(1, 10),
    exponent=st.sampled_from([0.0, 0.8, 1.1, 1.5]),
    count=st.integers(1, 20_000),
)
def test_each_producers_ticks_follow_its_instruments_weights(
    instruments, producers, exponent, count
):
    if instruments < producers:
        instruments = producers
    book = Instruments(MarketSpec(instruments, exponent), producers)
    for p in (0, producers - 1):
        mine = np.arange(p, instruments, producers)
        weights = (mine + 1.0) ** -exponent
        counts = np.bincount(book.instruments(p, count), minlength=instruments)[mine]
        expected = count * weights / weights.sum()
        # a low-discrepancy sequence: off by a few ticks, never by a share of the run
        assert np.abs(counts - expected).max() <= 3 + math.log2(count)
        assert set(book.instruments(p, count).tolist()) <= set(mine.tolist())


def test_zipf_top_share():
    book = Instruments(MarketSpec(16_000, 1.1), 50)
    harmonic = sum(r**-1.1 for r in range(1, 16_001))
    assert book.top_share() == pytest.approx(1 / harmonic)
    assert Instruments(MarketSpec(), 50).top_share() is None


@settings(max_examples=40, deadline=None)
@given(
    instruments=st.one_of(st.none(), st.integers(10, 100)),
    exponent=st.sampled_from([0.0, 1.1]),
    producers=st.integers(1, 10),
    partitions=st.integers(1, 12),
    sent=st.lists(st.integers(0, 400), min_size=1, max_size=10),
    data=st.data(),
)
def test_lanes_agree_everywhere(instruments, exponent, producers, partitions, sent, data):
    """The producer's sends, its partition counts, a consumer's drain and the trackers'
    lanes all follow `Instruments.lane`."""
    spec = MarketSpec(instruments, exponent if instruments else 0.0)
    book = Instruments(spec, producers)
    counts = {p: sent[p % len(sent)] for p in range(producers)}
    brute = dict.fromkeys(range(partitions), 0)
    for p, n in counts.items():
        lanes = book.lanes(p, n, partitions)
        assert lanes.tolist() == [book.lane(p, k, partitions) for k in range(n)]
        if instruments is not None:
            assert lanes.tolist() == [book.instrument(p, k) % partitions for k in range(n)]
        for lane in lanes.tolist():
            brute[lane] += 1
    assert book.partition_counts(counts, partitions) == brute
    mine = data.draw(st.lists(st.integers(0, partitions - 1), min_size=1, unique=True))
    check = DrainCheck(
        {str(p): {"sent": n, "not_acked": []} for p, n in counts.items()}, mine, partitions, book
    )
    assert check.wanted == sum(
        1 for p, n in counts.items() for k in range(n) if book.lane(p, k, partitions) in mine
    )


def test_a_consumer_tracks_order_per_instrument_partition():
    # producer 0 holds instruments 0 and 2 (of 4, over 2 producers) on 4 partitions: its
    # messages interleave partitions 0 and 2; arriving partition by partition is in order
    spec = MarketSpec(4, 0.0)
    book = Instruments(spec, 2)
    books = Books(4, book)
    seqs = range(40)
    by_lane = sorted(seqs, key=lambda k: (book.lane(0, k, 4), k))
    assert {book.lane(0, k, 4) for k in seqs} == {0, 2}
    books.take([pack_header(0, k, 1, 1) for k in by_lane], 2)
    assert books.trackers[0].out_of_order == 0
    plain = SequenceTracker(4)  # round-robin lanes would call that out of order
    for k in by_lane:
        plain.see(k)
    assert plain.out_of_order > 0


@settings(max_examples=15, deadline=None)
@given(spec=SPECS, producers=st.integers(1, 6), t0=st.integers(0, 10**15))
def test_prepared_sends_are_the_schedule_at_the_start(spec, producers, t0):
    prepared = prepared_sends(spec, 50.0, producers, 0.5, 1.5, range(producers))
    schedule = MarketSchedule(spec, 50.0, producers, Window.of(t0, 0.5, 1.5))
    assert list(prepared(t0)) == list(schedule.merged(range(producers)))


def test_the_default_is_todays_schedule():
    window = Window.of(0, 1.0, 2.0)
    assert MarketSpec().is_default()
    assert isinstance(schedule_for(MarketSpec(), 10.0, 3, window), Schedule)
    # poisson alone keeps one stream per producer and round-robin lanes
    poisson = MarketSpec(None, 0.0, Arrivals("poisson"))
    assert isinstance(schedule_for(poisson, 10.0, 3, window), MarketSchedule)
    assert Instruments(poisson, 3).lane(2, 5, 4) == (2 + 5) % 4


def test_even_market_with_one_instrument_each_keeps_todays_times():
    window = Window.of(123, 1.0, 2.0)
    today = Schedule(10.0, 4, window)
    market = MarketSchedule(MarketSpec(4), 10.0, 4, window)
    assert list(market.merged(range(4))) == list(today.merged(range(4)))


def test_the_merge_recomputes_a_market_messages_intended_time():
    spec = MarketSpec(20, 1.1, parse_arrivals("burst:5x2s/10s"))
    window = Window.of(10**12, 1.0, 12.0)
    plan = StepPlan(
        producers=(2,),
        rate=100.0,
        duration=12.0,
        warmup=1.0,
        message_size=64,
        slo=parse_slo("p99 < 100ms"),
        partitions=4,
        instruments=20,
        popularity=1.1,
        arrivals=spec.arrivals,
    )
    schedule = MarketSchedule(spec, 100.0, 2, window)
    seq = schedule.messages_per_producer(0) - 3
    gave_up = window.end_ns + NS
    produced: list[ProducerResult] = [
        {
            "producers": {"0": {"sent": seq + 1, "failed": [], "unacked": [seq]}},
            "gave_up_ns": gave_up,
        }  # type: ignore[typeddict-item]
    ]
    assert unanswered_ages(plan, 2, produced, {}, window) == [
        (gave_up - schedule.intended_ns(0, seq)) // 1000
    ]


def test_setting_the_workload_by_option_and_marker(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings_ = build({"instruments": "16000", "popularity": "zipf:1.1", "arrivals": "poisson"})
    plan = settings_.plan_for({})
    assert plan.market == MarketSpec(16_000, 1.1, Arrivals("poisson"))
    marked = build().plan_for(
        {"instruments": 40, "popularity": "zipf:2", "arrivals": "burst:5x2s/10s"}
    )
    assert marked.market == MarketSpec(40, 2.0, Arrivals("burst", 5.0, 2.0, 10.0))
    assert build().plan_for({}).market.is_default()


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"arrivals": "burst:5x"}, "--frida-arrivals='burst:5x': expected even, poisson or"),
        ({"arrivals": "burst:1x2s/10s"}, "a burst needs k > 1 and 0 < s < period"),
        ({"arrivals": "burst:5x12s/10s"}, "a burst needs k > 1 and 0 < s < period"),
        ({"popularity": "zipf:0"}, "--frida-popularity='zipf:0': expected uniform or zipf:<s>"),
        ({"popularity": "pareto"}, "--frida-popularity='pareto': expected uniform or"),
        ({"instruments": "0"}, "--frida-instruments='0': expected a positive whole number"),
    ],
)
def test_bad_workload_values_are_one_line(tmp_path: Path, monkeypatch, cli, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as info:
        build(cli)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_fewer_instruments_than_producers_is_refused(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError, match=r"instruments=10: fewer instruments than the 20"):
        build({"instruments": "10"}).plan_for({})  # the default producers go up to 20
    with pytest.raises(SettingsError, match=r"instruments=30: .* 50 producers"):
        build().plan_for({"instruments": 30, "search": "1:50"})
    with pytest.raises(SettingsError, match="popularity ranks instruments"):
        build().plan_for({"popularity": "zipf:1.1"})
    assert build().plan_for({"instruments": 20}).instruments == 20


def test_a_big_schedule_holds_every_intended_time():
    """16,000 instruments, 50 producers at 2,000 msg/s for 12 s: 1.2 million intended times
    (how long they take to work out is a benchmark figure, in the note, not a test)."""
    spec = MarketSpec(16_000, 1.1, Arrivals("poisson"))
    prepared = prepared_sends(spec, 2000.0, 50, 2.0, 10.0, range(50))
    assert sum(1 for _ in prepared(0)) == pytest.approx(1_200_000, rel=0.01)


def _step(workload: dict[str, object]) -> StepResult:
    return StepResult(
        test="tests/t.py::test_md",
        producers=50,
        rate_per_producer=2000.0,
        duration_s=10.0,
        warmup_s=2.0,
        message_size=100,
        partitions=12,
        slo="p99 < 100ms",
        workload=workload,
    )


def test_the_report_states_a_market_workload_and_leaves_the_default_alone(tmp_path: Path):
    market = _step(workload_figures(MarketSpec(16_000, 1.1, Arrivals("poisson")), 50, 2000.0))
    default = _step(workload_figures(MarketSpec(), 50, 2000.0))
    older = _step({})  # recorded before workloads
    text = market_workload(market)
    assert text is not None
    assert text.startswith("16,000 instruments over the 50 producers, Zipf popularity s=1.1")
    assert "top instrument 14.7% of ticks" in text and text.endswith("Poisson arrivals, seed 1")
    assert market_workload(default) is None and market_workload(older) is None
    assert workload_lines([market, market, default]) == [f"test_md workload: {text}"]
    info = RunInfo(
        run_id="r",
        started_at="2025-01-01T00:00:00+00:00",
        site="local",
        client="kafka-python",
        kafka_version="4.4.0",
        settings={},
    )
    plan = workload_plan(info, [market])
    assert (plan["instruments"], plan["popularity"], plan["arrivals"]) == (
        16_000,
        "zipf:1.1",
        "poisson",
    )
    # runs with the default workload plan exactly as runs from before it
    assert workload_plan(info, [default]) == workload_plan(info, [older])
    row = step_row("r", market)
    assert (row["instruments"], row["popularity"], row["arrivals"]) == (
        16_000,
        "zipf:1.1",
        "poisson",
    )
    html = render(info, [market], [], [])
    assert "Workload: 16,000 instruments" in html


def test_burst_figures_report_mean_and_peak():
    figures = workload_figures(MarketSpec(arrivals=parse_arrivals("burst:5x2s/10s")), 10, 100.0)
    assert figures["mean_rate"] == 1000.0
    # base = 100 / (1 + 4 * 0.2) per producer, peak 5 x base
    assert figures["peak_rate"] == pytest.approx(10 * 5 * 100 / 1.8)
    assert "peak 2,778 msg/s" in figures["text"]


def test_the_workload_is_stated_at_the_most_producers_run():
    """The busiest producer's excess over the mean grows with the count: the line under the
    table must not state the first (smallest) step's figures for the whole test."""
    spec = MarketSpec(16_000, 1.1, Arrivals("poisson"))
    small = replace(_step(workload_figures(spec, 2, 500.0)), producers=2)
    large = replace(_step(workload_figures(spec, 96, 500.0)), producers=96)
    [line] = workload_lines([small, large, small])
    assert "over the 96 producers" in line
    assert largest_workload([small, large]) == market_workload(large)
    assert market_workload(small) != market_workload(large)


def test_the_seed_by_option_ini_and_marker(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert build().plan_for({}).market.seed == 1
    assert build({"seed": "7", "arrivals": "poisson"}).plan_for({}).market.seed == 7
    assert build(ini={"seed": "0"}).plan_for({}).seed == 0
    assert build().plan_for({"seed": 3, "arrivals": "poisson"}).market.seed == 3
    assert build().plan_for({"seed": "12"}).seed == 12
    # the command line wins over a marker, as for every marker-level option
    assert build({"seed": "5"}).plan_for({"seed": 3}).seed == 5
    # a session-wide seed is accepted by a test whose arrivals are fixed
    assert build({"seed": "9"}).plan_for({"arrivals": "burst:5x2s/10s"}).seed == 9


@pytest.mark.parametrize(
    ("cli", "ini", "message"),
    [
        ({"seed": "-1"}, {}, "--frida-seed='-1': expected a whole number >= 0"),
        ({"seed": "abc"}, {}, "--frida-seed='abc': expected a whole number >= 0"),
        ({"seed": "1.5"}, {}, "--frida-seed='1.5': expected a whole number >= 0"),
        ({}, {"seed": "x"}, "ini frida_seed='x': expected a whole number >= 0"),
    ],
)
def test_a_bad_seed_is_one_line(tmp_path: Path, monkeypatch, cli, ini, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as info:
        build(cli, ini)
    assert message in str(info.value)
    assert "(the seed of Poisson arrivals)" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("raw", [-1, 1.5, True, "", "1e3", "\u0661"])
def test_a_bad_seed_marker_is_one_line(tmp_path: Path, monkeypatch, raw):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as info:
        build().plan_for({"seed": raw, "arrivals": "poisson"})
    assert str(info.value) == (
        f"capacity marker argument seed={raw!r}: expected a whole number >= 0"
        " (the seed of Poisson arrivals)"
    )


@settings(max_examples=25, deadline=None)
@given(
    spec=SPECS,
    other=st.integers(0, 2**64),
    producers=st.integers(1, 4),
)
def test_only_poisson_arrivals_draw_from_the_seed(spec, other, producers):
    """The same seed gives the same sends; another seed other Poisson sends, and the same
    even or burst sends (those arrivals are fixed)."""

    def sends(seed: int) -> list[tuple[int, int, int]]:
        reseeded = MarketSpec(spec.instruments, spec.popularity, spec.arrivals, seed)
        return list(prepared_sends(reseeded, 50.0, producers, 0.5, 1.5, range(producers))(0))

    assert sends(spec.seed) == sends(spec.seed)
    if other == spec.seed:
        return
    if spec.arrivals.kind == "poisson":
        # about 100 exponential gaps per producer: two streams never share all their times
        assert sends(other) != sends(spec.seed)
    else:
        assert sends(other) == sends(spec.seed)


def test_the_seed_is_said_and_planned_for_poisson_arrivals_only():
    info = RunInfo(
        run_id="r",
        started_at="2025-01-01T00:00:00+00:00",
        site="local",
        client="kafka-python",
        kafka_version="4.4.0",
        settings={},
    )

    def figures(arrivals: str, seed: int) -> dict[str, object]:
        return workload_figures(MarketSpec(40, 1.1, parse_arrivals(arrivals), seed), 4, 10.0)

    def plan(arrivals: str, seed: int) -> dict[str, object]:
        return workload_plan(info, [_step(figures(arrivals, seed))])

    seven = figures("poisson", 7)
    assert seven["seed"] == 7 and str(seven["text"]).endswith("Poisson arrivals, seed 7")
    for fixed in ("even", "burst:5x2s/10s"):
        assert figures(fixed, 7)["seed"] is None
        assert "seed" not in str(figures(fixed, 7)["text"])
        # a seed fixed arrivals do not draw from leaves their plan as it was
        assert plan(fixed, 7) == plan(fixed, 1)
        assert "seed" not in plan(fixed, 7)
    # the default seed plans as every Poisson run recorded before the option
    assert "seed" not in plan("poisson", 1)
    before = _step({k: v for k, v in figures("poisson", 1).items() if k != "seed"})
    assert plan("poisson", 1) == workload_plan(info, [before])
    assert plan("poisson", 7)["seed"] == 7
    # two seeds are two loads: unlike plans, and the comparison says why

    def entry(seed: int) -> HistoryEntry:
        return HistoryEntry(
            "r", "", "passed", "local", "c", "4.4.0", None, "t", {}, plan=plan("poisson", seed)
        )

    assert plan_differs(entry(1), entry(7)) and plan_differs(entry(3), entry(7))
    assert differences(entry(1), entry(7)) == ["plan.seed: unset -> 7"]
    assert differences(entry(3), entry(7)) == ["plan.seed: 3 -> 7"]
    assert not plan_differs(entry(7), entry(7))
