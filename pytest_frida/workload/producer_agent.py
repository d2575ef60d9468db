"""Producer agent: runs a shard of logical producers on an open-model schedule.

Each logical producer is its own client instance with its own connections (the broker's
cost per producer is what a capacity test measures). One scheduler loop walks the merged
schedule of all producers in this process; acks come back on the clients' threads and
are handed over through a deque, so no histogram is touched by two threads.
"""

from __future__ import annotations

import collections
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.workload import protocol
from pytest_frida.workload.drivers import load_driver
from pytest_frida.workload.drivers.base import Producer
from pytest_frida.workload.messages import Tick, encode_tick, instrument_symbol
from pytest_frida.workload.schedule import Schedule, Window

_AckEvent = tuple[int, int, int, int, Exception | None]  # producer, seq, sent_ns, ack_ns, error


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(config: dict[str, Any]) -> None:
    driver = load_driver(config["client"])
    first, count = int(config["first_producer"]), int(config["producer_count"])
    ids = range(first, first + count)
    topic = config["topic"]
    size = int(config["message_size"])

    def make(pid: int) -> Producer:
        producer = driver.producer(config["bootstrap"], f"frida-p{pid}",
                                   config.get("producer_settings", {}))
        producer.warm_up(topic)
        return producer

    with ThreadPoolExecutor(max_workers=min(16, count)) as pool:
        producers = dict(zip(ids, pool.map(make, ids), strict=True))
    protocol.emit("ready", producers=count)

    start = protocol.read_message()
    window = Window.of(int(start["t0_ns"]), float(config["warmup"]), float(config["duration"]))
    schedule = Schedule(float(config["rate"]), int(config["total_producers"]), window)

    acks: collections.deque[_AckEvent] = collections.deque()
    pending: dict[int, set[int]] = {pid: set() for pid in ids}
    failed: dict[int, list[int]] = {pid: [] for pid in ids}
    sent = dict.fromkeys(ids, 0)
    publish_delay = LatencyHistogram()    # actual send - intended send
    publish_latency = LatencyHistogram()  # ack - actual send
    acked_in_window = 0
    acked_total = 0
    sends_in_window = 0
    cpu_at_measure: float | None = None
    wall_at_measure = 0.0
    next_progress = time.monotonic() + 1.0

    def drain_acks() -> None:
        nonlocal acked_in_window, acked_total
        while acks:
            pid, seq, sent_ns, ack_ns, error = acks.popleft()
            pending[pid].discard(seq)
            if error is not None:
                failed[pid].append(seq)
                continue
            acked_total += 1
            if window.measured(sent_ns):
                acked_in_window += 1
                publish_latency.record_us((ack_ns - sent_ns) // 1000)

    for intended_ns, pid, seq in schedule.merged(ids):
        delay = (intended_ns - time.time_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)
        if cpu_at_measure is None and intended_ns >= window.measure_start_ns:
            cpu_at_measure, wall_at_measure = _cpu_seconds(), time.monotonic()
        sent_ns = time.time_ns()
        value = encode_tick(Tick(pid, seq, intended_ns, sent_ns, 100.0 + seq % 100), size)

        def on_ack(error: Exception | None, pid: int = pid, seq: int = seq,
                   sent_ns: int = sent_ns) -> None:
            acks.append((pid, seq, sent_ns, time.time_ns(), error))

        pending[pid].add(seq)
        sent[pid] += 1
        try:
            producers[pid].send(topic, instrument_symbol(pid), value, on_ack)
        except Exception as exc:
            on_ack(exc)
        if window.measured(intended_ns):
            sends_in_window += 1
            publish_delay.record_us((sent_ns - intended_ns) // 1000)
        if time.monotonic() >= next_progress:
            drain_acks()
            protocol.emit("progress", sent=sum(sent.values()), acked=acked_total)
            next_progress += 1.0

    end_cpu, end_wall = _cpu_seconds(), time.monotonic()
    flush_deadline = time.monotonic() + float(config.get("flush_timeout", 30))
    for producer in producers.values():
        producer.flush(max(0.0, flush_deadline - time.monotonic()))
    time.sleep(0.05)  # let the last callbacks land
    drain_acks()
    measured_wall = max(1e-9, end_wall - wall_at_measure) if cpu_at_measure is not None else 0.0
    cpu_share = (end_cpu - cpu_at_measure) / measured_wall if cpu_at_measure is not None else 0.0
    protocol.emit(
        "result",
        producers={str(pid): {"sent": sent[pid], "not_acked": sorted(failed[pid] + list(
            pending[pid]))} for pid in ids},
        acked_in_window=acked_in_window,
        sends_in_window=sends_in_window,
        publish_delay=publish_delay.encode(),
        publish_latency=publish_latency.encode(),
        cpu_share=cpu_share,
        errors=sum(len(f) for f in failed.values()),
    )
    with ThreadPoolExecutor(max_workers=min(16, count)) as pool:
        list(pool.map(lambda p: p.close(), producers.values()))
    sys.stdout.flush()
