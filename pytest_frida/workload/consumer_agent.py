"""Consumer agent: reads its share of the step's partitions and measures delivery latency,
and itself.

Latency is receive time minus the message's *intended* send time, so a producer that
fell behind its schedule shows up as latency instead of hiding it. The time from the
actual send is kept beside it for comparison.

A step runs one agent per share of the topic's partitions (`controller.consumer_shards`); each one
says how hard it worked over the measured window, so a step whose consumers could not keep
up is not mistaken for a slow broker:
- `busy`: the largest of `loop_busy`, the share of the window its loop was not waiting in
  poll for data (decoding, accounting), `cpu_wait`, the time its threads waited for a CPU
  per second of window (a host too busy to run it: then its fetch threads starve and the
  loop waits in poll for data that is there), and `throttled`, the share of its CPU
  quota's periods that ran out (a container's CPU limit: see workload.cpu);
- `cpu_share`: the process's CPU time over the window, in cores;
- `lag_max` / `lag_end`: messages between its positions and the partitions' high
  watermarks, sampled about once a second by a thread of its own (a watermark query is a
  broker round trip, which must not stall the loop), at most over the window and just
  after its end.

The drain (after the producers reported) ends when every acknowledged message of its
partitions arrived (`drain.DrainCheck`), when nothing new arrived for `stall_timeout`
seconds, or at `cap` seconds; `drain_stop` says which.
"""

from __future__ import annotations

import os
import queue
import resource
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from pytest_frida.measure.accounting import SequenceTracker
from pytest_frida.measure.histogram import BufferedRecorder
from pytest_frida.workload import protocol
from pytest_frida.workload.cpu import ThrottleMeter, throttled_share
from pytest_frida.workload.drain import DrainCheck
from pytest_frida.workload.drivers import load_driver
from pytest_frida.workload.drivers.base import Consumer
from pytest_frida.workload.messages import decode_tick
from pytest_frida.workload.schedule import Window

#: seconds between lag samples
LAG_EVERY_S = 1.0
#: at most this long for the last lag sample after the drain, and again for the sampler to
#: stop (the controller's deadline leaves 30 s past the drain's cap)
LAG_WAIT_CAP_S = 8.0
#: how long poll waits for a first message (also how soon a command is seen)
POLL_S = 0.1
#: drain defaults when the controller names none
DEFAULT_STALL_S = 15.0
DEFAULT_CAP_S = 120.0


def _read_commands(commands: queue.Queue[dict[str, Any] | None]) -> None:
    try:
        while True:
            commands.put(protocol.read_message())
    except (EOFError, ValueError):
        commands.put(None)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LagSampler:
    """Samples the consumer's lag on a thread of its own: about once a second, and at once
    when asked (`now()`). Samples are (wall time ns when taken, lag summed over the
    partitions); a query the broker did not answer leaves no sample and counts in
    `failed`."""

    def __init__(self, consumer: Consumer, every_s: float = LAG_EVERY_S) -> None:
        self._consumer = consumer
        self._every_s = every_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._taken = threading.Condition()
        self.samples: list[tuple[int, int]] = []
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="frida-lag", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def now(self) -> None:
        self._wake.set()

    @property
    def latest(self) -> int | None:
        return self.samples[-1][1] if self.samples else None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # a `now()` during the query asks for the next one at once
            taken_ns = time.time_ns()
            lags = self._consumer.lag()
            with self._taken:
                if lags is None:
                    self.failed += 1
                else:  # kept even when stopping: the query answered, the figure is true
                    self.samples.append((taken_ns, sum(lags.values())))
                self._taken.notify_all()
            self._wake.wait(self._every_s)

    def sample_after(self, after_ns: int, timeout_s: float) -> bool:
        """Ask for a sample taken at or after `after_ns` and wait for it, `timeout_s` at
        most: the lag at a window's end is a figure of the step, not a matter of timing.
        False when none came (the broker did not answer in time)."""
        deadline = time.monotonic() + timeout_s
        with self._taken:
            while not (self.samples and self.samples[-1][0] >= after_ns):
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._wake.set()
                self._taken.wait(min(left, self._every_s))
        return True

    def stop(self, timeout_s: float) -> bool:
        """Stop sampling; False when a query is still running after `timeout_s`."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


def lag_figures(samples: list[tuple[int, int]], window: Window) -> tuple[int, int, int]:
    """(lag_max, lag_end, samples used): the largest lag sampled inside the window or at its
    end, the first sample at or after its end (else the last one inside), and how many
    samples that was (0: no figure, both are 0)."""
    inside = [lag for t, lag in samples if window.measure_start_ns <= t < window.end_ns]
    after = [lag for t, lag in samples if t >= window.end_ns]
    end = after[0] if after else (inside[-1] if inside else None)
    used = inside + ([end] if after and end is not None else [])
    return max(used, default=0), end if end is not None else 0, len(used)


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
        return cls(
            time.monotonic(), _cpu_seconds(), consumer.wait_s, run_delays(), _THROTTLE.read()
        )


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


class _Measured:
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


class Books:
    """What one consumer saw: sequence trackers, latencies, the per-second timeline and
    the count received inside the window. `take` is the hot loop."""

    def __init__(self, total_partitions: int) -> None:
        self.total_partitions = total_partitions
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

    def take(self, values: list[bytes], now_ns: int) -> int:
        """Account for messages received at `now_ns`; returns how many were new."""
        trackers, partitions = self.trackers, self.total_partitions
        window = self.window
        fresh = 0
        if window is None:  # nothing is sent before the start; count it all the same
            for value in values:
                tick = decode_tick(value)
                tracker = trackers.get(tick.producer)
                if tracker is None:
                    tracker = trackers[tick.producer] = SequenceTracker(partitions)
                fresh += tracker.see(tick.seq)
            return fresh
        corrections, timeline = self.corrections, self.timeline
        e2e, e2e_from_send = self.e2e, self.e2e_from_send
        t0_ns, start_ns, end_ns = window.t0_ns, window.measure_start_ns, window.end_ns
        for value in values:
            tick = decode_tick(value)
            pid = tick.producer
            tracker = trackers.get(pid)
            if tracker is None:
                tracker = trackers[pid] = SequenceTracker(partitions)
            if not tracker.see(tick.seq):
                continue
            fresh += 1
            skew_ns = corrections.get(pid, 0)
            intended_ns = tick.intended_ns
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

    def figures(self) -> dict[str, Any]:
        """The accounting part of the result event."""
        return {
            "e2e": self.e2e.fold().encode(),
            "e2e_from_send": self.e2e_from_send.fold().encode(),
            "received_in_window": self.received_in_window,
            "trackers": {str(pid): t.to_dict() for pid, t in self.trackers.items()},
            "timeline": [[sec, *row] for sec, row in sorted(self.timeline.items())],
        }


class _Drain:
    """The drain the controller asked for: when it ends, and why."""

    def __init__(self, command: dict[str, Any], partitions: list[int], total: int) -> None:
        self.check = DrainCheck(command.get("expected", {}), partitions, total)
        self.stall_s = float(command.get("stall_timeout", DEFAULT_STALL_S))
        self.cap_s = float(command.get("cap", command.get("timeout", DEFAULT_CAP_S)))
        self.started = self.last_fresh = time.monotonic()

    def stop_reason(self, now: float, books: Books) -> str:
        """complete, stalled (nothing new for stall_s), cap (cap_s over), or "" to go on."""
        if self.check.complete(books.trackers):
            return "complete"
        if now - self.last_fresh >= self.stall_s:
            return "stalled"
        if now - self.started >= self.cap_s:
            return "cap"
        return ""


def _open(config: dict[str, Any]) -> tuple[Consumer, int]:
    """The consumer on its share of the partitions, and the topic's partition count."""
    driver = load_driver(config["client"])
    wanted = config.get("partitions")
    consumer = driver.consumer(
        config["bootstrap"],
        config["topic"],
        f"frida-consumer-{int(config.get('consumer_index', 0))}",
        None if wanted is None else [int(p) for p in wanted],
    )
    total = int(config.get("total_partitions") or consumer.topic_partitions)
    if total != consumer.topic_partitions:
        raise RuntimeError(
            f"the step says the topic has {total} partitions, its metadata"
            f" {consumer.topic_partitions}"
        )
    return consumer, total


def run(config: dict[str, Any]) -> None:
    consumer, total = _open(config)
    commands: queue.Queue[dict[str, Any] | None] = queue.Queue()
    threading.Thread(target=_read_commands, args=(commands,), daemon=True).start()
    sampler = LagSampler(consumer)
    sampler.start()
    protocol.emit("ready", partitions=consumer.partitions)

    books = Books(total)
    measured = _Measured()
    next_progress = time.monotonic() + 1.0
    drain: _Drain | None = None
    drain_stop = ""
    while not drain_stop:
        try:
            command = commands.get_nowait()
        except queue.Empty:
            command = {}
        if command is None:
            sampler.stop(0.0)
            return  # controller went away
        if command.get("cmd") == "start":
            books.start(
                Window.of(
                    int(command["t0_ns"]), float(config["warmup"]), float(config["duration"])
                ),
                command.get("corrections", []),
            )
        elif command.get("cmd") == "drain":
            drain = _Drain(command, consumer.partitions, total)
        values = consumer.poll(POLL_S)
        now_ns = time.time_ns()
        measured.observe(books.window, now_ns, consumer, sampler)
        fresh = books.take(values, now_ns) if values else 0
        now = time.monotonic()
        if now >= next_progress:
            protocol.emit(
                "progress",
                received=books.received(),
                p99_ms=books.e2e.fold().percentile_ms(99),
                lag=sampler.latest,
            )
            next_progress = now + 1.0
        if drain is not None:
            if fresh:
                drain.last_fresh = now
            drain_stop = drain.stop_reason(now, books)
    assert drain is not None
    _emit_result(config, consumer, books, measured, sampler, drain, drain_stop)


def _emit_result(
    config: dict[str, Any],
    consumer: Consumer,
    books: Books,
    measured: _Measured,
    sampler: LagSampler,
    drain: _Drain,
    drain_stop: str,
) -> None:
    effort = measured.effort(consumer)
    drain_s = time.monotonic() - drain.started
    # the controller waits for this result only so long past the drain: the lag sampler
    # gets a bounded share of it, whatever the partition count
    query_s = min(2.0 * len(consumer.partitions) + 1.0, LAG_WAIT_CAP_S)
    end_sampled = books.window is not None and sampler.sample_after(books.window.end_ns, query_s)
    stopped = sampler.stop(query_s)
    lag_max, lag_end, lag_samples = (
        (0, 0, 0) if books.window is None else lag_figures(sampler.samples, books.window)
    )
    protocol.emit(
        "result",
        **books.figures(),
        drained=drain_stop == "complete",
        drain_stop=drain_stop,
        drain_s=round(drain_s, 3),
        drain_missing=0 if drain_stop == "complete" else drain.check.missing(books.trackers),
        busy=effort.busy,
        loop_busy=effort.loop_busy,
        cpu_wait=effort.cpu_wait,
        throttled=effort.throttled,
        cpu_share=effort.cpu_share,
        lag_max=lag_max,
        lag_end=lag_end,
        lag_samples=lag_samples,
        lag_end_sampled=end_sampled,
        lag_failed=sampler.failed,
        partitions=consumer.partitions,
        partition_received={str(p): n for p, n in sorted(consumer.received().items())},
        host=socket.gethostname(),
        consumer_index=int(config.get("consumer_index", 0)),
    )
    sys.stdout.flush()
    if stopped:  # never close a client a lag query still uses
        consumer.close()
