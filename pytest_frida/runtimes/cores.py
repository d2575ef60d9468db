"""Brokers and harness on separate cores of one machine (--frida-broker-cores).

On a single host the brokers and the load generator share the CPU, and Kafka counts a
request handler busy while it waits for a core the harness holds: when that CPU runs out,
no figure can tell the broker's own limit from the host's. Giving the brokers the last N
cores this process may use, and the controller with its agents the others, makes each
side's ceiling its own: the brokers' CPU is measured against N cores, and a harness short
of cores shows as its own saturation.

The controller pins every thread it has; threads and processes started later inherit the
mask from their creator, so the agents need no flag of their own. Brokers are started
outside that mask (`taskset`, or the container's cpuset).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CoreSplit:
    """Which cores the brokers run on, and which the controller and its agents run on."""

    broker: tuple[int, ...]
    harness: tuple[int, ...]

    @property
    def broker_list(self) -> str:
        """The brokers' cores as taskset and Docker's cpuset take them ("2,3")."""
        return ",".join(str(core) for core in self.broker)


def usable_cores() -> list[int]:
    """The cores this process may run on, in order."""
    return sorted(os.sched_getaffinity(0))


def split_cores(broker_cores: int, usable: list[int] | None = None) -> CoreSplit:
    """The last `broker_cores` usable cores for the brokers, the rest for the harness.
    ValueError when that leaves the harness none."""
    cores = usable if usable is not None else usable_cores()
    if not 1 <= broker_cores < len(cores):
        raise ValueError(
            f"{broker_cores} cores for the brokers: this machine lets the run"
            f" use {len(cores)} ({','.join(map(str, cores))}), and the harness"
            f" needs at least one; expected 1 to {len(cores) - 1}"
        )
    return CoreSplit(tuple(cores[-broker_cores:]), tuple(cores[:-broker_cores]))


def _threads() -> list[int]:
    return [int(p.name) for p in Path("/proc/self/task").iterdir() if p.name.isdigit()]


class HarnessPin:
    """The controller's threads held to the harness cores, and given back their masks."""

    def __init__(self, split: CoreSplit) -> None:
        self.split = split
        self._before: dict[int, set[int]] = {}

    def apply(self) -> None:
        """Pin every thread; OSError when the kernel refuses the mask (a cpuset that does
        not hold those cores), with every thread given back what it had."""
        try:
            for tid in _threads():
                try:
                    self._before.setdefault(tid, os.sched_getaffinity(tid))
                    os.sched_setaffinity(tid, self.split.harness)
                except ProcessLookupError:
                    continue  # a thread that ended meanwhile
            pinned = os.sched_getaffinity(0)
            if pinned != set(self.split.harness):
                raise OSError(
                    f"the harness's cores {set(self.split.harness)} could not be"
                    f" set (the kernel left {pinned})"
                )
        except OSError:
            self.release()
            raise

    def release(self) -> None:
        """Every thread back on the cores it had (threads started meanwhile: all of the
        process's first mask)."""
        everything = set().union(*self._before.values()) if self._before else None
        for tid in _threads():
            mask = self._before.get(tid, everything)
            if mask:
                try:
                    os.sched_setaffinity(tid, mask)
                except OSError:
                    continue  # ended meanwhile, or a mask no longer valid: stop goes on
        self._before = {}


def core_groups(pin: HarnessPin | None) -> dict[str, tuple[int, ...]]:
    """The cores a monitor reads apart: the brokers' and the harness's (none when shared)."""
    if pin is None:
        return {}
    return {"broker_cores": pin.split.broker, "harness_cores": pin.split.harness}


def cores_details(pin: HarnessPin | None) -> dict[str, object]:
    """What the report says of the split (nothing when the cores are shared)."""
    if pin is None:
        return {}
    return {
        "broker_cores": pin.split.broker_list,
        "harness_cores": ",".join(map(str, pin.split.harness)),
    }
