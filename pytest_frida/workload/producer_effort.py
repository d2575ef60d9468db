"""How hard a producer agent's scheduler worked over the measured window, and what it
never sent: the figures that tell a slow broker from a generator that fell behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from pytest_frida.measure.histogram import BufferedRecorder
from pytest_frida.workload.producer_books import Shard
from pytest_frida.workload.schedule import Window
from pytest_frida.workload.usage import cpu_seconds


def scheduler_busy(measured_wall_s: float, waited_s: float) -> float:
    """The share of the measured wall time the scheduler thread had no slack: it was neither
    sleeping until its next send nor waiting for the client to take a message (`waited_s`
    holds those waits). The rest it spent running, waiting for a CPU (a shared host) or
    waiting for the GIL (client threads in pure Python, the ack thread): a loop with no
    slack cannot keep a faster schedule, whatever holds it back."""
    if measured_wall_s <= 0:
        return 0.0
    return min(1.0, max(0.0, 1.0 - waited_s / measured_wall_s))


class Effort:
    """When measuring started (CPU, wall clock, queue waits at that moment) and the slack
    since: schedule sleeps and queue waits, which are not work."""

    def __init__(self, window: Window, shard: Shard) -> None:
        self.window = window
        self.shard = shard
        self.cpu_at_measure: float | None = None
        self.wall_at_measure = 0.0
        self.queue_wait_at_measure = 0.0
        self.slack_s = 0.0

    def tick(self, intended_ns: int) -> None:
        """Measuring starts with the window's wall time, or with its first message when the
        schedule is ahead: a generator too far behind to reach the window is measured too."""
        if (
            self.cpu_at_measure is None
            and max(intended_ns, time.time_ns()) >= self.window.measure_start_ns
        ):
            self.cpu_at_measure, self.wall_at_measure = cpu_seconds(), time.monotonic()
            self.queue_wait_at_measure = self.shard.queue_wait_s


class Unsent:
    """Intended messages never sent, with their lateness when the agent gave up."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.count = self.in_window = 0
        self.delay = BufferedRecorder()

    def leave(self, intended: Iterable[int], now_ns: int) -> None:
        """Still this far behind when the step is over: the rest is never sent (the step
        would take as many times its length as the schedule is too fast). Each counts with
        the delay it has reached, a lower bound, so no percentile improves by what was left
        out."""
        for late_ns in intended:
            self.count += 1
            if self.window.measured(late_ns):
                self.in_window += 1
                self.delay.add((now_ns - late_ns) // 1000)
