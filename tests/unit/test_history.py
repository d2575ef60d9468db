"""History store: append-only, strict about what it reads, keeps the whole plan."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_frida.measure.accounting import DeliveryCounts
from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.measure.result import StepResult
from pytest_frida.report.history import (
    HISTORY_SCHEMA,
    History,
    HistoryEntry,
    HistoryError,
    baseline_for,
    differences,
    entries_for_run,
    like_runs,
    plan_differs,
)
from pytest_frida.report.model import RunInfo

MACHINE = {
    "hostname": "ci-1",
    "platform": "Linux",
    "cpus": 2,
    "memory_mib": 7900,
    "cpu_model": "AMD EPYC 7B13",
    "memory_gib": 8,
    "python": "3.11.9",
}


def run(
    run_id: str,
    verdicts: dict[int, tuple[str, float]],
    site: str = "local",
    started: str = "2026-01-01T00:00:00+00:00",
    rate: float = 1,
    kafka: str = "4.4.0",
    broker_config: dict[str, str] | None = None,
    commit: str = "abc",
    samples: int = 0,
    **info_fields: Any,
) -> tuple[RunInfo, list[StepResult]]:
    info_fields.setdefault("machine", dict(MACHINE))
    info = RunInfo(
        run_id=run_id,
        started_at=started,
        site=site,
        client="c",
        kafka_version=kafka,
        status="finished",
        commit=commit,
        settings={
            "brokers": 1,
            "broker_config": broker_config or {},
            **info_fields.pop("settings", {}),
        },
        **info_fields,
    )
    steps = []
    for producers, (verdict, p99) in verdicts.items():
        s = StepResult(
            test=f"t.py::cap[producers={producers}]",
            producers=producers,
            rate_per_producer=rate,
            duration_s=1,
            warmup_s=0,
            message_size=64,
            partitions=1,
            slo="p99<=1s",
            producer_config={"acks": "all"},
        )
        s.verdict, s.latency = verdict, {"p50": p99 / 2, "p99": p99, "max": p99 * 2}
        s.counts = DeliveryCounts(10, 10, 10, 0, 0, 0)
        if samples:
            hist = LatencyHistogram()
            hist.record_batch_us(np.linspace(1, p99 * 1000 / 0.99, samples).astype(np.int64))
            s.histograms = {"e2e": hist.encode()}
            s.latency = {k: v for k, v in hist.summary_ms().items() if v is not None}
        steps.append(s)
    return info, steps


def entry_of(*args: Any, **kwargs: Any) -> HistoryEntry:
    (entry,) = entries_for_run(*run(*args, **kwargs))
    return entry


def test_append_and_load_round_trip(tmp_path: Path) -> None:
    history = History(tmp_path)
    info, steps = run("r1", {1: ("pass", 5.0), 10: ("fail", 50.0)})
    history.append(entries_for_run(info, steps))
    (entry,) = history.load()
    assert (entry.run_id, entry.test, entry.site, entry.commit) == (
        "r1",
        "t.py::cap",
        "local",
        "abc",
    )
    assert entry.schema == HISTORY_SCHEMA == 3
    assert entry.limit_value == 1
    assert entry.latency_at(10, "p99_ms") == 50.0


def test_a_suite_that_moved_keeps_its_baseline(tmp_path: Path) -> None:
    """Entries written while the capacity suites lived in tests/capacity are read under
    their examples/capacity ids, so the next run's comparison still finds them; the file
    keeps what was written."""
    history = History(tmp_path)
    info, steps = run("r1", {1: ("pass", 5.0), 10: ("fail", 50.0)})
    (old,) = entries_for_run(info, steps)
    old.test = "tests/capacity/test_host_limit.py::test_host_capacity[search=4:64:10%]"
    other = entry_of("r2", {1: ("pass", 5.0)})
    other.test = "tests/integration/test_x.py::cap"
    history.append([old, other])
    moved, kept = history.load()
    assert moved.test == "examples/capacity/test_host_limit.py::test_host_capacity[search=4:64:10%]"
    assert kept.test == "tests/integration/test_x.py::cap"
    assert "tests/capacity/test_host_limit.py" in history.path.read_text()
    (new,) = entries_for_run(
        *run("r3", {1: ("pass", 5.0), 10: ("fail", 50.0)}, started="2026-01-02T00:00:00+00:00")
    )
    new.test = moved.test
    assert baseline_for([moved, kept], new, "last") is moved


def test_entry_keeps_the_whole_plan_and_the_system(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.append(
        entries_for_run(*run("r1", {1: ("pass", 5.0)}, broker_config={"num.io.threads": "8"}))
    )
    (entry,) = history.load()
    assert entry.plan == {
        "rate": 1,
        "duration": 1,
        "warmup": 0,
        "message_size": 64,
        "partitions": 1,
        "brokers": 1,
        "replication": 1,
        "slo": "p99<=1s",
        "producer_config": {"acks": "all"},
        "consumers": "auto",
        "client": "c",
        "site": "local",
        "workers": None,
        "runtime": None,
        "producers_per_replica": None,
        "producers_per_node": None,
        "reservation_cluster": None,
        "reservation_nodes": None,
        "reservation_consumer_node": None,
        # the machine's class, not its name: CI runners of one size compare
        "machine": {"cpu_model": "AMD EPYC 7B13", "cpus": 2, "memory_gib": 8},
    }
    assert entry.system == {
        "kafka_version": "4.4.0",
        "broker_config": {"num.io.threads": "8"},
        "commit": "abc",
    }


def test_only_the_test_of_an_unprimed_first_step_changes_its_plan() -> None:
    """Priming touches the cluster's first measured step alone: the test that ran it at
    other than the default 5 s is unlike its earlier runs; every other test, and a first
    step primed 5 s as every run before --frida-prime was, keeps its plan."""

    def entry(run_id: str, primed: float | None) -> HistoryEntry:
        info, steps = run(run_id, {1: ("pass", 5.0), 2: ("pass", 6.0)})
        steps[0].primed_s = primed
        (e,) = entries_for_run(info, steps)
        return e

    default, before_option = entry("primed", 5.0), entry("old", None)
    unprimed, longer = entry("unprimed", 0.0), entry("longer", 30.0)
    assert default.plan is not None and "first_step_primed_s" not in default.plan
    assert not plan_differs(before_option, default)
    assert plan_differs(default, unprimed) and plan_differs(unprimed, longer)
    assert "plan.first_step_primed_s: unset -> 0.0" in differences(default, unprimed)


def test_brokers_on_cores_of_their_own_are_unlike_a_shared_host() -> None:
    shared = entry_of("shared", {1: ("pass", 5.0)}, settings={"broker_cores": 0})
    before_option = entry_of("old", {1: ("pass", 5.0)})
    split = entry_of("split", {1: ("pass", 5.0)}, settings={"broker_cores": 1})
    assert not plan_differs(before_option, shared)
    assert plan_differs(shared, split)
    assert "plan.broker_cores: unset -> 1" in differences(shared, split)
    # an unmonitored broker is another setup too; monitored ones are like older runs
    quiet = entry_of("quiet", {1: ("pass", 5.0)}, settings={"monitor": False})
    watched = entry_of("watched", {1: ("pass", 5.0)}, settings={"monitor": True})
    assert plan_differs(watched, quiet) and not plan_differs(before_option, watched)


def test_replication_is_the_step_runners_min_of_three_and_the_brokers() -> None:
    brokers = [{"node_id": i, "host": "h", "port": 9092 + i} for i in range(5)]
    entry = entry_of("r1", {1: ("pass", 5.0)}, cluster={"brokers": brokers})
    assert entry.plan is not None
    assert (entry.plan["brokers"], entry.plan["replication"]) == (5, 3)
    # an xdist controller runs no cluster: its workers' clusters say how many
    entry = entry_of(
        "r2", {1: ("pass", 5.0)}, cluster={"workers": {"gw0": {"brokers": brokers[:2]}}}
    )
    assert entry.plan is not None
    assert (entry.plan["brokers"], entry.plan["replication"]) == (2, 2)


def test_steps_keep_samples_and_the_intervals_of_every_percentile() -> None:
    entry = entry_of("r1", {10: ("pass", 20.0)}, samples=5000)
    (step,) = entry.steps
    assert step["samples"] == 5000
    low, high = step["p99_ci_ms"]
    assert low < step["p99_ms"] < high
    assert entry.interval_at(10, "p99") == (low, high)
    assert step["p50_ci_ms"][0] < step["p50_ms"] < step["p50_ci_ms"][1]
    assert step["p99.9_ci_ms"][1] is None  # 5000 samples cannot bound p99.9 from above
    assert step["max_ci_ms"][1] is None  # nor the maximum, ever
    # a step without a histogram (broke off before measuring): no samples, no interval
    bare = entry_of("r2", {10: ("pass", 20.0)})
    assert bare.steps[0]["samples"] == 0 and bare.interval_at(10, "p99") == (None, None)


def test_corrupt_line_is_an_error_naming_it_and_the_file_is_untouched(tmp_path: Path) -> None:
    history = History(tmp_path)
    info, steps = run("r1", {1: ("pass", 5.0)})
    history.append(entries_for_run(info, steps))
    with open(history.path, "a") as fh:
        fh.write("{not json\n")
    before = history.path.read_bytes()
    with pytest.raises(HistoryError, match=r"history.jsonl:2: not JSON"):
        history.load()
    assert history.path.read_bytes() == before


@pytest.mark.parametrize("schema", [99, 0, "2", None, True])
def test_unknown_schema_is_an_error_naming_file_and_line(tmp_path: Path, schema: Any) -> None:
    (tmp_path / "history.jsonl").write_text("\n" + json.dumps({"schema": schema}) + "\n")
    with pytest.raises(HistoryError, match=rf"history.jsonl:2: history schema {schema!r}"):
        History(tmp_path).load()


SCHEMA_1 = {
    "run_id": "old",
    "started_at": "2025-12-01T00:00:00+00:00",
    "status": "finished",
    "site": "local",
    "client": "c",
    "kafka_version": "4.4.0",
    "commit": "abc",
    "test": "t.py::cap",
    "limit": {"status": "bracketed", "limit": 1, "last_pass": 1, "first_fail": 10},
    "steps": [
        {
            "producers": 1,
            "verdict": "pass",
            "latency_judged": True,
            "achieved_rate": 1.0,
            "p50_ms": 2.0,
            "p90_ms": 4.0,
            "p99_ms": 5.0,
            "p99.9_ms": 6.0,
            "max_ms": 7.0,
        }
    ],
    "schema": 1,
}


def test_schema_1_loads_and_is_never_a_like_baseline(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.path.write_text(json.dumps(SCHEMA_1) + "\n")
    history.append(entries_for_run(*run("r1", {1: ("pass", 5.0)})))
    old, current = history.load()
    assert (old.schema, old.plan, old.system) == (1, None, None)
    assert old.latency_at(1, "p99_ms") == 5.0 and old.interval_at(1, "p99") == (None, None)
    assert baseline_for([old, current], current, "last") is None
    assert baseline_for([old, current], current, "old") is old  # named: used all the same
    assert differences(old, current) == []  # nothing to list: it has no plan


def test_last_is_the_latest_earlier_run_of_the_same_plan_and_kafka_version() -> None:
    entries = [
        entry_of("r1", {1: ("pass", 5.0)}, started="2026-01-01"),
        entry_of("r2", {1: ("pass", 5.0)}, started="2026-01-02", rate=2),  # another plan
        entry_of("r3", {1: ("pass", 5.0)}, started="2026-01-03", site="docker"),
        entry_of("r4", {1: ("pass", 5.0)}, started="2026-01-04", kafka="4.3.0"),
        entry_of(
            "r5",
            {1: ("pass", 5.0)},
            started="2026-01-05",
            commit="def",
            broker_config={"num.io.threads": "16"},
        ),  # what a comparison is for
        entry_of("r6", {1: ("pass", 5.0)}, started="2026-01-06"),
        entry_of("r7", {1: ("pass", 5.0)}, started="2026-01-09"),  # later than the current
    ]
    current = entries[5]
    assert baseline_for(entries, current, "last") is entries[4]
    assert baseline_for(entries, current, None) is entries[4]
    assert baseline_for(entries[:4] + entries[5:], current, "last") is entries[0]
    assert baseline_for(entries, current, "r2") is entries[1]  # named: any plan
    assert baseline_for(entries, current, "nope") is None
    assert [e.run_id for e in like_runs(entries, current)] == ["r1", "r5"]


def test_differences_name_each_field_old_and_new() -> None:
    base = entry_of("a", {1: ("pass", 5.0)}, rate=1, kafka="4.3.0")
    cur = entry_of(
        "b", {1: ("pass", 5.0)}, rate=2, commit="def", broker_config={"num.io.threads": "16"}
    )
    assert differences(base, cur) == [
        "plan.rate: 1 -> 2",
        "system.kafka_version: 4.3.0 -> 4.4.0",
        "system.broker_config.num.io.threads: unset -> 16",
        "system.commit: abc -> def",
    ]
    assert differences(base, base) == []


def test_runners_of_one_machine_class_are_like_whatever_their_names() -> None:
    a = entry_of("r1", {1: ("pass", 5.0)})
    b = entry_of(
        "r2",
        {1: ("pass", 5.0)},
        started="2026-01-02T00:00:00+00:00",
        machine={**MACHINE, "hostname": "ci-2", "memory_mib": 7893},
    )
    assert baseline_for([a], b, "last") is a
    bigger = entry_of(
        "r3",
        {1: ("pass", 5.0)},
        started="2026-01-03T00:00:00+00:00",
        machine={**MACHINE, "cpus": 8},
    )
    assert baseline_for([a], bigger, "last") is None


def test_a_count_measured_thrice_is_read_at_its_majority() -> None:
    info, steps = run("r1", {10: ("fail", 900.0)})
    again = [
        StepResult(**{**vars(steps[0]), "verdict": v, "latency": {"p99": p}})
        for v, p in (("pass", 20.0), ("pass", 25.0))
    ]
    (entry,) = entries_for_run(info, [*steps, *again])
    # the one-off failure at 900 ms is outvoted: the comparison reads the value two of
    # the three trials reached (the lower median)
    assert entry.latency_at(10, "p99_ms") == 25.0


def test_latency_measured_around_a_loss_a_busy_generator_or_untrusted_clocks_is_not_read() -> None:
    from pytest_frida.measure.slo import ClauseVerdict, parse_slo

    info, steps = run("r1", {10: ("pass", 20.0)})
    ok = steps[0]
    (loss,) = parse_slo("loss==0").clauses
    lost = StepResult(
        **{**vars(ok), "verdict": "fail", "latency": {"p99": 5.0},
           "verdicts": [ClauseVerdict(loss, 3.0)]}
    )  # fmt: skip
    busy = StepResult(**{**vars(ok), "latency": {"p99": 4.0}, "generator_bound": True})
    skewed = StepResult(**{**vars(ok), "latency": {"p99": 3.0}, "clocks": {"trusted": False}})
    (entry,) = entries_for_run(info, [ok, lost, busy, skewed])
    assert [s["latency_judged"] for s in entry.steps] == [True, False, False, False]
    assert entry.latency_at(10, "p99_ms") == 20.0


def test_a_count_is_read_at_the_value_most_of_its_trials_reached() -> None:
    entry = entry_of("r1", {10: ("pass", 20.0)})
    (step,) = entry.steps
    entry.steps = [{**step, "p99_ms": p, "p99_ci_ms": [p - 1, p + 1]} for p in (12.0, 31.9, 14.0)]
    # one slow trial of three (a step the scheduler starved) is not the count's value
    assert entry.latency_at(10, "p99_ms") == 14.0
    assert entry.interval_at(10, "p99") == (13.0, 15.0)  # the interval of that trial
    entry.steps = entry.steps[:2]  # of two, the value both reached
    assert entry.latency_at(10, "p99_ms") == 12.0
    entry.steps = [{**step, "p99_ms": None}, {**step, "p99_ms": 9.0}]
    assert entry.latency_at(10, "p99_ms") == 9.0  # a trial without the figure is skipped


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"verdict": "pass"}, "step 0 lacks an integer producers or a verdict"),
        ({"producers": 4}, "step 0 lacks an integer producers or a verdict"),
        ({"producers": 4, "verdict": "pass", "p99_ms": "slow"}, "p99_ms is 'slow', not a number"),
    ],
)
def test_a_history_step_the_gate_cannot_read_is_an_error_naming_the_line(
    tmp_path: Path, step: dict[str, Any], problem: str
) -> None:
    good = entry_of("r1", {10: ("pass", 20.0)})
    History(tmp_path).append([good])
    line = json.loads((tmp_path / "history.jsonl").read_text())
    bad = {**line, "run_id": "r2", "steps": [step]}
    with open(tmp_path / "history.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(bad) + "\n")
    with pytest.raises(
        HistoryError, match=f"history.jsonl:2: not a history entry.*{re.escape(problem)}"
    ):
        History(tmp_path).load()
