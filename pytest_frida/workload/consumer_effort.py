"""How hard a consumer worked over the measured window, so a step whose consumers could
not keep up is not mistaken for a slow broker: its loop's busy share, its threads' waits
for a CPU, its CPU quota's throttling (workload.cpu) and its CPU time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from pytest_frida.workload.consumer_lag import LagSampler
from pytest_frida.workload.cpu import ThrottleMeter, throttled_share
from pytest_frida.workload.drivers.base import Consumer
from pytest_frida.workload.schedule import Window
from pytest_frida.workload.usage import cpu_seconds

_THROTTLE = ThrottleMeter()


def run_delays() -> dict[int, int] | None:
    """Per thread of this process, nanoseconds it spent runnable but waiting for a CPU
    (Linux schedstat; a CPU quota's throttled time counts too). None without /proc."""
    out = {}
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                out[int(tid)] = int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue  # a thread that just ended
    return out


@dataclass(frozen=True)
class Snapshot:
    """The consumer's counters at one instant."""

    wall_s: float
    cpu_s: float
    #: seconds poll had waited for data, so far
    wait_s: float
    #: per thread, ns waited for a CPU so far (None: unknown here)
    run_delay_ns: dict[int, int] | None
    #: (quota periods, periods throttled) of this process's cgroup (None: no quota)
    throttle: tuple[int, int] | None = None

    @classmethod
    def take(cls, consumer: Consumer) -> Snapshot:
        return cls(time.monotonic(), cpu_seconds(), consumer.wait_s, run_delays(), _THROTTLE.read())


@dataclass(frozen=True)
class Effort:
    """How hard the consumer worked over the window."""

    #: share of the window the loop was working rather than waiting in poll for data
    loop_busy: float
    #: seconds its most delayed thread waited for a CPU per second of window, at most 1:
    #: held back by a host too busy to run it
    cpu_wait: float
    #: process CPU time over the window, in cores
    cpu_share: float
    #: share of its CPU quota's periods in which the quota ran out (workload.cpu)
    throttled: float = 0.0

    @property
    def busy(self) -> float:
        """The loop was working, or the process was kept from working for want of a CPU
        (its fetch threads starved, or its quota spent: the loop then waits in poll for
        data that is there)."""
        return max(self.loop_busy, self.cpu_wait, self.throttled)

    @classmethod
    def between(cls, start: Snapshot, end: Snapshot) -> Effort:
        wall = end.wall_s - start.wall_s
        if wall <= 0:
            return cls(0.0, 0.0, 0.0)
        waited_ns = 0
        if start.run_delay_ns is not None and end.run_delay_ns is not None:
            # the thread that waited most: a sum over a dozen mostly idle client threads
            # reads as saturation on any crowded host
            waited_ns = max(
                (
                    max(0, ns - start.run_delay_ns.get(tid, 0))
                    for tid, ns in end.run_delay_ns.items()
                ),
                default=0,
            )
        return cls(
            loop_busy=min(1.0, max(0.0, 1.0 - (end.wait_s - start.wait_s) / wall)),
            cpu_wait=min(1.0, waited_ns / 1e9 / wall),
            cpu_share=max(0.0, (end.cpu_s - start.cpu_s) / wall),
            throttled=throttled_share(start.throttle, end.throttle),
        )


class Measured:
    """The consumer's counters at the window's start and end, as the loop saw them (it
    notices each edge within one poll)."""

    def __init__(self) -> None:
        self.start: Snapshot | None = None
        self.end: Snapshot | None = None

    def observe(
        self, window: Window | None, now_ns: int, consumer: Consumer, sampler: LagSampler
    ) -> None:
        """Take the snapshot of an edge the loop has just passed, and a lag sample there."""
        if window is None:
            return
        if self.start is None and now_ns >= window.measure_start_ns:
            self.start = Snapshot.take(consumer)
            sampler.now()
        if self.end is None and now_ns >= window.end_ns:
            self.end = Snapshot.take(consumer)
            sampler.now()

    def effort(self, consumer: Consumer) -> Effort:
        """Over the window (up to now when it has not ended; zeros before it began)."""
        if self.start is None:
            return Effort(0.0, 0.0, 0.0)
        return Effort.between(self.start, self.end or Snapshot.take(consumer))
