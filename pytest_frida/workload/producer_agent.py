"""Producer agent: runs a shard of logical producers on an open-model schedule.

Each logical producer is its own client instance with its own connections (the broker's
cost per producer is what a capacity test measures). Two threads share the work:

* the scheduler (the main thread) walks the merged schedule of all producers in this
  process; per message it builds the tick, hands it to its client and notes it
  (`producer_send`);
* the ack thread turns acks into counts and latencies, folds the histograms in bounded
  slices and reports progress, so none of that ever holds up a send (`producer_books`).

Who polls the clients for delivery reports, and the error bound of publish latency that
leaves, is `producer_serving`; the scheduler's effort and the messages it never sent,
`producer_effort`. This module opens the clients, runs a step and sends the result.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

from pytest_frida.workload import protocol
from pytest_frida.workload.arrivals import MarketSpec
from pytest_frida.workload.drivers import load_driver
from pytest_frida.workload.drivers.base import Producer
from pytest_frida.workload.instruments import Instruments
from pytest_frida.workload.limits import check_thread_limit, raise_fd_limit
from pytest_frida.workload.market import prepared_sends
from pytest_frida.workload.producer_books import AckThread, Shard
from pytest_frida.workload.producer_effort import Effort, Unsent, scheduler_busy
from pytest_frida.workload.producer_send import send_flat_out, send_schedule
from pytest_frida.workload.protocol import ProducerConfig, ProducerResult
from pytest_frida.workload.schedule import Window
from pytest_frida.workload.usage import cpu_seconds, max_rss_mib

#: how long the agent waits for outstanding acks once the schedule is done (config key
#: `flush_timeout`); the client's own delivery timeout may be longer
FLUSH_TIMEOUT_S = 30.0


def _partitions(config: ProducerConfig) -> int:
    if "partitions" not in config:
        raise ValueError(
            "the producer agent's config names no 'partitions' (the topic's partition count)"
        )
    partitions = int(config["partitions"])
    if partitions < 1:
        raise ValueError(f"partitions={partitions}: a topic has at least one partition")
    return partitions


def _open_producers(config: ProducerConfig, ids: range) -> dict[int, Producer]:
    """One client per producer id, each warmed up on the topic, opened in parallel."""
    driver = load_driver(config["client"])
    settings = config.get("producer_settings", {})
    raise_fd_limit(len(ids))
    check_thread_limit(len(ids))

    def make(pid: int) -> Producer:
        producer = driver.producer(config["bootstrap"], f"frida-p{pid}", settings)
        producer.warm_up(config["topic"])
        return producer

    with ThreadPoolExecutor(max_workers=min(16, len(ids))) as pool:
        return dict(zip(ids, pool.map(make, ids), strict=True))


def run(config: ProducerConfig) -> None:
    first, count = int(config["first_producer"]), int(config["producer_count"])
    ids = range(first, first + count)
    size = int(config["message_size"])  # a bad config fails before "ready", not mid-load
    partitions = _partitions(config)
    market = MarketSpec.from_wire(config.get("market"))
    prepared = None
    if not market.is_default() and float(config["rate"]) > 0:
        prepared = prepared_sends(
            market,
            float(config["rate"]),
            int(config["total_producers"]),
            float(config["warmup"]),
            float(config["duration"]),
            ids,
        )
    producers = _open_producers(config, ids)
    protocol.emit({"event": "ready", "producers": count, "rss_mib": max_rss_mib()})

    start = protocol.read_start()
    window = Window.of(int(start["t0_ns"]), float(config["warmup"]), float(config["duration"]))
    instruments = Instruments(market, int(config["total_producers"]))
    shard = Shard(producers, window, size, partitions, instruments)
    acker = AckThread(shard)
    acker.start()
    effort = Effort(window, shard)
    shard.waited = effort.tick
    unsent = Unsent(window)
    last_delay_us = 0
    if float(config["rate"]) > 0:
        last_delay_us = send_schedule(config, ids, shard, effort, unsent, prepared)
    else:
        send_flat_out(config, ids, shard, effort)
    _finish(config, ids, producers, shard, acker, effort, unsent, last_delay_us, partitions)


def _finish(
    config: ProducerConfig,
    ids: range,
    producers: dict[int, Producer],
    shard: Shard,
    acker: AckThread,
    effort: Effort,
    unsent: Unsent,
    last_delay_us: int,
    partitions: int,
) -> None:
    """Wait for the outstanding acks (bounded), report, close the clients."""
    serving = shard.serving
    end_cpu, end_wall = cpu_seconds(), time.monotonic()
    sending_ended_ns = time.time_ns()
    queue_wait_s = (
        shard.queue_wait_s - effort.queue_wait_at_measure
        if effort.cpu_at_measure is not None
        else 0.0
    )
    slack_s = effort.slack_s + queue_wait_s
    serving.handed_over.set()  # the ack thread polls from now on
    # wait for the outstanding acks: at most flush_timeout, however long the client's own
    # delivery timeout (the ack thread keeps polling and counting meanwhile)
    flush_deadline = time.monotonic() + float(config.get("flush_timeout", FLUSH_TIMEOUT_S))
    for producer in producers.values():
        producer.flush(max(0.0, flush_deadline - time.monotonic()))
    while any(shard.pending.values()) and time.monotonic() < flush_deadline:
        time.sleep(0.005)  # flushed, but acks may still be on their way to the books
    acker.stop()  # after one last round of serving
    gave_up_ns = time.time_ns()
    delivery_timeout_s = next(iter(producers.values())).delivery_timeout_s
    still_pending = any(shard.pending.values())
    measured_wall = end_wall - effort.wall_at_measure
    measured = effort.cpu_at_measure is not None and measured_wall > 0
    cpu_share = (end_cpu - (effort.cpu_at_measure or 0.0)) / measured_wall if measured else 0.0
    busy = scheduler_busy(measured_wall, slack_s) if measured else 0.0
    result: ProducerResult = {
        "event": "result",
        "producers": {
            str(pid): {
                "sent": shard.sent[pid],
                "failed": sorted(shard.failed[pid]),
                "unacked": sorted(shard.pending[pid]),
            }
            for pid in ids
        },
        "gave_up_ns": gave_up_ns,
        "delivery_timeout_s": delivery_timeout_s,
        # (librdkafka reads a delivery timeout of 0 as none at all)
        "gave_up_early": still_pending
        and (delivery_timeout_s <= 0 or (gave_up_ns - sending_ended_ns) / 1e9 < delivery_timeout_s),
        "intended_in_window": shard.sends_in_window + unsent.in_window,
        "sends_in_window": shard.sends_in_window,
        "acks_in_window": shard.acks_in_window,
        "publish_delay": shard.publish_delay.fold().encode(),
        "unsent": unsent.count,
        "unsent_delay": unsent.delay.fold().encode(),
        "publish_latency": shard.publish_latency.fold().encode(),
        "publish_latency_error_ms": serving.error_ms,
        "final_publish_delay_ms": last_delay_us / 1000.0,
        "cpu_share": cpu_share,
        "scheduler_busy": busy,
        "queue_wait_s": queue_wait_s,
        "queue_full": shard.queue_full,
        "rss_mib": max_rss_mib(),
        "errors": sum(len(f) for f in shard.failed.values()),
        "partition_sent": {str(p): n for p, n in shard.partition_sent().items()},
    }
    protocol.emit(result)
    with ThreadPoolExecutor(max_workers=min(16, len(ids))) as pool:
        list(pool.map(lambda p: p.close(), producers.values()))
    sys.stdout.flush()
