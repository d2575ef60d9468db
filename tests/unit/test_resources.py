"""Resource counters from the kernel's text files, and what a step used of them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.measure.proc import (
    cgroup_paths,
    parse_cgroup_cpu,
    parse_diskstats,
    parse_pid_io,
    parse_pid_stat,
    parse_pid_status,
    read_cgroup,
    read_process,
)
from pytest_frida.measure.resources import resource_figures, summarise

STAT = "4242 (java (kafka) x) S 1 4242 4242 0 -1 4194560 95 0 0 0 250 150 0 0 20 0 41 0 1234 5 6"


def test_pid_stat_counts_fields_after_the_last_bracket() -> None:
    # a command name with spaces and brackets of its own must not shift utime and stime
    assert parse_pid_stat(STAT, ticks=100) == {"cpu_s": 4.0}


def test_status_io_and_disk_lines() -> None:
    assert parse_pid_status("Name:\tjava\nVmRSS:\t  2048 kB\n") == {"rss_bytes": 2048 * 1024}
    assert parse_pid_status("Name:\tzombie\n") == {}
    assert parse_pid_io("rchar: 9\nread_bytes: 4096\nwrite_bytes: 8192\n") == {
        "read_bytes": 4096.0,
        "write_bytes": 8192.0,
    }
    line = " 254       0 vda 10 0 80 5 20 0 160 9 0 700 14 0 0 0 0 33 12"
    assert parse_diskstats(line, 254, 0) == {
        "disk_busy_ms": 700.0,
        "disk_written_bytes": 160 * 512.0,
        "disk_flushes": 33.0,
    }
    # an older kernel's 14 fields: no flush count, and none is made up
    assert "disk_flushes" not in parse_diskstats(" 8 0 sda 1 0 8 1 2 0 16 1 0 50 2", 8, 0)
    assert parse_diskstats(line, 8, 0) == {}
    assert parse_cgroup_cpu("usage_usec 2500000\nuser_usec 1\n", 2) == {"cpu_s": 2.5}
    assert parse_cgroup_cpu("3000000000\n", 1) == {"cpu_s": 3.0}


def test_this_process_can_be_read() -> None:
    counters = read_process(os.getpid())
    assert counters["cpu_s"] > 0 and counters["rss_bytes"] > 1e6


def test_rates_come_from_counter_differences_inside_the_window() -> None:
    # a process at 1.5 cores for 4 s, then 0.5 core; the window covers seconds 1 to 5
    readings = [
        (100.0 + t, {"cpu_s": 1.5 * min(t, 4) + 0.5 * max(0, t - 4), "rss_bytes": 2**20 * (10 + t)})
        for t in range(8)
    ]
    summary = summarise(readings, 101.0, 105.0)
    cores = summary["figures"]["cores"]
    # intervals with midpoints 101.5 .. 104.5: three at 1.5, one at 0.5
    assert cores["mean"] == pytest.approx(1.25) and cores["max"] == pytest.approx(1.5)
    assert summary["series"]["t"] == [0.5, 1.5, 2.5, 3.5]
    assert summary["figures"]["rss_mib"] == {"mean": 13.5, "max": 15.0}


def test_a_counter_that_went_back_drops_its_interval_not_the_figure() -> None:
    readings = [
        (0.0, {"cpu_s": 10.0}),
        (1.0, {"cpu_s": 11.0}),
        (2.0, {"cpu_s": 0.5}),
        (3.0, {"cpu_s": 1.5}),
    ]
    summary = summarise(readings, 0.0, 3.0)
    assert summary["figures"]["cores"] == {"mean": 1.0, "max": 1.0}
    assert summary["series"]["cores"] == [1.0, None, 1.0]


def test_a_figure_no_reading_carried_is_absent_not_zero() -> None:
    summary = summarise([(0.0, {"cpu_s": 0.0}), (1.0, {"cpu_s": 1.0})], 0.0, 1.0)
    assert set(summary["figures"]) == {"cores"}
    figures = resource_figures(
        {"broker-0": [(0.0, {"cpu_s": 0.0})]},
        0.0,
        1.0,
        {"broker-0 Kafka metrics": "the exporter did not answer"},
    )
    assert figures["sources"] == {}
    assert figures["missing"] == [
        "broker-0 Kafka metrics: the exporter did not answer",
        "broker-0: fewer than two readings inside the measured window",
    ]


def test_the_host_share_is_busy_over_total_ticks() -> None:
    readings = [
        (0.0, {"host_busy_ticks": 0.0, "host_total_ticks": 0.0}),
        (1.0, {"host_busy_ticks": 150.0, "host_total_ticks": 200.0}),
        (2.0, {"host_busy_ticks": 200.0, "host_total_ticks": 400.0}),
    ]
    figures = summarise(readings, 0.0, 2.0)["figures"]
    assert figures == {"host_busy": {"mean": 0.5, "max": 0.75}}


@given(st.lists(st.floats(0.0, 4.0), min_size=2, max_size=30))
def test_the_mean_rate_is_the_counters_change_over_the_time(rates: list[float]) -> None:
    total, readings = 0.0, [(0.0, {"cpu_s": 0.0})]
    for i, rate in enumerate(rates, 1):
        total += rate
        readings.append((float(i), {"cpu_s": total}))
    cores = summarise(readings, 0.0, float(len(rates)))["figures"]["cores"]
    assert cores["mean"] == pytest.approx(total / len(rates), abs=1e-3)
    assert cores["max"] == pytest.approx(max(rates), abs=1e-3)


def test_cgroup_paths_cover_v1_and_v2_lines() -> None:
    text = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/system.slice/x\n"
    assert cgroup_paths(text) == {
        "cpu": "docker/abc",
        "cpuacct": "docker/abc",
        "memory": "docker/abc",
        "": "system.slice/x",
    }


def test_a_container_cgroup_is_read_from_its_hosts_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a v1 host whose cpu and cpuacct are mounted together, as Debian's older systemd did
    (tmp_path / "cpu,cpuacct" / "docker" / "abc").mkdir(parents=True)
    (tmp_path / "cpu,cpuacct" / "docker" / "abc" / "cpuacct.usage").write_text("2500000000\n")
    (tmp_path / "memory" / "docker" / "abc").mkdir(parents=True)
    (tmp_path / "memory" / "docker" / "abc" / "memory.usage_in_bytes").write_text("4096\n")
    real = Path.read_text

    def fake(path: Path, *args: object, **kw: object) -> str:
        if str(path) == "/proc/77/cgroup":
            return "3:cpu,cpuacct:/docker/abc\n2:memory:/docker/abc\n"
        return real(path)

    monkeypatch.setattr(Path, "read_text", fake)
    assert read_cgroup(77, root=tmp_path) == {"cpu_s": 2.5, "memory_bytes": 4096.0}
    # v2: one hierarchy, cpu.stat in microseconds
    (tmp_path / "v2" / "sys" / "c").mkdir(parents=True)
    (tmp_path / "v2" / "sys" / "c" / "cpu.stat").write_text("usage_usec 1500000\n")
    (tmp_path / "v2" / "sys" / "c" / "memory.current").write_text("8192\n")

    def fake2(path: Path, *args: object, **kw: object) -> str:
        return "0::/sys/c\n" if str(path) == "/proc/78/cgroup" else real(path)

    monkeypatch.setattr(Path, "read_text", fake2)
    assert read_cgroup(78, root=tmp_path / "v2") == {"cpu_s": 1.5, "memory_bytes": 8192.0}


def test_a_reading_without_a_counter_is_bridged_not_dropped() -> None:
    # handlers idle 39% of each second; the scrape at t=2 timed out (busy broker), so that
    # reading has the process's counters but not Kafka's
    readings = [
        (float(t), {"cpu_s": float(t), **({} if t == 2 else {"handler_idle_ns": 0.39e9 * t})})
        for t in range(5)
    ]
    figures = summarise(readings, 0.0, 4.0)["figures"]
    assert figures["handler_idle"]["mean"] == pytest.approx(0.39)
    assert figures["handler_idle"]["bridged_s"] == 2.0  # the two seconds around t=2
    assert "bridged_s" not in figures["cores"]


def test_series_times_count_from_the_window_start() -> None:
    # a broker down for the window's first 20 s: its first readings come late
    readings = [(1020.0 + t, {"cpu_s": float(t)}) for t in range(3)]
    summary = summarise(readings, 1000.0, 1030.0)
    assert summary["series"]["t"] == [20.5, 21.5]


def test_every_figure_says_its_unit_and_method() -> None:
    units = resource_figures({}, 0.0, 1.0, {})["units"]
    assert units["cores"] == "cores, the rate of a cumulative counter"
    assert "1-minute average" in units["network_idle"]
    assert "steal" in units["host_busy"]
