"""A consumer's books: which messages arrived (sequence trackers), their latencies, the
per-second timeline and the count received inside the measured window.

Latency is receive time minus the message's *intended* send time, so a producer that
fell behind its schedule shows up as latency instead of hiding it. The time from the
actual send is kept beside it for comparison.
"""

from __future__ import annotations

from pytest_frida.measure.accounting import SequenceTracker
from pytest_frida.measure.histogram import BufferedRecorder
from pytest_frida.workload.consumer_lag import time_lag_ns
from pytest_frida.workload.instruments import Instruments
from pytest_frida.workload.messages import decode_tick, lane_of
from pytest_frida.workload.protocol import ConsumerBooks
from pytest_frida.workload.schedule import Window


class Books:
    """What one consumer saw: sequence trackers, latencies, the per-second timeline and
    the count received inside the window. `take` is the hot loop."""

    def __init__(self, total_partitions: int, instruments: Instruments | None = None) -> None:
        self.total_partitions = total_partitions
        #: a market workload's instruments: a message's lane is its instrument's partition
        self.instruments = instruments
        self.window: Window | None = None
        #: producer -> this host's clock minus that producer host's (ns)
        self.corrections: dict[int, int] = {}
        self.e2e = BufferedRecorder()  # receive - intended send
        self.e2e_from_send = BufferedRecorder()  # receive - actual send
        self.trackers: dict[int, SequenceTracker] = {}
        #: distinct messages received while the window was open
        self.received_in_window = 0
        #: per second of intended send time since the step's start: [messages, worst us,
        #: sum us] (the sum gives the second's mean, for measure.steady)
        self.timeline: dict[int, list[int]] = {}
        #: per partition, the intended send time (this host's clock) of the newest
        #: message read from it: where it reads, in time (consumer_lag.time_lag_ns)
        self.positions: dict[int, int] = {}

    def start(self, window: Window, corrections: list[list[int]]) -> None:
        """`corrections`: [first producer, count, ns] rows."""
        self.window = window
        self.corrections = {
            pid: int(ns)
            for first, count, ns in corrections
            for pid in range(int(first), int(first) + int(count))
        }

    def received(self) -> int:
        return sum(t.unique for t in self.trackers.values())

    def time_lag(self, now_ns: int, lags: dict[int, int]) -> int | None:
        """The lag in time (ns) at `now_ns` of per-partition lags `lags`; None before the
        start (no schedule to measure it by). Safe from the lag sampler's thread."""
        window = self.window
        if window is None:
            return None
        return time_lag_ns(now_ns, lags, self.positions.copy(), window.t0_ns)

    def take(self, values: list[bytes], now_ns: int) -> int:
        """Account for messages received at `now_ns`; returns how many were new."""
        trackers, partitions = self.trackers, self.total_partitions
        instruments, window = self.instruments, self.window
        fresh = 0
        if window is None:  # nothing is sent before the start; count it all the same
            for value in values:
                tick = decode_tick(value)
                tracker = trackers.get(tick.producer)
                if tracker is None:
                    tracker = trackers[tick.producer] = SequenceTracker(partitions)
                lane = (
                    -1
                    if instruments is None
                    else instruments.lane(tick.producer, tick.seq, partitions)
                )
                fresh += tracker.see(tick.seq, lane)
            return fresh
        corrections, timeline, positions = self.corrections, self.timeline, self.positions
        e2e, e2e_from_send = self.e2e, self.e2e_from_send
        t0_ns, start_ns, end_ns = window.t0_ns, window.measure_start_ns, window.end_ns
        for value in values:
            tick = decode_tick(value)
            pid = tick.producer
            tracker = trackers.get(pid)
            if tracker is None:
                tracker = trackers[pid] = SequenceTracker(partitions)
            lane = -1 if instruments is None else instruments.lane(pid, tick.seq, partitions)
            if not tracker.see(tick.seq, lane):
                continue
            fresh += 1
            skew_ns = corrections.get(pid, 0)
            intended_ns = tick.intended_ns
            partition = lane if lane >= 0 else lane_of(pid, tick.seq, partitions)
            positions[partition] = intended_ns + skew_ns
            latency_us = (now_ns - skew_ns - intended_ns) // 1000
            sec = (intended_ns - t0_ns) // 1_000_000_000
            second = timeline.get(sec)
            if second is None:
                second = timeline[sec] = [0, 0, 0]
            second[0] += 1
            if latency_us > second[1]:
                second[1] = latency_us
            second[2] += latency_us
            if start_ns <= intended_ns < end_ns:
                e2e.add(latency_us)
                e2e_from_send.add((now_ns - skew_ns - tick.sent_ns) // 1000)
        if start_ns <= now_ns < end_ns:
            self.received_in_window += fresh
        return fresh

    def figures(self) -> ConsumerBooks:
        """The accounting part of the result event."""
        return {
            "e2e": self.e2e.fold().encode(),
            "e2e_from_send": self.e2e_from_send.fold().encode(),
            "received_in_window": self.received_in_window,
            "trackers": {str(pid): t.to_dict() for pid, t in self.trackers.items()},
            "timeline": [[sec, *row] for sec, row in sorted(self.timeline.items())],
        }
