"""How fast this host's cores ran around a run, and how much of them the run had.

Two runs of one plan on one machine class can still meet different hosts: a VM whose
neighbours take its cores (CPU steal), a slower clock, a thermal limit. On a single-host
site (local, docker, swarm) the broker and the harness share those cores, so a limit that
moved with the host's speed is the host's change, not Kafka's. The probe hashes a fixed
buffer with SHA-256 (C code in hashlib: one core, no allocation) for a few short rounds
and keeps their median and spread; /proc/stat gives the share of CPU time stolen from the
VM and the share busy between two readings.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

#: sites whose brokers and harness share this one host, whose speed then bounds both
SINGLE_HOST_SITES = ("local", "docker", "swarm")


def usable_core_count() -> int:
    """The cores this process may run on (its affinity; every core where it has none):
    what the harness's agents share, and the ceiling of a host they share with brokers."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


#: the probe's default: five rounds of 0.1 s, about half a second of one core
ROUNDS = 5
ROUND_S = 0.1
_BUFFER = bytes(64 * 1024)


@dataclass(frozen=True)
class HostSpeed:
    """One probe: SHA-256 throughput of one core, median of its rounds."""

    mib_per_s: float
    #: (fastest - slowest) / median of the rounds, in percent: the probe's own noise
    spread_pct: float
    rounds: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe(rounds: int = ROUNDS, round_s: float = ROUND_S) -> HostSpeed:
    """Hash `_BUFFER` over and over for `rounds` windows of `round_s` seconds each."""
    if rounds < 1 or round_s <= 0:
        raise ValueError(f"probe needs rounds >= 1 and round_s > 0, got {rounds}, {round_s}")
    rates = []
    for _ in range(rounds):
        digest = hashlib.sha256()
        hashed = 0
        start = now = time.perf_counter()
        while now - start < round_s:
            digest.update(_BUFFER)
            hashed += len(_BUFFER)
            now = time.perf_counter()
        rates.append(hashed / (now - start) / 2**20)
    median = statistics.median(rates)
    return HostSpeed(
        mib_per_s=round(median, 1),
        spread_pct=round((max(rates) - min(rates)) / median * 100, 1),
        rounds=rounds,
    )


@dataclass(frozen=True)
class CpuTimes:
    """The first line of /proc/stat: clock ticks of all cores since boot."""

    total: int
    idle: int
    steal: int

    def shares(self, later: CpuTimes) -> dict[str, float] | None:
        """Busy and stolen shares of the CPU time between this reading and `later`, in
        percent (None when no tick passed)."""
        total = later.total - self.total
        if total <= 0:
            return None
        return {
            "busy_pct": round((total - (later.idle - self.idle)) / total * 100, 1),
            "steal_pct": round((later.steal - self.steal) / total * 100, 1),
        }


def parse_proc_stat(text: str, cores: Collection[int] | None = None) -> CpuTimes:
    """The aggregate `cpu` line, or the `cpuN` lines of `cores` summed: user nice system
    idle iowait irq softirq steal ... (guest time is already counted in user and nice, so
    it is left out of the total)."""
    wanted = {"cpu"} if cores is None else {f"cpu{core}" for core in cores}
    total = idle = steal = 0
    found = set()
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] in wanted:
            ticks = [int(v) for v in fields[1:9]] + [0] * (8 - len(fields[1:9]))
            total += sum(ticks)
            idle += ticks[3] + ticks[4]  # idle and iowait
            steal += ticks[7]
            found.add(fields[0])
    if found != wanted:
        raise ValueError(f"no {', '.join(sorted(wanted - found))} line in /proc/stat")
    return CpuTimes(total=total, idle=idle, steal=steal)


def read_cpu_times() -> CpuTimes | None:
    """This host's CPU times, or None where /proc/stat cannot be read."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            return parse_proc_stat(fh.read())
    except (OSError, ValueError):
        return None


def slower_pct(baseline: dict[str, Any], current: dict[str, Any]) -> tuple[float, float] | None:
    """How much slower (positive) or faster (negative) the current host probed than the
    baseline's, in percent, and the probes' own noise (the larger spread) beside it; None
    when either run has no probe."""
    try:
        base, cur = float(baseline["mib_per_s"]), float(current["mib_per_s"])
        noise = max(float(baseline["spread_pct"]), float(current["spread_pct"]))
    except (KeyError, TypeError, ValueError):
        return None
    if base <= 0:
        return None
    return (base - cur) / base * 100, noise


def run_summary(host: dict[str, Any]) -> dict[str, Any] | None:
    """One run's host figures as the history keeps them: the mean of the probes before and
    after, a spread that includes their difference (a host that changed speed during the
    run is a noisy one), and the run's busy and stolen CPU shares. None without a probe."""
    probes = [p for p in (host.get("before"), host.get("after")) if isinstance(p, dict)]
    if not probes:
        return None
    speeds = [float(p["mib_per_s"]) for p in probes]
    mean = sum(speeds) / len(speeds)
    drift = (max(speeds) - min(speeds)) / mean * 100 if mean > 0 else 0.0
    run = host.get("run") or {}
    return {
        "mib_per_s": round(mean, 1),
        "spread_pct": round(max([drift, *(float(p["spread_pct"]) for p in probes)]), 1),
        "busy_pct": run.get("busy_pct"),
        "steal_pct": run.get("steal_pct"),
    }


def describe(host: dict[str, Any]) -> str | None:
    """The run's host figures in one line, None without a probe."""
    probes = {when: p for when in ("before", "after") if isinstance(p := host.get(when), dict)}
    if not probes:
        return None
    speeds = " and ".join(f"{p['mib_per_s']:g} MiB/s {when}" for when, p in probes.items())
    spread = max(float(p["spread_pct"]) for p in probes.values())
    text = (
        f"this host's speed: one core hashed {speeds} the run (SHA-256, rounds within {spread:g}%)"
    )
    run = host.get("run")
    if isinstance(run, dict):
        text += (
            f"; over the run {run['busy_pct']:g}% of its CPU time was busy and"
            f" {run['steal_pct']:g}% stolen by other tenants"
        )
    return text
