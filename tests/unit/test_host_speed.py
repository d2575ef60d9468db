"""The host's speed probe, /proc/stat shares, and the lines a comparison adds about the host."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_frida.measure.host_speed import (
    CpuTimes,
    describe,
    parse_proc_stat,
    probe,
    read_cpu_times,
    run_summary,
    slower_pct,
)
from pytest_frida.report.compare import host_notes
from pytest_frida.report.history import HistoryEntry

# a 2-core VM's /proc/stat as Linux 6.1 writes it (guest columns at the end)
PROC_STAT = """cpu  4705 356 584 3699 23 0 23 41 17 0
cpu0 1393 280 283 1898 11 0 5 20 9 0
cpu1 3312 76 301 1801 12 0 18 21 8 0
intr 114930548 113199788 3 0 5 263 0 0 0 1 0 0 0 0 0 0 0
ctxt 1990473
btime 1062191376
"""


def test_proc_stat_aggregate_line_without_guest_time() -> None:
    times = parse_proc_stat(PROC_STAT)
    # user nice system idle iowait irq softirq steal; guest is inside user and nice
    assert times == CpuTimes(
        total=4705 + 356 + 584 + 3699 + 23 + 0 + 23 + 41, idle=3699 + 23, steal=41
    )


def test_proc_stat_of_some_cores_sums_their_lines() -> None:
    # --frida-broker-cores: the brokers' core and the harness's are read apart
    assert parse_proc_stat(PROC_STAT, [1]) == CpuTimes(
        total=3312 + 76 + 301 + 1801 + 12 + 0 + 18 + 21, idle=1801 + 12, steal=21
    )
    both = parse_proc_stat(PROC_STAT, [0, 1])
    assert (both.idle, both.steal) == (3699 + 23, 41)


def test_proc_stat_without_a_cpu_line_is_refused() -> None:
    with pytest.raises(ValueError, match="no cpu line"):
        parse_proc_stat("intr 1 2 3\n")
    with pytest.raises(ValueError, match="no cpu7 line"):
        parse_proc_stat(PROC_STAT, [0, 7])


def test_shares_between_two_readings() -> None:
    before = CpuTimes(total=1000, idle=600, steal=10)
    after = CpuTimes(total=2000, idle=900, steal=110)
    # 1000 ticks: 300 idle, so 70% busy, of which 100 ticks (10%) stolen
    assert before.shares(after) == {"busy_pct": 70.0, "steal_pct": 10.0}
    assert before.shares(before) is None  # no tick passed: no share to tell


def test_this_machine_has_proc_stat() -> None:
    first = read_cpu_times()
    assert first is not None and first.total > 0 and first.idle <= first.total


def test_probe_measures_a_positive_speed_and_its_spread() -> None:
    speed = probe(rounds=3, round_s=0.02)
    assert speed.rounds == 3 and speed.mib_per_s > 0 and speed.spread_pct >= 0
    with pytest.raises(ValueError, match="rounds >= 1"):
        probe(rounds=0)


def _probe(mib: float, spread: float) -> dict[str, Any]:
    return {"mib_per_s": mib, "spread_pct": spread, "rounds": 5}


def test_summary_counts_a_change_during_the_run_as_spread() -> None:
    summary = run_summary(
        {
            "before": _probe(1000, 2),
            "after": _probe(900, 3),
            "run": {"busy_pct": 80.0, "steal_pct": 1.5},
        }
    )
    # mean 950; the 100 MiB/s between the probes is 10.5% of it, past their own 3%
    assert summary == {"mib_per_s": 950.0, "spread_pct": 10.5, "busy_pct": 80.0, "steal_pct": 1.5}
    only_before = run_summary({"before": _probe(1000, 2)})  # an interrupted run
    assert only_before == {
        "mib_per_s": 1000.0,
        "spread_pct": 2.0,
        "busy_pct": None,
        "steal_pct": None,
    }
    assert run_summary({}) is None


def test_slower_is_positive_and_carries_the_probes_noise() -> None:
    assert slower_pct(_probe(1000, 2), _probe(800, 4)) == (20.0, 4.0)
    assert slower_pct(_probe(800, 1), _probe(1000, 1)) == (-25.0, 1.0)
    assert slower_pct({}, _probe(800, 1)) is None
    assert slower_pct(_probe(0, 1), _probe(800, 1)) is None


def test_describe_says_both_probes_and_the_run() -> None:
    text = describe(
        {
            "before": _probe(1000, 2),
            "after": _probe(990, 3),
            "run": {"busy_pct": 97.0, "steal_pct": 0.4},
        }
    )
    assert text == (
        "this host's speed: one core hashed 1000 MiB/s before and 990 MiB/s after"
        " the run (SHA-256, rounds within 3%); over the run 97% of its CPU time"
        " was busy and 0.4% stolen by other tenants"
    )
    assert describe({}) is None


def _entry(run_id: str, site: str, host: dict[str, Any] | None) -> HistoryEntry:
    return HistoryEntry(
        run_id=run_id,
        started_at="2026-12-04T00:00:00+00:00",
        status="finished",
        site=site,
        client="c",
        kafka_version="4.4.0",
        commit=None,
        test="t.py::cap",
        limit={},
        plan={},
        system={},
        host=host,
    )


def _host(mib: float, spread: float, steal: float = 0.0) -> dict[str, Any]:
    return {"mib_per_s": mib, "spread_pct": spread, "busy_pct": 90.0, "steal_pct": steal}


def test_a_slower_host_is_said_next_to_the_comparison() -> None:
    (line,) = host_notes(
        _entry("now", "local", _host(800, 2)), _entry("base", "local", _host(1000, 3))
    )
    assert line.startswith(
        "this host probed 20% slower than in base (SHA-256 on one core:"
        " 1000 -> 800 MiB/s, probes within 3%)"
    )


def test_a_host_change_within_the_probes_noise_or_tolerance_says_nothing() -> None:
    # 20% slower, but the probes themselves moved 25%: nothing can be told
    assert (
        host_notes(_entry("now", "local", _host(800, 25)), _entry("base", "local", _host(1000, 3)))
        == []
    )
    # 4% is within the 5% tolerance
    assert (
        host_notes(_entry("now", "docker", _host(960, 1)), _entry("base", "docker", _host(1000, 1)))
        == []
    )


def test_steal_is_said_and_other_sites_say_nothing_of_this_host() -> None:
    (line,) = host_notes(
        _entry("now", "swarm", _host(1000, 1, steal=12.5)), _entry("base", "swarm", _host(1000, 1))
    )
    assert line.startswith("12.5% of this host's CPU time was stolen")
    # on Grid'5000 this host is the frontend: its speed says nothing of the brokers
    assert (
        host_notes(
            _entry("now", "sophia", _host(500, 1, steal=30)),
            _entry("base", "sophia", _host(1000, 1)),
        )
        == []
    )
    # a baseline from before the probe: only the current run's own steal can be said
    assert host_notes(_entry("now", "local", _host(800, 1)), _entry("base", "local", None)) == []
