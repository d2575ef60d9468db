"""`frida bench --monitor-cost`: what reading a broker's figures once a second costs.

Two costs, on one local broker with its JMX exporter: the controller's CPU per reading
(thread CPU time of `monitor.read()`, which reads /proc and scrapes the exporter), and the
broker's own CPU spent serving the scrapes, as the difference between its CPU in
alternating phases with and without readings. The broker's idle CPU wanders on its own
(heartbeats, the log cleaner), so each phase's figure is printed and the difference is
given with the spread of the phases beside it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from pytest_frida.runtimes.monitor import BrokerMonitor
from pytest_frida.sites.base import Cluster

Say = Callable[[str], None]


def _broker_cpu_s(monitor: BrokerMonitor) -> float:
    return float(monitor.read()["broker-0"]["cpu_s"])


def measure_monitor_cost(
    cluster: Cluster, say: Say, phase_s: float = 20.0, rounds: int = 3
) -> dict[str, Any]:
    """Alternate `rounds` quiet phases and sampled phases of `phase_s` seconds each."""
    monitor = cluster.monitor
    if monitor is None:
        raise RuntimeError("the cluster has no monitor (--frida-monitor=off?)")
    quiet, sampled, read_cpu, read_wall = [], [], [], []
    for n in range(rounds):
        say(f"round {n + 1} of {rounds}: {phase_s:g}s without readings, {phase_s:g}s with")
        start = _broker_cpu_s(monitor)
        time.sleep(phase_s)
        quiet.append((_broker_cpu_s(monitor) - start) / phase_s)
        start = _broker_cpu_s(monitor)
        began = time.monotonic()
        for i in range(int(phase_s)):
            wall, cpu = time.perf_counter(), time.thread_time()
            monitor.read()
            read_cpu.append(time.thread_time() - cpu)
            read_wall.append(time.perf_counter() - wall)
            time.sleep(max(0.0, began + i + 1 - time.monotonic()))
        sampled.append((_broker_cpu_s(monitor) - start) / (time.monotonic() - began))
    problems = monitor.take_problems()
    return {
        "phase_s": phase_s,
        "rounds": rounds,
        "broker_cores_quiet": [round(v, 4) for v in quiet],
        "broker_cores_sampled": [round(v, 4) for v in sampled],
        "scrape_cost_cores": round(statistics.mean(sampled) - statistics.mean(quiet), 4),
        "quiet_spread_cores": round(max(quiet) - min(quiet), 4),
        "read_cpu_ms": round(statistics.mean(read_cpu) * 1000, 2),
        "read_wall_ms": round(statistics.median(read_wall) * 1000, 2),
        "problems": problems,
    }


def format_cost(cost: dict[str, Any]) -> list[str]:
    """The figures in words, one line each."""
    return [
        f"controller: {cost['read_cpu_ms']:g} ms of CPU per reading (median wall"
        f" {cost['read_wall_ms']:g} ms), {cost['read_cpu_ms'] / 10:.2f}% of a core at one"
        " reading a second",
        f"broker: {cost['broker_cores_quiet']} cores without readings,"
        f" {cost['broker_cores_sampled']} with ({cost['phase_s']:g}s phases)",
        f"broker's cost of serving the scrapes: {cost['scrape_cost_cores'] * 100:.2f}% of a"
        f" core (the quiet phases alone spread over {cost['quiet_spread_cores'] * 100:.2f}%)",
        *(f"not read: {k}: {v}" for k, v in cost["problems"].items()),
    ]
