"""`frida repeat`'s figures: the spread of limits and pass points over identical runs."""

from __future__ import annotations

from typing import Any

from pytest_frida.bench.repeat import spreads
from pytest_frida.report.compare import parse_thresholds
from pytest_frida.report.history import HistoryEntry

PLAN = {"rate": 500.0, "duration": 8.0, "slo": "p99<=500ms", "site": "local"}


def _entry(
    run_id: str, limit: int, first_fail: int, point: float | None, status: str = "confirmed"
) -> HistoryEntry:
    lim: dict[str, Any] = {
        "status": status,
        "limit": limit,
        "last_pass": limit,
        "first_fail": first_fail,
        "trials": [[limit, 2, 0], [first_fail, 0, 2]],
        "pass_point": None
        if point is None
        else {"estimate": point, "low": point - 2, "high": point + 2, "confidence": 0.9},
    }
    return HistoryEntry(
        run_id=run_id,
        started_at=f"2026-12-05T02:{run_id[-2:]}:00",
        status="finished",
        site="local",
        client="kafka-python",
        kafka_version="4.4.0",
        commit="c1",
        test="t.py::limit",
        limit=lim,
        steps=[],
        plan=dict(PLAN),
        system={"kafka_version": "4.4.0", "broker_config": {}, "commit": "c1"},
    )


def test_the_spread_of_limits_and_of_pass_points_is_printed() -> None:
    # stop 30's repeat of the host limit: confirmed 36, 34, 30; pass points 35.8, 33.8, 32.8
    entries = [
        _entry("r01", 36, 38, 35.8),
        _entry("r02", 34, 36, 33.8),
        _entry("r03", 30, 32, 32.8),
        _entry("r04", 20, 22, 20.0),  # another repeat's run: not one of these
    ]
    (spread,) = spreads(entries, ["r01", "r02", "r03"], parse_thresholds("capacity:10%"))
    assert spread.confirmed == [36, 34, 30]
    assert round(spread.spread_pct or 0, 1) == 20.0
    assert spread.points == [35.8, 33.8, 32.8]
    assert round(spread.point_spread_pct or 0, 1) == 9.1
    lines = spread.describe()
    assert (
        "  pass points 35.8, 33.8, 32.8 (3 of 3 runs placed one); the 3 closed ones of"
        " confirmed runs from 32.8 to 35.8, spread 9.1%"
    ) in lines
    assert spread.pairs == 3


def test_runs_without_a_pass_point_show_a_dash_and_no_spread_from_one() -> None:
    entries = [_entry("r01", 36, 38, None), _entry("r02", 34, 36, 33.8)]
    (spread,) = spreads(entries, ["r01", "r02"], parse_thresholds("capacity:10%"))
    assert spread.points == [None, 33.8]
    assert spread.point_spread_pct is None
    assert "  pass points -, 33.8 (1 of 2 runs placed one)" in spread.describe()
    assert not any("spread" in line and "pass points" in line for line in spread.describe())


def test_only_confirmed_runs_pass_points_are_compared() -> None:
    entries = [
        _entry("r01", 36, 38, 35.8),
        _entry("r02", 32, 64, 30.1, status="noisy"),
        _entry("r03", 34, 36, 33.8),
    ]
    (spread,) = spreads(entries, ["r01", "r02", "r03"], parse_thresholds("capacity:10%"))
    assert spread.confirmed_points == [35.8, 33.8]
    assert round(spread.point_spread_pct or 0, 1) == 5.9
    assert (
        "the 2 closed ones of confirmed runs from 33.8 to 35.8, spread 5.9%"
        in (spread.describe()[2])
    )


def test_a_one_sided_pass_point_is_listed_but_not_compared() -> None:
    # run 20261205-081505-593f: confirmed 30, its interval "28.6 to above 32"
    open_ended = _entry("r02", 30, 32, 31.2)
    open_ended.limit["pass_point"]["high_open"] = True
    entries = [_entry("r01", 34, 36, 34.5), open_ended, _entry("r03", 32, 34, 32.5)]
    (spread,) = spreads(entries, ["r01", "r02", "r03"], parse_thresholds("capacity:10%"))
    assert spread.confirmed_points == [34.5, 32.5]
    assert (
        "pass points 34.5, 31.2 (one-sided), 32.5 (3 of 3 runs placed one)"
        in (spread.describe()[2])
    )
