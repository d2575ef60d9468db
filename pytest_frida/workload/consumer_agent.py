"""Consumer agent: reads the step's topic and measures end-to-end delivery latency.

Latency is receive time minus the message's *intended* send time, so a producer that
fell behind its schedule shows up as latency instead of hiding it. The time from the
actual send is kept beside it for comparison.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from typing import Any

from pytest_frida.measure.accounting import SequenceTracker
from pytest_frida.measure.histogram import BufferedRecorder
from pytest_frida.workload import protocol
from pytest_frida.workload.drivers import load_driver
from pytest_frida.workload.messages import decode_tick
from pytest_frida.workload.schedule import Window


def _read_commands(commands: queue.Queue[dict[str, Any] | None]) -> None:
    try:
        while True:
            commands.put(protocol.read_message())
    except (EOFError, ValueError):
        commands.put(None)


def run(config: dict[str, Any]) -> None:
    driver = load_driver(config["client"])
    consumer = driver.consumer(config["bootstrap"], config["topic"], "frida-consumer")
    commands: queue.Queue[dict[str, Any] | None] = queue.Queue()
    threading.Thread(target=_read_commands, args=(commands,), daemon=True).start()
    protocol.emit("ready")

    e2e = BufferedRecorder()            # receive - intended send
    e2e_from_send = BufferedRecorder()  # receive - actual send
    trackers: dict[int, SequenceTracker] = {}
    window: Window | None = None
    corrections: dict[int, int] = {}
    expected: dict[int, int] | None = None
    deadline = float("inf")
    received_in_window = 0
    # per second of intended send time since the step's start: [messages, worst latency us]
    timeline: dict[int, list[int]] = {}
    next_progress = time.monotonic() + 1.0

    def complete() -> bool:
        assert expected is not None
        return all(trackers.get(pid, SequenceTracker()).unique >= n for pid, n in expected.items())

    while True:
        try:
            command = commands.get_nowait()
        except queue.Empty:
            command = {}
        if command is None:
            return  # controller went away
        if command.get("cmd") == "start":
            window = Window.of(int(command["t0_ns"]), float(config["warmup"]),
                               float(config["duration"]))
            # (first producer, count, ns): this host's clock minus that producer host's
            corrections = {pid: int(ns) for first, count, ns in command.get("corrections", [])
                           for pid in range(int(first), int(first) + int(count))}
        elif command.get("cmd") == "drain":
            expected = {int(k): int(v) for k, v in command["expected"].items()}
            deadline = time.monotonic() + float(command.get("timeout", 10))
        values = consumer.poll(0.1)
        now_ns = time.time_ns()
        for value in values:
            tick = decode_tick(value)
            tracker = trackers.get(tick.producer)
            if tracker is None:
                tracker = trackers[tick.producer] = SequenceTracker()
            fresh = tracker.see(tick.seq)
            if fresh and window is not None:
                skew_ns = corrections.get(tick.producer, 0)
                latency_us = (now_ns - skew_ns - tick.intended_ns) // 1000
                second = timeline.setdefault((tick.intended_ns - window.t0_ns) // 1_000_000_000,
                                             [0, 0])
                second[0] += 1
                second[1] = max(second[1], latency_us)
                if window.measured(tick.intended_ns):
                    received_in_window += 1
                    e2e.add(latency_us)
                    e2e_from_send.add((now_ns - skew_ns - tick.sent_ns) // 1000)
        if time.monotonic() >= next_progress:
            protocol.emit("progress", received=sum(t.unique for t in trackers.values()),
                          p99_ms=e2e.fold().percentile_ms(99))
            next_progress += 1.0
        if expected is not None and (complete() or time.monotonic() >= deadline):
            break

    protocol.emit(
        "result",
        e2e=e2e.fold().encode(),
        e2e_from_send=e2e_from_send.fold().encode(),
        received_in_window=received_in_window,
        trackers={str(pid): t.to_dict() for pid, t in trackers.items()},
        timeline=[[sec, n, worst] for sec, (n, worst) in sorted(timeline.items())],
        drained=complete(),
    )
    consumer.close()
    sys.stdout.flush()
