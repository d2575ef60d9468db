"""Kafka's own yardsticks, from the same jars as the broker: ProducerPerformance
(kafka-producer-perf-test) and EndToEndLatency, with their output parsed."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pytest_frida.kafka import commands
from pytest_frida.kafka.distribution import KafkaDistribution

_PERF_FINAL = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec .*?"
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>\d+) ms 50th,"
    r" (?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th"
)
_E2E_AVG = re.compile(r"Avg latency: (?P<avg>[\d.]+) ms")
_E2E_PCT = re.compile(r"50th = (?P<p50>\d+), 99th = (?P<p99>\d+), 99\.9th = (?P<p999>\d+)")


class ToolError(RuntimeError):
    """A Kafka tool failed or printed something we cannot read."""


@dataclass(frozen=True)
class PerfResult:
    records: int
    records_per_s: float
    avg_latency_ms: float


@dataclass(frozen=True)
class EndToEndResult:
    avg_ms: float
    #: Kafka prints whole milliseconds (truncated): the true value is in [p, p+1)
    p50_ms: int
    p99_ms: int


def parse_perf(output: str) -> PerfResult:
    matches = list(_PERF_FINAL.finditer(output))
    if not matches:
        raise ToolError(f"no final summary in ProducerPerformance output: {output[-500:]!r}")
    m = matches[-1]
    return PerfResult(int(m["records"]), float(m["rate"]), float(m["avg"]))


def parse_end_to_end(output: str) -> EndToEndResult:
    avg, pct = _E2E_AVG.search(output), _E2E_PCT.search(output)
    if avg is None or pct is None:
        raise ToolError(f"no latency summary in EndToEndLatency output: {output[-500:]!r}")
    return EndToEndResult(float(avg["avg"]), int(pct["p50"]), int(pct["p99"]))


def _run(argv: list[str], timeout_s: float) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0:
        raise ToolError(
            f"{argv[argv.index('-cp') + 2]} exited {proc.returncode}:"
            f" {(proc.stdout + proc.stderr)[-800:]}"
        )
    return proc.stdout + proc.stderr


def producer_performance(
    java: Path,
    dist: KafkaDistribution,
    bootstrap: str,
    topic: str,
    records: int,
    record_size: int,
    props: dict[str, str],
) -> PerfResult:
    argv = commands.kafka_tool(
        java,
        dist,
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        str(record_size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={bootstrap}",
        *(f"{k}={v}" for k, v in props.items()),
    )
    return parse_perf(_run(argv, 600))


def end_to_end_latency(
    java: Path,
    dist: KafkaDistribution,
    bootstrap: str,
    topic: str,
    records: int,
    acks: str,
    record_size: int,
) -> EndToEndResult:
    argv = commands.kafka_tool(
        java,
        dist,
        "org.apache.kafka.tools.EndToEndLatency",
        bootstrap,
        topic,
        str(records),
        acks,
        str(record_size),
    )
    return parse_end_to_end(_run(argv, 600))
