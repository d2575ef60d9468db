"""Slow agents down on purpose with a real CPU quota (the kernel's CFS bandwidth control).

Each process put under a `CpuQuota` gets a cgroup of its own limited to `cores` of CPU
time (0.05: 5 ms of every 100 ms period), whatever else runs on the machine; threads it
has or starts later are limited with it. cgroup v2 (`cpu.max`) is used where its cpu
controller is available, else cgroup v1 (`cpu.cfs_quota_us`); both need root (or a
delegated, writable hierarchy).

    reason = quota_unavailable()
    if reason:
        pytest.skip(reason)
    with CpuQuota(0.05) as quota:
        original = cluster.launcher
        cluster.launcher = QuotaLauncher(original, quota)   # consumer agents only
        try:
            result = StepRunner(cluster, ...).run(...)
        finally:
            cluster.launcher = original

Agents are moved into their cgroup right after they start (before their `ready`), and
back out when the quota ends; the cgroups are removed then.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from pytest_frida.runtimes.agents import AgentHandle, AgentLauncher
from pytest_frida.workload.protocol import AgentConfig

PERIOD_US = 100_000
CGROUP_ROOT = Path("/sys/fs/cgroup")


class QuotaUnavailable(RuntimeError):
    """No writable cgroup hierarchy with a cpu controller here; the message says why."""


def _own_cgroup(controller: str | None) -> str:
    """This process's cgroup path in the v1 hierarchy of `controller` (None: v2)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or (
            controller is not None and controller in controllers.split(",")
        ):
            return path
    return "/"


def _v2_base() -> Path | None:
    """A v2 directory under which child groups get the cpu controller, or None."""
    for mount in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        controllers = mount / "cgroup.controllers"
        if controllers.is_file() and "cpu" in controllers.read_text().split():
            return mount
    return None


def _v1_base() -> Path | None:
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        mount = CGROUP_ROOT / name
        if (mount / "cpu.cfs_quota_us").is_file():
            return mount
    return None


class CpuQuota:
    """Per-process CPU quotas of `cores` each (e.g. 0.05 = 5% of one core)."""

    def __init__(self, cores: float) -> None:
        if not 0.01 <= cores <= 64:
            raise ValueError(f"cores={cores}: expected 0.01 to 64")
        self.cores = cores
        self.version = 0
        self.base: Path | None = None
        self._groups: dict[int, Path] = {}

    def __enter__(self) -> CpuQuota:
        name = f"frida-quota-{os.getpid()}-{time.monotonic_ns()}"
        v2 = _v2_base()
        errors = []
        if v2 is not None:
            try:
                base = v2 / name
                base.mkdir()
                try:
                    (base / "cgroup.subtree_control").write_text("+cpu")
                except OSError:
                    base.rmdir()
                    raise
                self.base, self.version = base, 2
                return self
            except OSError as exc:
                errors.append(f"cgroup v2 at {v2}: {exc}")
        v1 = _v1_base()
        if v1 is not None:
            try:
                base = v1 / name
                base.mkdir()
                self.base, self.version = base, 1
                return self
            except OSError as exc:
                errors.append(f"cgroup v1 at {v1}: {exc}")
        raise QuotaUnavailable(
            "no writable cgroup with a cpu controller: "
            + ("; ".join(errors) or f"none mounted under {CGROUP_ROOT}")
        )

    def add(self, pid: int) -> Path:
        """Put process `pid` (all its threads) under a quota of its own; its cgroup."""
        assert self.base is not None, "use CpuQuota as a context manager"
        group = self.base / f"p{pid}"
        group.mkdir()
        quota_us = max(1000, round(self.cores * PERIOD_US))
        if self.version == 2:
            (group / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota_us))
        (group / "cgroup.procs").write_text(str(pid))
        self._groups[pid] = group
        return group

    def throttled_s(self, pid: int) -> float:
        """Seconds process `pid` was held back by its quota so far."""
        for line in (self._groups[pid] / "cpu.stat").read_text().splitlines():
            key, value = line.split()
            if key == "throttled_usec":
                return int(value) / 1e6
            if key == "throttled_time":  # v1: ns
                return int(value) / 1e9
        return 0.0

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.base is None:
            return
        # processes still running go back where quota-free processes live
        home = self.base.parent
        for group in self._groups.values():
            with contextlib.suppress(OSError):
                for pid in (group / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        (home / "cgroup.procs").write_text(pid)
            for _ in range(50):  # a moved process leaves its cgroup a moment later
                try:
                    group.rmdir()
                    break
                except OSError as err:
                    if err.errno != errno.EBUSY:
                        break
                    time.sleep(0.02)
        with contextlib.suppress(OSError):
            self.base.rmdir()
        self.base = None


def quota_unavailable() -> str | None:
    """Why a CpuQuota cannot work here (None: it can), for pytest.skip."""
    probe = subprocess.Popen(["sleep", "30"])
    try:
        with CpuQuota(0.5) as quota:
            quota.add(probe.pid)
    except (QuotaUnavailable, OSError) as exc:
        return f"no CPU quota possible here: {exc}"
    finally:
        probe.kill()
        probe.wait()
    return None


def is_consumer(config: AgentConfig) -> bool:
    return config.get("role") == "consumer"


class QuotaLauncher(AgentLauncher):
    """Launches through `inner` and puts the agents `select` picks (by their config; default
    every consumer agent) under `quota`, one cgroup each. Only for launchers whose agents
    are local child processes (the local site)."""

    def __init__(
        self,
        inner: AgentLauncher,
        quota: CpuQuota,
        select: Callable[[AgentConfig], bool] = is_consumer,
    ) -> None:
        self.inner = inner
        self.quota = quota
        self.select = select
        self.slowed: list[AgentHandle] = []
        self.remote_clocks = inner.remote_clocks

    def host_of(self, role: str, slot: int = 0) -> str:
        return self.inner.host_of(role, slot)

    def plan_producers(self, producers: int, workers: int) -> list[tuple[int, int]]:
        split = self.inner.plan_producers(producers, workers)
        self.placement_note = self.inner.placement_note
        return split

    def launch(self, name: str, config: AgentConfig, slot: int = 0) -> AgentHandle:
        handle = self.inner.launch(name, config, slot)
        if self.select(config):
            self.quota.add(handle.process.pid)
            self.slowed.append(handle)
        return handle

    def hosts(self) -> list[str]:
        return self.inner.hosts()
