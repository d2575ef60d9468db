"""How much CPU an agent was allowed: the throttling of its own cgroup's CPU quota.

A process under a CPU quota (a container's `--cpus`, a systemd slice, a test's cgroup)
that uses its whole quota in a period is frozen until the next one. Neither its loop nor
the scheduler's per-thread wait figures see that well: the loop merely finds its data
late, and a throttled thread is not waiting for a CPU. The cgroup counts it exactly: the
share of quota periods in which the group ran out of CPU. Near 1, the agent had no CPU to
spare, whatever it was doing.
"""

from __future__ import annotations

from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cpu_stat_path() -> Path | None:
    """The cpu.stat of this process's cgroup (v2, else v1's cpu controller), or None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    candidates = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if controllers == "":
            candidates += [
                CGROUP_ROOT / rel / "cpu.stat",
                CGROUP_ROOT / "unified" / rel / "cpu.stat",
            ]
        elif "cpu" in controllers.split(","):
            mount = ",".join(sorted(controllers.split(","), key=lambda c: c != "cpu"))
            candidates += [
                CGROUP_ROOT / mount / rel / "cpu.stat",
                CGROUP_ROOT / "cpu" / rel / "cpu.stat",
                CGROUP_ROOT / "cpu,cpuacct" / rel / "cpu.stat",
            ]
    for candidate in candidates:
        try:
            text = candidate.read_text()
        except OSError:
            continue
        if "nr_throttled" in text:
            return candidate
    return None


class ThrottleMeter:
    """Reads (periods, throttled periods) of this process's CPU quota, if it has one."""

    def __init__(self) -> None:
        self._path = _cpu_stat_path()

    def read(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            stat = dict(
                line.split() for line in self._path.read_text().splitlines() if line.count(" ") == 1
            )
            return int(stat["nr_periods"]), int(stat["nr_throttled"])
        except (OSError, KeyError, ValueError):
            return None


def throttled_share(start: tuple[int, int] | None, end: tuple[int, int] | None) -> float:
    """Share of the quota periods between two readings in which the quota ran out (0.0
    without a quota, or when no period passed)."""
    if start is None or end is None:
        return 0.0
    periods = end[0] - start[0]
    if periods <= 0:
        return 0.0
    return min(1.0, max(0.0, (end[1] - start[1]) / periods))
