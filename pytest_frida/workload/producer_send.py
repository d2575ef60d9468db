"""A producer agent's send loops, on the scheduler (main) thread: the open-model schedule,
or as fast as the clients take messages (rate 0, a throughput probe: then the intended
send time is the actual one and publish delay is meaningless).

While it sends, the scheduler polls the clients itself; before a longer sleep it hands
polling to the ack thread (`producer_serving`).
"""

from __future__ import annotations

import itertools
import time

from pytest_frida.workload.market import Sends
from pytest_frida.workload.producer_books import Shard
from pytest_frida.workload.producer_effort import Effort, Unsent
from pytest_frida.workload.producer_serving import HANDOVER_S
from pytest_frida.workload.protocol import ProducerConfig
from pytest_frida.workload.schedule import LATE_LIMIT_S, NS, Schedule


def send_schedule(
    config: ProducerConfig,
    ids: range,
    shard: Shard,
    effort: Effort,
    unsent: Unsent,
    prepared: Sends | None = None,
) -> int:
    """Send each message at its intended time (open model); the last send's delay (us).
    `prepared`: a market schedule worked out before the start (None: today's even one)."""
    window, topic, serving = shard.window, config["topic"], shard.serving
    poll = serving.needed
    next_serve_ns = 0  # monotonic: when the scheduler polls the producers next
    last_delay_us = 0
    give_up_ns = window.end_ns + round(LATE_LIMIT_S * NS)
    if prepared is None:
        schedule = Schedule(float(config["rate"]), int(config["total_producers"]), window)
        pending_sends = schedule.merged(ids)
    else:
        pending_sends = prepared(window.t0_ns)
    for intended_ns, pid, seq in pending_sends:
        now_ns = time.time_ns()
        if now_ns <= give_up_ns:
            delay = (intended_ns - now_ns) / 1e9
            if delay > 0.0002:
                slept = time.monotonic()
                if poll and delay > HANDOVER_S:  # the ack thread polls meanwhile
                    serving.handed_over.set()
                    time.sleep(delay)
                    serving.handed_over.clear()
                    next_serve_ns = 0
                else:
                    time.sleep(delay)
                if effort.cpu_at_measure is not None:
                    effort.slack_s += time.monotonic() - slept
            if poll and time.monotonic_ns() >= next_serve_ns:
                next_serve_ns = serving.round() + serving.every_ns()
            effort.tick(intended_ns)
            measured = window.measured(intended_ns)
            sent_ns = shard.send(topic, pid, seq, intended_ns, measured, give_up_ns)
            if sent_ns is not None:
                if measured:
                    shard.sends_in_window += 1
                    last_delay_us = (sent_ns - intended_ns) // 1000
                    shard.publish_delay.add(last_delay_us)
                continue
            now_ns = time.time_ns()  # the client never took it: unsent, like the rest
        unsent.leave(itertools.chain([intended_ns], (t for t, _, _ in pending_sends)), now_ns)
        return (now_ns - intended_ns) // 1000
    return last_delay_us


def send_flat_out(config: ProducerConfig, ids: range, shard: Shard, effort: Effort) -> None:
    """rate 0, a throughput probe: send as fast as the clients take, until a queue is full
    or the window ends."""
    window, topic, serving = shard.window, config["topic"], shard.serving
    poll = serving.needed
    next_serve_ns = 0
    while time.time_ns() < window.t0_ns:
        time.sleep(0.001)
    seqs = dict.fromkeys(ids, 0)
    full = False
    per_batch = max(1, 64 // len(ids))
    while not full and (now_ns := time.time_ns()) < window.end_ns:
        effort.tick(now_ns)
        if poll and time.monotonic_ns() >= next_serve_ns:
            next_serve_ns = serving.round() + serving.every_ns()
        measured = window.measured(now_ns)
        for _ in range(per_batch):  # the clock, the books and polling every ~64 sends
            for pid in ids:
                if shard.send(topic, pid, seqs[pid], 0, measured, window.end_ns) is None:
                    full = True
                    break
                seqs[pid] += 1
                if measured:
                    shard.sends_in_window += 1
            if full:
                break
