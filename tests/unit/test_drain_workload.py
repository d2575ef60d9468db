"""The drain workload and the lag in time, without a broker: the consumers' time lag, a
held consumer's figures, the drain's rates, its settings and its report."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.config import OPTIONS, SettingsError, build_settings
from pytest_frida.controller.consumer_figures import consumers_drain
from pytest_frida.controller.verdicts import attribute_step
from pytest_frida.measure.accounting import DeliveryCounts
from pytest_frida.measure.drain import ConsumerDrain, describe, drain_figures, merge_lag_series
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.slo import parse_slo
from pytest_frida.measure.verdict import ConsumerFacts
from pytest_frida.preview import preview_test
from pytest_frida.report.capacity import limits_by_test
from pytest_frida.report.compare import compare, parse_thresholds
from pytest_frida.report.history import HistoryEntry, entries_for_run, workload_plan
from pytest_frida.report.html import render
from pytest_frida.report.model import RunInfo
from pytest_frida.report.summary import format_table
from pytest_frida.report.writer import ReportWriter
from pytest_frida.workload.consumer_books import Books
from pytest_frida.workload.consumer_lag import (
    LagSampler,
    lag_series,
    time_lag_figures,
    time_lag_ns,
)
from pytest_frida.workload.drivers.base import Consumer
from pytest_frida.workload.messages import lane_of, pack_header
from pytest_frida.workload.schedule import Window

S = 1_000_000_000

# -- the lag in time -----------------------------------------------------------------


@given(
    now=st.integers(0, 10**12),
    origin=st.integers(0, 10**12),
    lags=st.dictionaries(st.integers(0, 7), st.integers(0, 100)),
    positions=st.dictionaries(st.integers(0, 7), st.integers(0, 10**12)),
)
def test_the_time_lag_is_the_oldest_position_still_behind(
    now: int, origin: int, lags: dict[int, int], positions: dict[int, int]
) -> None:
    got = time_lag_ns(now, lags, positions, origin)
    behind = [p for p, n in lags.items() if n > 0]
    assert got >= 0
    if not behind:  # read everything written: no lag, however old its position
        assert got == 0
    else:
        assert got == max(0, max(now - positions.get(p, origin) for p in behind))
    # later, with the same positions, it is never smaller
    assert time_lag_ns(now + S, lags, positions, origin) >= got


def tick(pid: int, seq: int, intended_ns: int) -> bytes:
    return pack_header(pid, seq, intended_ns, intended_ns) + bytes(64)


def test_books_keep_where_each_partition_is_read_in_time() -> None:
    books = Books(3)
    assert books.time_lag(10 * S, {0: 5}) is None  # before the start: no schedule yet
    books.start(Window.of(1 * S, 0.0, 10.0), [[0, 2, 1000]])  # producers 0, 1: +1 us
    books.take([tick(0, 0, 2 * S), tick(1, 0, 3 * S), tick(0, 1, 4 * S)], 5 * S)
    assert books.positions == {
        lane_of(0, 0, 3): 2 * S + 1000,
        lane_of(1, 0, 3): 4 * S + 1000,  # producer 0's message 1 shares producer 1's lane
    }
    # partition 2 unread yet: its lag runs from the start
    assert books.time_lag(6 * S, {0: 1, 1: 1, 2: 1}) == 5 * S
    assert books.time_lag(6 * S, {0: 1, 1: 0, 2: 0}) == 4 * S - 1000
    assert books.time_lag(6 * S, {0: 0, 1: 0, 2: 0}) == 0


class Lagging(Consumer):
    def __init__(self) -> None:
        self.partitions = [0, 1]
        self.topic_partitions = 2

    def poll(self, timeout_s: float) -> list[bytes]:
        return []

    def lag(self) -> dict[int, int] | None:
        return {0: 3, 1: 0}

    def received(self) -> dict[int, int]:
        return {}

    def close(self) -> None:
        pass


def test_the_sampler_takes_the_lag_in_time_with_each_sample() -> None:
    seen: list[dict[int, int]] = []

    def behind(now_ns: int, lags: dict[int, int]) -> int:
        seen.append(lags)
        return 42

    sampler = LagSampler(Lagging(), every_s=30.0, time_lag=behind)
    sampler.start()
    assert sampler.sample_after(time.time_ns(), 20.0)
    assert sampler.stop(5.0)
    assert seen[0] == {0: 3, 1: 0}
    assert [t for t, _ in sampler.time_samples] == [t for t, _ in sampler.samples]
    assert {lag for _, lag in sampler.time_samples} == {42}


def test_time_lag_figures_and_series() -> None:
    w = Window.of(0, 1.0, 2.0)  # measured from 1 s to 3 s
    samples = [(S // 2, 900 * 10**6), (2 * S, 40 * 10**6), (3 * S, 7 * 10**6)]
    assert time_lag_figures(samples, w) == 40.0  # before the window does not count
    assert time_lag_figures([], w) is None
    assert lag_series([(S, 5), (2 * S, 9)], [(2 * S, 1_500_000)], 0) == [
        [1.0, 5, None],
        [2.0, 9, 1.5],
    ]


# -- the drain's figures -------------------------------------------------------------


def test_drain_rates_overall_and_per_consumer() -> None:
    got = drain_figures(
        [
            ConsumerDrain("c0", 60_000, 2.0, 0.95, "complete"),
            ConsumerDrain("c1", 40_000, 4.0, 0.40, "complete"),
        ],
        100_000,
        [],
    )
    assert got["rate"] == 25_000.0 and got["rate_per_consumer"] == 12_500.0
    assert got["seconds"] == 4.0 and got["messages"] == 100_000 and got["complete"]
    assert [c["rate"] for c in got["per_consumer"]] == [30_000.0, 10_000.0]
    assert got["consumer_bound"] and "c0 saturated" in got["bound"]
    assert "not the cluster's" in got["bound"]
    assert "consumer-side capacity" in got["measures"]
    assert describe(got).startswith("drain: 2 consumer(s) read 100000 msgs in 4s: 25000 msg/s")


def test_consumers_with_slack_do_not_blame_anyone_in_particular() -> None:
    got = drain_figures([ConsumerDrain("c0", 10, 1.0, 0.3, "stalled")], 12, [])
    assert not got["consumer_bound"] and not got["complete"]
    assert "had slack" in got["bound"] and "broker's" not in got["bound"]
    assert "(incomplete)" in describe(got)


def test_a_drain_that_read_nothing_has_no_rate() -> None:
    got = drain_figures([ConsumerDrain("c0", 0, 0.0, 0.0, "stalled")], 0, [])
    assert got["rate"] is None and "read nothing" in describe(got)


@given(
    st.lists(
        st.lists(
            st.tuples(st.floats(0, 100), st.integers(0, 10**6), st.none() | st.floats(0, 1e5))
        ),
        max_size=4,
    )
)
def test_merged_lag_series_sum_messages_per_second(
    series: list[list[tuple[float, int, float | None]]],
) -> None:
    merged = merge_lag_series([[list(r) for r in rows] for rows in series])
    assert [row[0] for row in merged] == sorted({int(t) for rows in series for t, _, _ in rows})
    for second, msgs, worst in merged:
        last = {}  # each consumer's latest sample in that second or the one before
        for who, rows in enumerate(series):
            upto = [
                (int(t), i) for i, (t, _, _) in enumerate(rows) if second - 1 <= int(t) <= second
            ]
            if upto:
                _, i = max(upto)
                last[who] = rows[i][1:]
        assert msgs == sum(m for m, _ in last.values())
        times = [ms for _, ms in last.values() if ms is not None]
        assert worst == (max(times) if times else None)


# -- settings ------------------------------------------------------------------------


def build(cli: dict[str, str] | None = None) -> object:
    return build_settings(
        {**{o.name: None for o in OPTIONS}, **(cli or {})}, {o.name: "" for o in OPTIONS}
    )


@pytest.fixture
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("_in_tmp")
def test_drain_from_the_marker_and_the_command_line() -> None:
    settings = build()
    assert not settings.defaults.drain  # type: ignore[attr-defined]
    assert settings.plan_for({"drain": True, "consumers": 2}).drain  # type: ignore[attr-defined]
    assert build({"drain": "yes"}).plan_for({"drain": False}).drain  # type: ignore[attr-defined]
    with pytest.raises(SettingsError, match=r"--frida-drain='soon': expected yes or no"):
        build({"drain": "soon"})
    with pytest.raises(SettingsError, match=r"capacity marker argument drain='x'"):
        settings.plan_for({"drain": "x"})  # type: ignore[attr-defined]


def test_a_drain_is_never_searched_over_producers() -> None:
    with pytest.raises(SettingsError, match=r"capacity marker: drain steps with search=1:64"):
        build().plan_for({"drain": True, "search": "1:64:10%"})  # type: ignore[attr-defined]
    with pytest.raises(SettingsError, match=r"--frida-drain/--frida-search: drain steps"):
        build({"drain": "yes", "search": "1:64"})


# -- the report ----------------------------------------------------------------------


def drain_step(consumers: int, rate: float) -> StepResult:
    step = StepResult("t.py::test_drain[producers=2]", 2, 5000.0, 8.0, 2.0, 256, 3, "loss==0")
    step.counts = DeliveryCounts(100, 100, 100, 0, 0, 0)
    step.verdicts = parse_slo("loss==0").evaluate(step.slo_metrics())
    step.verdict = "pass"
    step.drain = drain_figures(
        [
            ConsumerDrain(f"c{i}", 100 // consumers, 100 / rate, 0.5, "complete")
            for i in range(consumers)
        ],
        100,
        [[0, 50, 500.0], [1, 100, 1000.0], [2, 0, 0.0]],
    )
    return step


@pytest.fixture
def info() -> RunInfo:
    return RunInfo(
        run_id="20250101-000000-abcd",
        started_at="2025-01-01T00:00:00+00:00",
        site="local",
        client="confluent-kafka",
        kafka_version="4.4.0",
        settings={"brokers": 1},
    )


def test_a_drain_step_in_every_report(tmp_path: Path, info: RunInfo) -> None:
    steps = [drain_step(1, 50.0), drain_step(2, 80.0)]
    assert limits_by_test(steps) == []  # no producer limit: consumer-side capacity
    lines = format_table(steps)
    assert any("drain: 1 consumer(s) read 100 msgs in 2s: 50 msg/s" in line for line in lines)
    assert any("drain: 2 consumer(s)" in line and "40 per consumer" in line for line in lines)
    writer = ReportWriter(tmp_path)
    writer.write(info, steps)
    rows = (tmp_path / "steps.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert header.index("drain_rate") > 0
    assert [row.split(",")[header.index("drain_consumers")] for row in rows[1:]] == ["1", "2"]
    doc = json.loads((tmp_path / "report.json").read_text())
    assert [s["drain"]["rate"] for s in doc["steps"]] == [50.0, 80.0]
    page = render(info, steps, [], [])
    assert "<h3>Drain</h3>" in page and "Consumer-side capacity" in page
    assert "Capacity limit" not in page
    assert workload_plan(info, steps)["drain"] is True
    plain = StepResult("t.py::test[producers=2]", 2, 5000.0, 8.0, 2.0, 256, 3, "loss==0")
    assert "drain" not in workload_plan(info, [plain])


def test_a_drain_steps_consumers_were_idle_in_its_window() -> None:
    # their busy share is the drain's, after the window: it names nothing in the window
    step = drain_step(1, 50.0)
    step.resources = {"sources": {"broker-0": {"figures": {"handler_idle": {"mean": 0.9}}}}}
    step.generators = [{"busy": 0.2, "cpu_share": 0.1}]
    step.consumers = [{"busy": 0.99, "cpu_share": 0.9}]
    attribute_step(step, None, frozenset())
    assert "consumer" not in str(step.attribution.get("resource"))
    step.drain = {}
    attribute_step(step, None, frozenset())
    assert step.attribution["resource"] == "consumer agents"


def test_a_consumer_that_skipped_a_second_still_counts_in_it() -> None:
    merged = merge_lag_series(
        [[[0.2, 10, 5.0], [1.1, 20, 6.0], [2.05, 30, 7.0]], [[0.9, 1, None], [2.95, 3, 9.0]]]
    )
    assert merged == [[0, 11, 5.0], [1, 21, 6.0], [2, 33, 9.0]]
    # a consumer whose drain ended stops sampling: its last figure is not carried on
    ended = merge_lag_series([[[0.5, 4, 1.0]], [[0.5, 1, None], [2.5, 1, None], [3.5, 1, None]]])
    assert ended == [[0, 5, 1.0], [2, 1, None], [3, 1, None]]


@pytest.mark.usefixtures("_in_tmp")
def test_the_plan_says_a_test_runs_drain_steps() -> None:
    settings = build()
    drain = preview_test("t", settings.plan_for({"drain": True}))  # type: ignore[attr-defined]
    live = preview_test("t", settings.plan_for({}))  # type: ignore[attr-defined]
    assert "drain steps" in drain.lines[0] and "drain" not in live.lines[0]


def test_an_agent_that_did_not_hold_its_reads_gives_no_drain_rate() -> None:
    # an agent image older than drain steps ignores `hold` and reads while producers send
    old: dict[str, object] = {"agent": "step1-consumer-0", "drain_stop": "complete"}
    got = consumers_drain([old], [ConsumerFacts("step1-consumer-0", busy=0.5)], 100)  # type: ignore[list-item]
    assert got["rate"] is None and "step1-consumer-0 did not hold its reads" in got["detail"]
    assert describe(got).startswith("drain: 1 consumer(s): step1-consumer-0 did not hold")


def _drain_run(run_id: str, verdicts: list[tuple[int, str]]) -> list[HistoryEntry]:
    steps = []
    for producers, verdict in verdicts:
        step = StepResult(
            test=f"t.py::test_drain[producers={producers}]",
            producers=producers,
            rate_per_producer=100,
            duration_s=1,
            warmup_s=0,
            message_size=64,
            partitions=1,
            slo="p99<=250ms",
            drain={"rate": 1000.0},
        )
        step.verdict, step.latency = verdict, {"p50": 50.0, "p99": 200.0, "max": 240.0}
        steps.append(step)
    info = RunInfo(
        run_id, f"2026-12-0{run_id[-1]}", "local", "c", "4.4.0", {"brokers": 1}, status="finished"
    )
    return entries_for_run(info, steps)


def test_a_drain_test_has_no_producer_limit_in_the_history_nor_in_the_gate() -> None:
    passed = [(n, "pass") for n in (32, 32, 64, 64)]
    (entry,) = _drain_run("r1", passed)
    assert (entry.limit["status"], entry.limit_value) == ("no_data", None)
    # its latency is the backlog's wait by design: nothing the p99 gate reads
    assert [s["latency_judged"] for s in entry.steps] == [False] * 4
    assert entry.judged_steps(32) == []
    (current,) = _drain_run("r2", [(32, "pass"), (32, "pass"), (48, "fail"), (48, "fail")])
    # a drain entry recorded with a "limit" of 64 is no baseline of one either
    recorded = replace(entry, limit={**entry.limit, "status": "not_reached", "limit": 64})
    changes = compare(current, recorded, parse_thresholds("capacity:10%,p99:10%"))
    assert [c.what for c in changes if c.failed] == []
    assert "capacity limit" not in [c.what for c in changes]
