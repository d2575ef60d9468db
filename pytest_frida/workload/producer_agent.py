"""Producer agent: runs a shard of logical producers on an open-model schedule.

Each logical producer is its own client instance with its own connections (the broker's
cost per producer is what a capacity test measures). One scheduler loop walks the merged
schedule of all producers in this process. Acks come back on the clients' threads (or in
`serve()`), are handed over through a deque, and latencies are buffered in arrays that are
added to HdrHistograms in bulk, so the hot loop stays short.

With rate 0 the agent sends as fast as the client takes messages (a throughput probe):
then the intended send time is the actual one and publish delay is meaningless.
"""

from __future__ import annotations

import collections
import itertools
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pytest_frida.measure.histogram import BufferedRecorder
from pytest_frida.workload import protocol
from pytest_frida.workload.drivers import load_driver
from pytest_frida.workload.drivers.base import Producer, QueueFull
from pytest_frida.workload.limits import check_thread_limit, raise_fd_limit
from pytest_frida.workload.messages import HEADER_SIZE, instrument_symbol, pack_header
from pytest_frida.workload.schedule import LATE_LIMIT_S, NS, Schedule, Window

# producer, seq, sent_ns, ack_ns, error, client-measured latency (s)
_AckEvent = tuple[int, int, int, int, Exception | None, float | None]
_SERVE_EVERY_S = 0.005


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scheduler_busy(measured_wall_s: float, waited_s: float) -> float:
    """The share of the measured wall time the scheduler thread had no slack: it was neither
    sleeping until its next send nor waiting for the client to take a message (`waited_s`
    holds those waits). The rest it spent running, waiting for a CPU (a shared host) or
    waiting for the GIL (client threads in pure Python): a loop with no slack cannot keep a
    faster schedule, whatever holds it back."""
    if measured_wall_s <= 0:
        return 0.0
    return min(1.0, max(0.0, 1.0 - waited_s / measured_wall_s))


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Shard:
    """The producers of this agent and what happened to their messages."""

    def __init__(self, producers: dict[int, Producer], window: Window, size: int) -> None:
        self.producers = producers
        self.keys = {pid: instrument_symbol(pid) for pid in producers}
        self.padding = bytes(size - HEADER_SIZE)
        self.window = window
        self.acks: collections.deque[_AckEvent] = collections.deque()
        self.pending: dict[int, set[int]] = {pid: set() for pid in producers}
        self.failed: dict[int, list[int]] = {pid: [] for pid in producers}
        self.sent = dict.fromkeys(producers, 0)
        self.publish_delay = BufferedRecorder()
        self.publish_latency = BufferedRecorder()
        self.acked_total = self.acked_in_window = self.sends_in_window = 0
        self.queue_full = 0
        #: seconds spent waiting for a full client queue (back-pressure, not generator work)
        self.queue_wait_s = 0.0

    def drain_acks(self) -> None:
        acks, window = self.acks, self.window
        while acks:
            pid, seq, sent_ns, ack_ns, error, latency_s = acks.popleft()
            self.pending[pid].discard(seq)
            if error is not None:
                self.failed[pid].append(seq)
                continue
            self.acked_total += 1
            if window.measured(sent_ns):
                self.acked_in_window += 1
                self.publish_latency.add(int(latency_s * 1e6) if latency_s is not None
                                         else (ack_ns - sent_ns) // 1000)

    def serve(self) -> None:
        for producer in self.producers.values():
            producer.serve()

    def send(self, topic: str, pid: int, seq: int, intended_ns: int) -> int:
        """Queue message `seq` of producer `pid`; returns the actual send time (ns)."""
        producer, acks = self.producers[pid], self.acks
        while True:
            sent_ns = time.time_ns()
            value = pack_header(pid, seq, intended_ns or sent_ns, sent_ns) + self.padding

            def on_ack(error: Exception | None, latency_s: float | None, pid: int = pid,
                       seq: int = seq, sent_ns: int = sent_ns) -> None:
                acks.append((pid, seq, sent_ns, time.time_ns(), error, latency_s))

            try:
                producer.send(topic, self.keys[pid], value, on_ack)
                break
            except QueueFull:
                # the client holds as much as it may: let it deliver, then try again
                self.queue_full += 1
                waited = time.monotonic()
                producer.serve(0.001)
                self.queue_wait_s += time.monotonic() - waited
            except Exception as exc:  # a refused send is a failed message
                on_ack(exc, None)
                break
        self.pending[pid].add(seq)
        self.sent[pid] += 1
        return sent_ns


def run(config: dict[str, Any]) -> None:
    driver = load_driver(config["client"])
    first, count = int(config["first_producer"]), int(config["producer_count"])
    ids = range(first, first + count)
    topic, size = config["topic"], int(config["message_size"])
    settings = config.get("producer_settings", {})
    raise_fd_limit(count)
    check_thread_limit(count)

    def make(pid: int) -> Producer:
        producer = driver.producer(config["bootstrap"], f"frida-p{pid}", settings)
        producer.warm_up(topic)
        return producer

    with ThreadPoolExecutor(max_workers=min(16, count)) as pool:
        producers = dict(zip(ids, pool.map(make, ids), strict=True))
    protocol.emit("ready", producers=count, rss_mib=_max_rss_mib())

    start = protocol.read_message()
    window = Window.of(int(start["t0_ns"]), float(config["warmup"]), float(config["duration"]))
    shard = _Shard(producers, window, size)
    rate = float(config["rate"])
    cpu_at_measure: float | None = None
    #: schedule sleeps and queue waits once measuring started (slack, not work)
    slack_s = queue_wait_at_measure = 0.0
    wall_at_measure = 0.0
    last_delay_us = 0
    next_serve = next_progress = time.monotonic()

    def tick(intended_ns: int) -> None:
        nonlocal cpu_at_measure, queue_wait_at_measure, wall_at_measure, next_serve
        nonlocal next_progress
        # measuring starts with the window's wall time, or with its first message when the
        # schedule is ahead: a generator too far behind to reach the window is measured too
        if cpu_at_measure is None and max(intended_ns, time.time_ns()) >= window.measure_start_ns:
            cpu_at_measure, wall_at_measure = _cpu_seconds(), time.monotonic()
            queue_wait_at_measure = shard.queue_wait_s
        now = time.monotonic()
        if now >= next_serve:
            shard.serve()
            next_serve = now + _SERVE_EVERY_S
        if now >= next_progress:
            shard.drain_acks()
            protocol.emit("progress", sent=sum(shard.sent.values()), acked=shard.acked_total)
            next_progress = now + 1.0

    #: intended-in-window messages never sent, with their lateness when the agent gave up
    unsent = 0
    unsent_delay = BufferedRecorder()
    if rate > 0:
        schedule = Schedule(rate, int(config["total_producers"]), window)
        give_up_ns = window.end_ns + round(LATE_LIMIT_S * NS)
        pending_sends = schedule.merged(ids)
        for intended_ns, pid, seq in pending_sends:
            now_ns = time.time_ns()
            if now_ns > give_up_ns:
                # still this far behind when the step is over: the rest is never sent (the
                # step would take as many times its length as the schedule is too fast);
                # each counts with the delay it has reached, a lower bound, so no
                # percentile improves by what was left out
                for late_ns, *_ in itertools.chain([(intended_ns,)], pending_sends):
                    unsent += 1
                    if window.measured(late_ns):
                        unsent_delay.add((now_ns - late_ns) // 1000)
                last_delay_us = (now_ns - intended_ns) // 1000
                break
            delay = (intended_ns - now_ns) / 1e9
            if delay > 0.0002:
                slept = time.monotonic()
                time.sleep(delay)
                if cpu_at_measure is not None:
                    slack_s += time.monotonic() - slept
            tick(intended_ns)
            sent_ns = shard.send(topic, pid, seq, intended_ns)
            if window.measured(intended_ns):
                shard.sends_in_window += 1
                last_delay_us = (sent_ns - intended_ns) // 1000
                shard.publish_delay.add(last_delay_us)
    else:
        while time.time_ns() < window.t0_ns:
            time.sleep(0.001)
        seqs = dict.fromkeys(ids, 0)
        while (now_ns := time.time_ns()) < window.end_ns:
            tick(now_ns)
            measured = window.measured(now_ns)
            for _ in range(64):  # the clock and the bookkeeping once per 64 sends per producer
                for pid in ids:
                    shard.send(topic, pid, seqs[pid], 0)
                    seqs[pid] += 1
                    if measured:
                        shard.sends_in_window += 1

    end_cpu, end_wall = _cpu_seconds(), time.monotonic()
    slack_s += shard.queue_wait_s - queue_wait_at_measure
    flush_deadline = time.monotonic() + float(config.get("flush_timeout", 30))
    for producer in producers.values():
        producer.flush(max(0.0, flush_deadline - time.monotonic()))
    time.sleep(0.05)  # let the last threaded callbacks land
    shard.serve()
    shard.drain_acks()
    measured_wall = end_wall - wall_at_measure
    measured = cpu_at_measure is not None and measured_wall > 0
    cpu_share = (end_cpu - (cpu_at_measure or 0.0)) / measured_wall if measured else 0.0
    busy = scheduler_busy(measured_wall, slack_s) if measured else 0.0
    protocol.emit(
        "result",
        producers={str(pid): {"sent": shard.sent[pid],
                              "not_acked": sorted(shard.failed[pid] + list(shard.pending[pid]))}
                   for pid in ids},
        acked_in_window=shard.acked_in_window,
        sends_in_window=shard.sends_in_window,
        publish_delay=shard.publish_delay.fold().encode(),
        unsent=unsent,
        unsent_delay=unsent_delay.fold().encode(),
        publish_latency=shard.publish_latency.fold().encode(),
        final_publish_delay_ms=last_delay_us / 1000.0,
        cpu_share=cpu_share,
        scheduler_busy=busy,
        rss_mib=_max_rss_mib(),
        queue_full=shard.queue_full,
        errors=sum(len(f) for f in shard.failed.values()),
    )
    with ThreadPoolExecutor(max_workers=min(16, count)) as pool:
        list(pool.map(lambda p: p.close(), producers.values()))
    sys.stdout.flush()
