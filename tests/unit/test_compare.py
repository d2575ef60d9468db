"""Comparisons: like with like, and gates that fail on regressions, not on noise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_frida.config import build_settings
from pytest_frida.measure.accounting import DeliveryCounts
from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.measure.result import StepResult
from pytest_frida.report.compare import (
    NOISE_WINDOW,
    Change,
    CompareError,
    Note,
    Threshold,
    compare,
    parse_thresholds,
)
from pytest_frida.report.history import History, HistoryEntry, baseline_for
from pytest_frida.session import FridaRun

PLAN = {
    "rate": 10.0,
    "duration": 30.0,
    "warmup": 5.0,
    "message_size": 512,
    "partitions": 6,
    "brokers": 3,
    "replication": 3,
    "slo": "p99<=250ms",
    "producer_config": {},
    "client": "kafka-python",
    "site": "local",
    "machine": {"cpu_model": "AMD EPYC 7B13", "cpus": 2, "memory_gib": 8},
}


def limit(
    status: str, value: int | None, last_pass: int | None, first_fail: int | None
) -> dict[str, Any]:
    return {"status": status, "limit": value, "last_pass": last_pass, "first_fail": first_fail}


def step(
    producers: int, p99: float, ci: tuple[float | None, float | None] | None, judged: bool = True
) -> dict[str, Any]:
    return {
        "producers": producers,
        "verdict": "pass",
        "latency_judged": judged,
        "samples": 6000,
        "p99_ms": p99,
        "p99_ci_ms": list(ci) if ci else [None, None],
    }


def entry(
    run_id: str,
    steps: list[dict[str, Any]] | None = None,
    lim: dict[str, Any] | None = None,
    started: str = "",
    kafka: str = "4.4.0",
    plan: dict[str, Any] | None = None,
    broker_config: dict[str, str] | None = None,
    commit: str = "c1",
) -> HistoryEntry:
    return HistoryEntry(
        run_id=run_id,
        started_at=started or f"2026-01-01T00:00:{run_id[-2:]}",
        status="finished",
        site="local",
        client="kafka-python",
        kafka_version=kafka,
        commit=commit,
        test="t.py::cap",
        limit=lim or limit("no_data", None, None, None),
        steps=steps or [],
        plan=dict(plan or PLAN),
        system={"kafka_version": kafka, "broker_config": broker_config or {}, "commit": commit},
    )


def only(changes: list[Change], what: str) -> Change:
    (found,) = [c for c in changes if c.what == what and not isinstance(c, Note)]
    return found


def notes(changes: list[Change]) -> list[str]:
    return [c.describe() for c in changes if isinstance(c, Note)]


def test_thresholds_parse_and_reject() -> None:
    assert [str(t) for t in parse_thresholds("capacity:10%, p99:20%")] == [
        "capacity:10%",
        "p99:20%",
    ]
    for bad in ["capacity", "p98:10%", "capacity:10", "p99:x%"]:
        with pytest.raises(CompareError):
            parse_thresholds(bad)


# -- capacity: confirmed limits only, and brackets that do not overlap ---------------------

CAP = parse_thresholds("capacity:10%")


def test_confirmed_limit_drop_with_disjoint_brackets_is_a_regression() -> None:
    base = entry("r01", lim=limit("confirmed", 40, 40, 50))
    cur = entry("r02", lim=limit("confirmed", 20, 20, 30))  # fails at 30, base passed 40
    cap = only(compare(cur, base, CAP), "capacity limit")
    assert (cap.baseline, cap.current, cap.failed) == (40, 20, True)
    assert cap.describe() == "t.py::cap: capacity limit: 40 -> 20 (-50.0%) REGRESSION"
    assert not only(compare(cur, base, parse_thresholds("capacity:60%")), "capacity limit").failed


def test_limit_drop_within_overlapping_brackets_is_no_regression() -> None:
    base = entry("r01", lim=limit("confirmed", 40, 40, 80))
    cur = entry("r02", lim=limit("confirmed", 30, 30, 45))  # 45 > 40: the brackets overlap
    cap = only(compare(cur, base, CAP), "capacity limit")
    assert not cap.failed and cap.why == "brackets overlap"
    assert cap.describe().endswith("(-25.0%, brackets overlap)")


def _with_point(lim: dict[str, Any], estimate: float, low: float, high: float) -> dict[str, Any]:
    point = {"estimate": estimate, "low": low, "high": high, "confidence": 0.9, "steps": 18}
    return {**lim, "pass_point": {**point, "low_open": False, "high_open": False}}


def test_a_drop_with_disjoint_pass_point_intervals_is_a_regression() -> None:
    """A broker flushing every message: 12 producers against 36, intervals far apart."""
    base = entry("r01", lim=_with_point(limit("confirmed", 36, 36, 38), 35.8, 33.6, 39.0))
    cur = entry("r02", lim=_with_point(limit("confirmed", 12, 12, 13), 12.4, 11.2, 13.6))
    assert only(compare(cur, base, CAP), "capacity limit").failed
    # a run that lost messages is caught whatever its other steps say
    lost = {**_with_point(limit("confirmed", 30, 30, 32), 34.0, 31.0, 37.0), "definitive": [32]}
    assert only(compare(entry("r04", lim=lost), base, CAP), "capacity limit").failed
    # a run without a pass point (an older report) leaves the brackets to decide
    old = entry("r03", lim=limit("confirmed", 12, 12, 13))
    assert only(compare(old, base, CAP), "capacity limit").failed


@pytest.mark.parametrize(
    ("base_status", "cur_status", "why"),
    [
        ("confirmed", "bracketed", "current limit not confirmed (bracketed)"),
        ("confirmed", "noisy", "current limit not confirmed (noisy)"),
        ("bracketed", "confirmed", "baseline limit not confirmed (bracketed)"),
        ("not_reached", "confirmed", "baseline limit not confirmed (not_reached)"),
    ],
)
def test_only_confirmed_limits_are_compared_as_ceilings(
    base_status: str, cur_status: str, why: str
) -> None:
    base = entry(
        "r01", lim=limit(base_status, 40, 40, 50 if base_status != "not_reached" else None)
    )
    cur = entry("r02", lim=limit(cur_status, 10, 10, 20))
    cap = only(compare(cur, base, CAP), "capacity limit")
    assert (cap.failed, cap.why) == (False, why)


def test_limit_gone_below_the_range_is_reported_never_failed_unconfirmed() -> None:
    base = entry("r01", lim=limit("confirmed", 4, 4, 8))
    cur = entry("r02", lim=limit("below_range", None, None, 1))
    cap = only(compare(cur, base, CAP), "capacity limit")
    assert (cap.current, cap.failed, cap.why) == (
        None,
        False,
        "current limit not confirmed (below_range)",
    )


def test_a_confirmed_failure_where_the_baseline_confirmed_a_pass_is_a_regression() -> None:
    # "at least 4" measured twice at 4, then a failure confirmed at 1: no overlap possible
    base = entry(
        "r01", lim={**limit("not_reached", 4, 4, None), "trials": [[1, 1, 0], [2, 1, 0], [4, 2, 0]]}
    )
    cur = entry("r02", lim={**limit("below_range", None, None, 1), "trials": [[1, 0, 2]]})
    cap = only(compare(cur, base, CAP), "capacity limit")
    assert cap.failed and cap.why == ""
    # the same failure seen once is not enough
    once = entry("r03", lim={**limit("below_range", None, None, 1), "trials": [[1, 0, 1]]})
    cap = only(compare(once, base, CAP), "capacity limit")
    assert not cap.failed and cap.why == "current limit not confirmed (below_range)"
    # nor a baseline pass seen once (2:1 at 4 is confirmed; 1:1 is not)
    split = entry("r04", lim={**limit("not_reached", 4, 4, None), "trials": [[4, 1, 1]]})
    cap = only(compare(cur, split, CAP), "capacity limit")
    assert not cap.failed and cap.why == "baseline limit not confirmed (not_reached)"


def test_limit_drop_within_the_threshold_says_nothing_more() -> None:
    base = entry("r01", lim=limit("confirmed", 40, 40, 50))
    cur = entry("r02", lim=limit("confirmed", 38, 38, 39))
    cap = only(compare(cur, base, CAP), "capacity limit")
    assert (cap.failed, cap.why) == (False, "")


# -- latency: past the threshold, intervals apart, beyond run-to-run noise -----------------

P99 = parse_thresholds("p99:20%")


def test_latency_growth_with_disjoint_intervals_is_a_regression() -> None:
    base = entry("r01", [step(20, 12.1, (11.8, 12.6))])
    cur = entry("r02", [step(20, 15.3, (14.9, 16.0))])
    p99 = only(compare(cur, base, P99), "p99 ms")
    assert p99.failed and p99.change_pct == pytest.approx(26.446, abs=1e-3)
    assert p99.describe() == (
        "t.py::cap: p99 ms at 20 producers: 12.1 [11.8, 12.6] ->"
        " 15.3 [14.9, 16.0] (+26.4%) REGRESSION"
    )
    assert not only(compare(cur, base, parse_thresholds("p99:30%")), "p99 ms").failed


def test_latency_growth_with_overlapping_intervals_is_noise() -> None:
    base = entry("r01", [step(20, 12.1, (11.0, 15.0))])
    cur = entry("r02", [step(20, 15.3, (14.9, 16.0))])
    p99 = only(compare(cur, base, P99), "p99 ms")
    assert not p99.failed
    assert p99.describe().endswith("(+26.4%, within noise: intervals overlap)")


@pytest.mark.parametrize(
    ("base_ci", "cur_ci"),
    [
        ((11.8, None), (14.9, 16.0)),  # too few samples to bound the baseline from above
        ((11.8, 12.6), (None, 16.0)),
        (None, (14.9, 16.0)),
    ],
)
def test_latency_growth_with_an_unknown_bound_claims_nothing(
    base_ci: tuple[float | None, float | None] | None, cur_ci: tuple[float | None, float | None]
) -> None:
    base = entry("r01", [step(20, 12.1, base_ci)])
    cur = entry("r02", [step(20, 15.3, cur_ci)])
    p99 = only(compare(cur, base, P99), "p99 ms")
    assert (p99.failed, p99.why) == (False, "interval unknown")
    assert "?" in p99.describe() or base_ci is None


def like_history(
    values: list[float], plan: dict[str, Any] | None = None, first: int = 0
) -> list[HistoryEntry]:
    return [
        entry(f"h{i:02d}", [step(20, v, (v - 0.3, v + 0.3))], plan=plan)
        for i, v in enumerate(values, first)
    ]


def test_latency_within_the_run_to_run_spread_of_three_like_runs_is_noise() -> None:
    base = entry("r08", [step(20, 12.1, (11.8, 12.6))])
    cur = entry("r09", [step(20, 15.3, (14.9, 16.0))])
    history = [*like_history([12.0, 15.8, 12.5]), base]
    p99 = only(compare(cur, base, P99, history), "p99 ms")
    assert not p99.failed
    assert p99.why == (
        "within run-to-run noise: 4 earlier like runs measured up to 15.8;"
        " a 99% prediction bound for one more is 25.25"
    )


def test_run_to_run_noise_needs_three_like_runs_of_the_same_plan() -> None:
    base = entry("r08", [step(20, 12.1, (11.8, 12.6))])
    cur = entry("r09", [step(20, 15.3, (14.9, 16.0))])
    # two like runs (one of them the baseline); the spread is in runs of another plan
    other = {**PLAN, "rate": 20.0}
    history = [*like_history([15.9, 16.0, 16.1], plan=other), *like_history([15.8], first=3), base]
    p99 = only(compare(cur, base, P99, history), "p99 ms")
    # how far identical runs wander is not known yet: nothing fails
    assert (p99.failed, p99.why) == (
        False,
        "run-to-run noise unknown: 2 of 3 earlier like runs needed",
    )
    # a third like run: now 15.8 is what this plan does from run to run
    history.insert(-1, entry("r05", [step(20, 12.3, (12.0, 12.6))]))
    p99 = only(compare(cur, base, P99, history), "p99 ms")
    assert not p99.failed
    assert p99.why.startswith("within run-to-run noise: 3 earlier like runs measured up to 15.8")
    # beyond everything three like runs measured, and yet within what three runs this
    # close predict (the baseline is the fourth; their spread floored at 5%): noise
    history = [*like_history([12.0, 12.4, 12.9]), base]
    p99 = only(compare(cur, base, P99, history), "p99 ms")
    assert not p99.failed and p99.why.endswith(
        "4 earlier like runs measured up to 12.9; a 99% prediction bound for one more is 15.82"
    )
    # beyond the bound: a regression
    far = entry("r09", [step(20, 19.0, (18.5, 19.6))])
    assert only(compare(far, base, P99, history), "p99 ms").failed


def test_a_latency_regression_needs_most_of_the_counts_trials_past_the_gate() -> None:
    base = entry("r08", [step(20, 12.1, (11.8, 12.6))])
    history = [*like_history([12.0, 12.4, 12.9]), base]
    slow = step(20, 19.0, (18.5, 19.6))
    assert only(compare(entry("r09", [slow]), base, P99, history), "p99 ms").failed
    # measured again twice: one slow step of three reads as the value the others reached
    cur = entry("r09", [slow, step(20, 12.6, (12.3, 12.9)), step(20, 12.2, (11.9, 12.5))])
    p99 = only(compare(cur, base, P99, history), "p99 ms")
    assert (p99.failed, p99.current, p99.current_ci) == (False, 12.6, (12.3, 12.9))
    assert "-> 12.6 [12.3, 12.9] (lower median of 3 trials) (+4.1%)" in p99.describe()
    # two of three slow: confirmed
    cur = entry("r09", [slow, step(20, 12.6, (12.3, 12.9)), step(20, 19.4, (19.0, 19.9))])
    p99 = only(compare(cur, base, P99, history), "p99 ms")
    assert p99.failed and p99.describe() == (
        "t.py::cap: p99 ms at 20 producers: 12.1 [11.8, 12.6] ->"
        " 19.0 [18.5, 19.6] (lower median of 3 trials) (+57.0%) REGRESSION"
    )
    # the second slow trial failed its SLO and the third passed: a majority of passes,
    # and still two of three trials past the gate
    failed = {**step(20, 300.0, (280.0, 320.0)), "verdict": "fail"}
    cur = entry("r09", [slow, failed, step(20, 12.2, (11.9, 12.5))])
    p99 = only(compare(cur, base, P99, history), "p99 ms")
    assert (p99.failed, p99.current, p99.trials) == (True, 19.0, 3)


def test_unjudged_latencies_are_not_compared() -> None:
    base = entry("r01", [step(20, 12.1, (11.8, 12.6), judged=False)])
    cur = entry("r02", [step(20, 99.0, (98.0, 100.0))])
    assert [c for c in compare(cur, base, P99) if not isinstance(c, Note)] == []


# -- which baseline, and what differs ----------------------------------------------------


def test_like_baseline_is_named_and_its_system_differences_listed() -> None:
    base = entry("r01", [step(20, 12.1, (11.8, 12.6))], broker_config={"a": "1"})
    cur = entry("r02", [step(20, 15.3, (14.9, 16.0))], broker_config={"a": "2"}, commit="c2")
    changes = compare(cur, base, P99)
    assert notes(changes) == [
        "t.py::cap: baseline r01: same plan",
        "t.py::cap: differs from r01: system.broker_config.a: 1 -> 2",
        "t.py::cap: differs from r01: system.commit: c1 -> c2",
    ]
    assert only(changes, "p99 ms").failed  # a broker setting's effect: what compare is for


def test_named_baseline_of_another_plan_lists_differences_and_never_fails() -> None:
    slow = {**PLAN, "rate": 20.0, "machine": {**PLAN["machine"], "cpus": 8}}  # type: ignore[dict-item]
    base = entry(
        "r01", [step(20, 12.1, (11.8, 12.6))], lim=limit("confirmed", 40, 40, 50), plan=slow
    )
    cur = entry("r02", [step(20, 50.0, (49.0, 51.0))], lim=limit("confirmed", 10, 10, 20))
    changes = compare(cur, base, parse_thresholds("capacity:10%,p99:20%"))
    assert notes(changes) == [
        "t.py::cap: baseline r01: another plan; nothing here fails",
        "t.py::cap: differs from r01: plan.rate: 20.0 -> 10.0",
        "t.py::cap: differs from r01: plan.machine.cpus: 8 -> 2",
    ]
    assert not any(c.failed for c in changes)
    assert {c.why for c in changes if not isinstance(c, Note)} == {"plan differs"}


def test_named_baseline_of_another_kafka_version_may_fail() -> None:
    base = entry(
        "r01", [step(20, 12.1, (11.8, 12.6))], lim=limit("confirmed", 40, 40, 50), kafka="4.3.0"
    )
    cur = entry("r02", [step(20, 15.3, (14.9, 16.0))], lim=limit("confirmed", 10, 10, 20))
    changes = compare(cur, base, parse_thresholds("capacity:10%,p99:20%"))
    assert "t.py::cap: differs from r01: system.kafka_version: 4.3.0 -> 4.4.0" in notes(changes)
    assert only(changes, "capacity limit").failed and only(changes, "p99 ms").failed


def test_schema_1_baseline_is_compared_says_so_and_never_fails() -> None:
    base = HistoryEntry(
        run_id="old",
        started_at="2025-01-01",
        status="finished",
        site="local",
        client="c",
        kafka_version="4.4.0",
        commit="c0",
        test="t.py::cap",
        limit=limit("bracketed", 40, 40, 50),
        steps=[{"producers": 20, "verdict": "pass", "latency_judged": True, "p99_ms": 5.0}],
        schema=1,
    )
    cur = entry("r02", [step(20, 50.0, (49.0, 51.0))], lim=limit("confirmed", 10, 10, 20))
    changes = compare(cur, base, parse_thresholds("capacity:10%,p99:20%"))
    assert notes(changes) == [
        "t.py::cap: baseline old: a schema-1 entry without its plan,"
        " not like with like; nothing here fails"
    ]
    assert not any(c.failed for c in changes)
    assert only(changes, "p99 ms").why == "baseline without a plan (schema 1)"


# -- the session: baseline choice and what it says when there is none ----------------------


def session_run(
    tmp_path: Path, run_id: str, rate: float, p99_us: int, compare_to: str | None = None
) -> FridaRun:
    frida = unfinished_run(tmp_path, run_id, compare_to)
    frida.steps = [session_step(rate, p99_us)]
    frida.run_dir.mkdir(parents=True)
    frida.finish(interrupted=False)
    return frida


def unfinished_run(tmp_path: Path, run_id: str, compare_to: str | None) -> FridaRun:
    cli: dict[str, str | None] = {"report-dir": str(tmp_path), "site": "local"}
    if compare_to:
        cli |= {"compare": compare_to, "compare-fail": "p99:20%"}
    frida = FridaRun(build_settings(cli, {}), run_id=run_id)
    frida.info.commit = "c1"
    return frida


def session_step(rate: float, p99_us: int) -> StepResult:
    hist = LatencyHistogram()
    hist.record_batch_us(np.full(20_000, p99_us) - np.arange(20_000) % 1000)
    s = StepResult(
        test="t.py::test_cap[producers=10]",
        producers=10,
        rate_per_producer=rate,
        duration_s=30,
        warmup_s=5,
        message_size=512,
        partitions=6,
        slo="p99<=1s",
        histograms={"e2e": hist.encode()},
        verdict="pass",
        counts=DeliveryCounts(10, 10, 10, 0, 0, 0),
    )
    s.latency = hist.summary_ms()
    return s


def test_a_running_session_says_which_count_its_gate_would_fail(tmp_path: Path) -> None:
    for i in (1, 2, 3):
        session_run(tmp_path, f"20260101-00000{i}-aaaa", rate=10, p99_us=10_000)
    running = unfinished_run(tmp_path, "20260101-000004-bbbb", compare_to="last")
    assert running.latency_regression_at("t.py::test_cap", 10) is None  # nothing measured
    running.steps = [session_step(10, 20_000)]
    change = running.latency_regression_at("t.py::test_cap", 10)
    assert change is not None and (change.what, change.producers) == ("p99 ms", 10)
    assert running.latency_regression_at("t.py::test_cap", 20) is None  # another count
    assert running.latency_regression_at("t.py::other", 10) is None
    # measured again at the baseline's speed: the value both trials reached is no change
    running.steps.append(session_step(10, 10_000))
    assert running.latency_regression_at("t.py::test_cap", 10) is None
    # without a latency gate nothing is measured again
    capacity_only = unfinished_run(tmp_path, "20260101-000005-cccc", compare_to=None)
    capacity_only.settings = build_settings(
        {"report-dir": str(tmp_path), "compare-fail": "capacity:10%"}, {}
    )
    capacity_only.steps = [session_step(10, 20_000)]
    assert capacity_only.latency_regression_at("t.py::test_cap", 10) is None


def test_session_compares_with_the_last_like_run_and_explains_an_unlike_one(tmp_path: Path) -> None:
    session_run(tmp_path, "20260101-000001-aaaa", rate=10, p99_us=10_000)
    unlike = session_run(
        tmp_path, "20260101-000002-bbbb", rate=20, p99_us=10_000, compare_to="last"
    )
    assert unlike.changes == [] and unlike.regressions == []
    assert unlike.problems == [
        "no earlier run of t.py::test_cap with the same plan and Kafka version to compare"
        " with; the latest, 20260101-000001-aaaa, differs in plan.rate: 10 -> 20"
    ]
    worse = session_run(tmp_path, "20260101-000003-cccc", rate=10, p99_us=20_000, compare_to="last")
    assert notes(worse.changes)[0] == "t.py::test_cap: baseline 20260101-000001-aaaa: same plan"
    # one like run tells nothing of run-to-run noise: reported, not failed
    assert worse.regressions == []
    assert only(worse.changes, "p99 ms").why.startswith("run-to-run noise unknown: 1 of 3")
    for i in (4, 5):  # identical runs at 10 ms
        session_run(tmp_path, f"20260101-00000{i}-dddd", rate=10, p99_us=10_000)
    again = session_run(tmp_path, "20260101-000006-eeee", rate=10, p99_us=20_000, compare_to="last")
    # three earlier like runs measured 10 ms and 20 (the worse one, within the window);
    # the doubled p99 is within what they measured
    assert [c.what for c in again.regressions] == []
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["schema"] for line in lines] == [3] * 6
    assert len(History(tmp_path).load()) == 6


def test_the_gate_reads_trials_built_in_memory_as_it_reads_them_from_json() -> None:
    from pytest_frida.measure.result import StepResult
    from pytest_frida.report.history import entries_for_run
    from pytest_frida.report.model import RunInfo

    def session(run_id: str, verdicts: list[tuple[int, str]]) -> HistoryEntry:
        info = RunInfo(
            run_id=run_id,
            started_at=f"2026-01-01T00:00:{run_id[-2:]}",
            site="local",
            client="c",
            kafka_version="4.4.0",
            status="finished",
            settings={"brokers": 1, "broker_config": {}},
        )
        steps = []
        for n, verdict in verdicts:
            s = StepResult(
                test=f"t.py::cap[producers={n}]",
                producers=n,
                rate_per_producer=1,
                duration_s=1,
                warmup_s=0,
                message_size=64,
                partitions=1,
                slo="p99<=1s",
            )
            s.verdict = verdict
            steps.append(s)
        (entry,) = entries_for_run(info, steps)
        return entry

    base = session("r01", [(10, "pass"), (20, "pass"), (40, "pass")])  # healthy, once each
    cur = session("r02", [(10, "pass"), (20, "fail"), (20, "fail"), (10, "pass")])
    assert isinstance(cur.limit["trials"], tuple)  # as the session holds it
    cap = only(compare(cur, base, CAP), "capacity limit")
    # failed twice at 20 where the baseline passed at 20 and at 40
    assert cap.failed, cap.describe()


def test_run_to_run_noise_is_the_latest_like_runs_of_the_baselines_broker_config() -> None:
    def at20(
        run_id: str, p99: float, commit: str = "a", broker_config: dict[str, str] | None = None
    ) -> HistoryEntry:
        return entry(
            run_id,
            [step(20, p99, (p99 * 0.97, p99 * 1.03))],
            lim=limit("confirmed", 40, 40, 50),
            commit=commit,
            broker_config=broker_config,
        )

    gate = [Threshold("p99", 20.0)]
    good = [at20(f"r{i:02d}", 10.0 + i / 100) for i in range(1, 4)]
    bad = at20("r04", 16.0, commit="b")  # a regression let in once
    again = at20("r20", 15.9, commit="c")
    # within the window the bad run widens the noise ...
    p99 = only(compare(again, good[-1], gate, [*good, bad]), "p99 ms")
    assert not p99.failed and p99.why.startswith("within run-to-run noise")
    # ... for NOISE_WINDOW runs at most
    later = [at20(f"r{i:02d}", 10.0) for i in range(5, 5 + NOISE_WINDOW)]
    assert only(compare(again, later[-1], gate, [*good, bad, *later]), "p99 ms").failed
    # runs of another broker config are a deliberate change, not noise
    slowed = [at20(f"s{i:02d}", 16.0, broker_config={"x": "1"}) for i in range(3)]
    assert only(compare(again, good[-1], gate, [*good, *slowed]), "p99 ms").failed


def test_a_failure_that_lost_messages_needs_no_second_trial() -> None:
    base = entry("r01", lim={**limit("not_reached", 2, 2, None), "trials": [[1, 1, 0], [2, 2, 0]]})
    cur = entry(
        "r02", lim={**limit("below_range", None, None, 1), "trials": [[1, 0, 1]], "definitive": [1]}
    )
    assert only(compare(cur, base, CAP), "capacity limit").failed


# -- what may stand as a baseline or as noise ------------------------------------------


def test_a_caught_regression_is_recorded_and_never_the_next_baseline(tmp_path: Path) -> None:
    """Recorded like any run, a run the gate failed became the next run's 'last' baseline
    and widened the noise: the same regression passed from the next build on."""
    for i in range(1, 5):
        session_run(tmp_path, f"20260101-00000{i}-aaaa", rate=10, p99_us=10_000)
    worse = session_run(tmp_path, "20260101-000005-bbbb", rate=10, p99_us=40_000, compare_to="last")
    assert [c.what for c in worse.regressions] == ["p99 ms"]
    assert History(tmp_path).load()[-1].regressed == ["p99 ms at 10 producers"]
    still = session_run(tmp_path, "20260101-000006-cccc", rate=10, p99_us=40_500, compare_to="last")
    assert notes(still.changes)[0] == "t.py::test_cap: baseline 20260101-000004-aaaa: same plan"
    assert [c.what for c in still.regressions] == ["p99 ms"]
    # a run no gate judged (compare off) after the caught one is no baseline either
    session_run(tmp_path, "20260101-000006-cccd", rate=10, p99_us=40_300)
    unjudged = session_run(
        tmp_path, "20260101-000006-ccce", rate=10, p99_us=40_400, compare_to="last"
    )
    assert notes(unjudged.changes)[0].endswith("baseline 20260101-000004-aaaa: same plan")
    assert [c.what for c in unjudged.regressions] == ["p99 ms"]
    # compared by name with the caught run (the change accepted), it passes, and runs
    # like it are baselines from then on
    accepted = session_run(
        tmp_path, "20260101-000007-dddd", rate=10, p99_us=40_200, compare_to="20260101-000005-bbbb"
    )
    assert accepted.regressions == [] and History(tmp_path).load()[-1].regressed == []
    history = History(tmp_path).load()
    assert baseline_for(history, history[-1], "last") is not None
    assert baseline_for(history, history[-1], "last").run_id == "20260101-000004-aaaa"  # type: ignore[union-attr]


def test_capacity_noise_is_confirmed_limits_of_finished_runs_only() -> None:
    gate = parse_thresholds("capacity:10%")

    def run(run_id: str, lim: dict[str, Any], status: str = "finished") -> HistoryEntry:
        found = entry(run_id, lim=lim)
        found.status = status
        return found

    confirmed = [
        run(f"r{i:02d}", limit("confirmed", n, n, n + 2)) for i, n in enumerate([24, 26, 20, 24], 1)
    ]
    current = run("r09", limit("confirmed", 10, 10, 12))
    assert only(compare(current, confirmed[-1], gate, confirmed), "capacity limit").failed
    # a quick run that only reached 6 ('at least 6') and an interrupted one say nothing
    # of how far confirmed limits wander
    short = run("r05", limit("not_reached", 6, 6, None))
    cut = run("r06", limit("confirmed", 3, 3, 4), status="interrupted")
    history = [*confirmed, short, cut]
    cap = only(compare(current, confirmed[-1], gate, history), "capacity limit")
    assert cap.failed, cap.describe()
    # "at least 2" three times, where the baseline also reached the top of its range: the
    # same censored value each time is the plan's noise, and a run below the range fails
    capped = [
        run(f"r{i:02d}", {**limit("not_reached", 2, 2, None), "trials": [[1, 1, 0], [2, 2, 0]]})
        for i in range(1, 5)
    ]
    gone = run("r09", {**limit("below_range", None, None, 1), "trials": [[1, 0, 2]]})
    cap = only(compare(gone, capped[-1], gate, capped), "capacity limit")
    assert cap.failed, cap.describe()


def test_a_kafka_upgrade_is_judged_by_the_old_versions_noise() -> None:
    """Noise picked by the current run's version was the upgraded runs themselves: an
    upgrade that tripled p99 passed once three such runs existed."""
    gate = [Threshold("p99", 20.0)]
    old = [
        entry(f"o{i:02d}", [step(20, 12.0 + i / 10, (11.8, 12.6))], kafka="4.3.0")
        for i in range(1, 5)
    ]
    new = [entry(f"n{i:02d}", [step(20, 40.0 + i / 10, (39.5, 40.6))]) for i in range(5, 8)]
    current = entry("n08", [step(20, 40.2, (39.8, 40.7))])
    p99 = only(compare(current, old[-1], gate, [*old, *new]), "p99 ms")
    assert p99.failed, p99.describe()


def test_the_noise_window_is_ten_runs_and_skips_figures_that_are_not_numbers() -> None:
    assert NOISE_WINDOW == 10  # README says ten
    gate = [Threshold("p99", 20.0)]
    history = [
        entry(f"r{i:02d}", [step(20, v, (v - 0.3, v + 0.3))])
        for i, v in enumerate([12.0, float("nan"), 12.4, 12.2, 12.1], 1)
    ]
    current = entry("r09", [step(20, 30.0, (29.5, 30.5))])
    p99 = only(compare(current, history[-1], gate, history), "p99 ms")
    assert p99.failed, p99.describe()


def test_a_caught_upgrade_stays_caught_while_no_like_run_passed_a_gate(tmp_path: Path) -> None:
    """The first run on a new plan compared by name with the old one is caught; later runs
    of the new plan find no trusted like run: they fail, not pass with a problem note."""
    for i in range(1, 5):
        session_run(tmp_path, f"20260101-00000{i}-aaaa", rate=10, p99_us=10_000)
    first = session_run(tmp_path, "20260101-000005-bbbb", rate=10, p99_us=40_000, compare_to="last")
    assert [c.what for c in first.regressions] == ["p99 ms"]
    # the caught run is the only like one: no baseline, and yet the change stands
    history = History(tmp_path).load()
    for entry in history[:4]:
        entry.status = "interrupted"  # as if the good runs did not count
    (tmp_path / "history.jsonl").write_text(
        "".join(json.dumps({**json.loads(json.dumps(e.__dict__))}) + "\n" for e in history)
    )
    later = session_run(tmp_path, "20260101-000006-cccc", rate=10, p99_us=40_000, compare_to="last")
    (failed,) = later.regressions
    assert failed.what.startswith("p99 ms at 10 producers caught in run 20260101-000005-bbbb")
    assert History(tmp_path).load()[-1].regressed == ["p99 ms at 10 producers"]
