"""History store and comparisons: append-only, strict about what it reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_frida.measure.accounting import DeliveryCounts
from pytest_frida.measure.result import StepResult
from pytest_frida.report.compare import CompareError, compare, parse_thresholds
from pytest_frida.report.history import (
    History,
    HistoryError,
    baseline_for,
    entries_for_run,
)
from pytest_frida.report.model import RunInfo


def run(run_id: str, verdicts: dict[int, tuple[str, float]], site: str = "local",
        started: str = "2026-01-01T00:00:00+00:00") -> tuple[RunInfo, list[StepResult]]:
    info = RunInfo(run_id=run_id, started_at=started, site=site, client="c",
                   kafka_version="4.4.0", settings={}, status="finished", commit="abc")
    steps = []
    for producers, (verdict, p99) in verdicts.items():
        s = StepResult(test=f"t.py::cap[producers={producers}]", producers=producers,
                       rate_per_producer=1, duration_s=1, warmup_s=0, message_size=64,
                       partitions=1, slo="p99<=1s")
        s.verdict, s.latency = verdict, {"p50": p99 / 2, "p99": p99, "max": p99 * 2}
        s.counts = DeliveryCounts(10, 10, 10, 0, 0, 0)
        steps.append(s)
    return info, steps


def test_append_and_load_round_trip(tmp_path: Path) -> None:
    history = History(tmp_path)
    info, steps = run("r1", {1: ("pass", 5.0), 10: ("fail", 50.0)})
    history.append(entries_for_run(info, steps))
    (entry,) = history.load()
    assert (entry.run_id, entry.test, entry.site, entry.commit) == ("r1", "t.py::cap", "local",
                                                                    "abc")
    assert entry.limit_value == 1
    assert entry.latency_at(10, "p99_ms") == 50.0


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


def test_other_schema_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl").write_text(json.dumps({"schema": 99}) + "\n")
    with pytest.raises(HistoryError, match="schema 99"):
        History(tmp_path).load()


def test_baseline_is_previous_run_of_same_test_and_site(tmp_path: Path) -> None:
    entries = []
    for rid, site, started in [("r1", "local", "2026-01-01"), ("r2", "docker", "2026-01-02"),
                               ("r3", "local", "2026-01-03"), ("r4", "local", "2026-01-04")]:
        info, steps = run(rid, {1: ("pass", 5.0)}, site=site, started=started)
        entries += entries_for_run(info, steps)
    current = entries[-1]
    assert baseline_for(entries, current, "last").run_id == "r3"  # type: ignore[union-attr]
    assert baseline_for(entries, current, "r1").run_id == "r1"  # type: ignore[union-attr]
    assert baseline_for(entries, current, "nope") is None


def test_thresholds_parse_and_reject() -> None:
    assert [str(t) for t in parse_thresholds("capacity:10%, p99:20%")] == ["capacity:10%",
                                                                          "p99:20%"]
    for bad in ["capacity", "p98:10%", "capacity:10", "p99:x%"]:
        with pytest.raises(CompareError):
            parse_thresholds(bad)


def test_capacity_drop_past_threshold_is_a_regression() -> None:
    base = entries_for_run(*run("a", {10: ("pass", 5.0), 20: ("pass", 6.0), 40: ("fail", 9)}))
    cur = entries_for_run(*run("b", {10: ("pass", 5.0), 20: ("fail", 6.0), 40: ("fail", 9)}))
    changes = compare(cur[0], base[0], parse_thresholds("capacity:10%"))
    cap = next(c for c in changes if c.what == "capacity limit")
    assert (cap.baseline, cap.current, cap.failed) == (20, 10, True)
    assert compare(cur[0], base[0], parse_thresholds("capacity:60%"))[0].failed is False


def test_latency_growth_past_threshold_is_a_regression() -> None:
    base = entries_for_run(*run("a", {10: ("pass", 5.0)}))
    cur = entries_for_run(*run("b", {10: ("pass", 7.0)}))
    p99 = [c for c in compare(cur[0], base[0], parse_thresholds("p99:20%"))
           if c.what == "p99 ms"]
    assert len(p99) == 1 and p99[0].failed and p99[0].change_pct == pytest.approx(40.0)
    ok = [c for c in compare(cur[0], base[0], parse_thresholds("p99:50%")) if c.failed]
    assert ok == []
