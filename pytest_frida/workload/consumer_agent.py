"""Consumer agent: reads its share of the step's partitions and measures delivery latency
(`consumer_books`), and itself.

A step runs one agent per share of the topic's partitions (`controller.consumer_shards`); each one
says how hard it worked over the measured window, so a step whose consumers could not keep
up is not mistaken for a slow broker:
- `busy`: the largest of `loop_busy`, the share of the window its loop was not waiting in
  poll for data (decoding, accounting), `cpu_wait`, the time its threads waited for a CPU
  per second of window (a host too busy to run it: then its fetch threads starve and the
  loop waits in poll for data that is there), and `throttled`, the share of its CPU
  quota's periods that ran out (a container's CPU limit: see workload.cpu)
  (`consumer_effort`);
- `cpu_share`: the process's CPU time over the window, in cores;
- `lag_max` / `lag_end`: messages between its positions and the partitions' high
  watermarks, sampled about once a second by a thread of its own (`consumer_lag`), at
  most over the window and just after its end.

A held consumer (`hold`, a drain step) reads nothing until the drain command: the
producers fill a backlog first. It then reports how fast it drained it (`drain_read`
messages, the last `drain_active_s` seconds after the command), its effort over the drain
instead of the window, and its lag samples over the whole step (`lag_series`).

The drain (after the producers reported) ends when every acknowledged message of its
partitions arrived (`drain.DrainCheck`), when nothing new arrived for `stall_timeout`
seconds, or at `cap` seconds; `drain_stop` says which. This module runs the loop: commands,
polling, progress, the drain and the result.
"""

from __future__ import annotations

import queue
import socket
import sys
import threading
import time

from pytest_frida.workload import protocol
from pytest_frida.workload.arrivals import MarketSpec
from pytest_frida.workload.consumer_books import Books
from pytest_frida.workload.consumer_effort import Measured, Snapshot
from pytest_frida.workload.consumer_lag import (
    LAG_WAIT_CAP_S,
    LagSampler,
    lag_figures,
    lag_series,
    time_lag_figures,
)
from pytest_frida.workload.drain import DrainCheck
from pytest_frida.workload.drivers import load_driver
from pytest_frida.workload.drivers.base import Consumer
from pytest_frida.workload.instruments import Instruments
from pytest_frida.workload.protocol import (
    Command,
    ConsumerConfig,
    ConsumerResult,
    DrainCommand,
)
from pytest_frida.workload.schedule import Window

#: how long poll waits for a first message (also how soon a command is seen)
POLL_S = 0.1
#: drain defaults when the controller names none
DEFAULT_STALL_S = 15.0
DEFAULT_CAP_S = 120.0


def _read_commands(commands: queue.Queue[Command | None]) -> None:
    try:
        while True:
            commands.put(protocol.read_command())
    except (EOFError, ValueError):
        commands.put(None)


class _Drain:
    """The drain the controller asked for: when it ends, and why."""

    def __init__(
        self,
        command: DrainCommand,
        partitions: list[int],
        total: int,
        instruments: Instruments | None,
    ) -> None:
        self.check = DrainCheck(command.get("expected", {}), partitions, total, instruments)
        self.stall_s = float(command.get("stall_timeout", DEFAULT_STALL_S))
        self.cap_s = float(command.get("cap", command.get("timeout", DEFAULT_CAP_S)))
        self.started = self.last_fresh = time.monotonic()
        #: messages read since the drain began
        self.read = 0

    def stop_reason(self, now: float, books: Books) -> str:
        """complete, stalled (nothing new for stall_s), cap (cap_s over), or "" to go on."""
        if self.check.complete(books.trackers):
            return "complete"
        if now - self.last_fresh >= self.stall_s:
            return "stalled"
        if now - self.started >= self.cap_s:
            return "cap"
        return ""


def _open(config: ConsumerConfig) -> tuple[Consumer, int]:
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


def _instruments(config: ConsumerConfig) -> Instruments | None:
    """A market workload's instruments, which decide the partition of every message."""
    spec = MarketSpec.from_wire(config.get("market"))
    if spec.instruments is None:
        return None
    return Instruments(spec, int(config["total_producers"]))


def _obey(
    command: Command, config: ConsumerConfig, books: Books, consumer: Consumer, total: int
) -> _Drain | None:
    """Start the books at the step's instant, or begin the drain (returned)."""
    if "cmd" in command and command["cmd"] == "start":
        books.start(
            Window.of(int(command["t0_ns"]), float(config["warmup"]), float(config["duration"])),
            command.get("corrections", []),
        )
    elif "cmd" in command and command["cmd"] == "drain":
        return _Drain(command, consumer.partitions, total, books.instruments)
    return None


def run(config: ConsumerConfig) -> None:
    consumer, total = _open(config)
    commands: queue.Queue[Command | None] = queue.Queue()
    threading.Thread(target=_read_commands, args=(commands,), daemon=True).start()
    hold = bool(config.get("hold", False))
    if hold:  # before anything is sent (ready comes first): nothing is fetched early
        consumer.hold(True)
    books = Books(total, _instruments(config))
    sampler = LagSampler(consumer, time_lag=books.time_lag)
    sampler.start()
    protocol.emit({"event": "ready", "partitions": consumer.partitions})
    measured = Measured()
    next_progress = time.monotonic() + 1.0
    drain: _Drain | None = None
    drain_stop = ""
    while not drain_stop:
        held = hold and drain is None
        try:  # a held consumer waits on its commands instead of the broker
            command = commands.get(timeout=POLL_S) if held else commands.get_nowait()
        except queue.Empty:
            pass
        else:
            if command is None:
                sampler.stop(0.0)
                return  # controller went away
            drain = _obey(command, config, books, consumer, total) or drain
            if hold and drain is not None and measured.start is None:
                consumer.hold(False)
                measured.start = Snapshot.take(consumer)  # its effort: over the drain
        values = [] if hold and drain is None else consumer.poll(POLL_S)
        now_ns = time.time_ns()
        if not hold:
            measured.observe(books.window, now_ns, consumer, sampler)
        fresh = books.take(values, now_ns) if values else 0
        now = time.monotonic()
        if now >= next_progress:
            protocol.emit(
                {
                    "event": "progress",
                    "received": books.received(),
                    "p99_ms": books.e2e.fold().percentile_ms(99),
                    "lag": sampler.latest,
                }
            )
            next_progress = now + 1.0
        if drain is not None:
            if fresh:
                drain.last_fresh = now
                drain.read += fresh
            drain_stop = drain.stop_reason(now, books)
    assert drain is not None
    _emit_result(config, consumer, books, measured, sampler, drain, drain_stop)


def _emit_result(
    config: ConsumerConfig,
    consumer: Consumer,
    books: Books,
    measured: Measured,
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
    time_lag_ms = (
        None if books.window is None else time_lag_figures(sampler.time_samples, books.window)
    )
    figures = books.figures()
    result: ConsumerResult = {
        "event": "result",
        "e2e": figures["e2e"],
        "e2e_from_send": figures["e2e_from_send"],
        "received_in_window": figures["received_in_window"],
        "trackers": figures["trackers"],
        "timeline": figures["timeline"],
        "drained": drain_stop == "complete",
        "drain_stop": drain_stop,
        "drain_s": round(drain_s, 3),
        "drain_missing": 0 if drain_stop == "complete" else drain.check.missing(books.trackers),
        "busy": effort.busy,
        "loop_busy": effort.loop_busy,
        "cpu_wait": effort.cpu_wait,
        "throttled": effort.throttled,
        "cpu_share": effort.cpu_share,
        "lag_max": lag_max,
        "lag_end": lag_end,
        "lag_samples": lag_samples,
        "lag_end_sampled": end_sampled,
        "lag_failed": sampler.failed,
        "lag_time_max_ms": time_lag_ms,
        "partitions": consumer.partitions,
        "partition_received": {str(p): n for p, n in sorted(consumer.received().items())},
        "host": socket.gethostname(),
        "consumer_index": int(config.get("consumer_index", 0)),
    }
    if config.get("hold") and books.window is not None:
        result["drain_read"] = drain.read
        result["drain_active_s"] = round(max(0.0, drain.last_fresh - drain.started), 3)
        result["lag_series"] = lag_series(sampler.samples, sampler.time_samples, books.window.t0_ns)
    protocol.emit(result)
    sys.stdout.flush()
    if stopped:  # never close a client a lag query still uses
        consumer.close()
