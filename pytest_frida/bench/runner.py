"""`frida bench`: how far the harness is from Kafka's own tools, on one local broker.

Three measurements, one broker, one run:
1. maximum producing throughput of one producer (100-byte records, acks=1, same batching
   settings) against ProducerPerformance: ratio harness / Kafka tool;
2. the end-to-end latency floor at a low rate against EndToEndLatency: ratio of p50s;
3. the largest number of concurrent producers (each its own client and connections) one
   host keeps on schedule at 1 msg/s each (publish delay p99 under 10 ms), with memory per
   producer and generator CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_frida.bench import kafka_tools
from pytest_frida.config import FridaSettings, StepPlan, build_settings
from pytest_frida.controller.runner import StepRunner
from pytest_frida.kafka import distribution
from pytest_frida.kafka.java import java_runtime
from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.measure.result import utc_now
from pytest_frida.measure.slo import parse_slo
from pytest_frida.report.model import machine_info
from pytest_frida.sites.base import Cluster
from pytest_frida.sites.local import LocalSite

THROUGHPUT_PROPS = {"acks": "1", "linger.ms": "5", "batch.size": "16384"}
RECORD_SIZE = 100
DENSITY_DELAY_LIMIT_MS = 10.0

Say = Callable[[str], None]


@dataclass
class BenchConfig:
    client: str = "confluent-kafka"
    out: Path = Path(".frida/bench.json")
    throughput_seconds: float = 10.0
    perf_records: int = 3_000_000
    latency_rate: float = 50.0
    latency_seconds: float = 20.0
    e2e_records: int = 2_000
    density_counts: Sequence[int] = (250, 500, 1000, 1500, 2000)
    density_seconds: float = 20.0
    density_warmup: float = 5.0


@dataclass
class BenchReport:
    started_at: str
    client: str
    machine: dict[str, Any]
    kafka_version: str = ""
    throughput: dict[str, Any] = field(default_factory=dict)
    latency_floor: dict[str, Any] = field(default_factory=dict)
    density: dict[str, Any] = field(default_factory=dict)
    finished_at: str = ""


@dataclass(frozen=True)
class KafkaTools:
    """Java and the Kafka jars the broker runs from: Kafka's own tools come from them too."""

    java: Path
    dist: distribution.KafkaDistribution


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure_throughput(
    cluster: Cluster,
    settings: FridaSettings,
    runner: StepRunner,
    tools: KafkaTools,
    cfg: BenchConfig,
    say: Say,
) -> dict[str, Any]:
    """One producer agent, unthrottled, against ProducerPerformance on its own topic."""
    say(f"throughput: harness, 1 producer, {cfg.throughput_seconds:g}s unthrottled ...")
    runner.create_topic("bench-throughput-harness", 1)
    agent = cluster.launcher.launch(
        "bench-throughput",
        {
            "role": "producer",
            "bootstrap": cluster.bootstrap,
            "topic": "bench-throughput-harness",
            "client": settings.client,
            "warmup": 2.0,
            "duration": cfg.throughput_seconds,
            "first_producer": 0,
            "producer_count": 1,
            "total_producers": 1,
            "rate": 0,
            "message_size": RECORD_SIZE,
            "producer_settings": THROUGHPUT_PROPS,
            "partitions": 1,
        },
    )
    try:
        agent.wait_for("ready", 60)
        agent.send({"cmd": "start", "t0_ns": time.time_ns() + 500_000_000})
        result = agent.wait_for("result", cfg.throughput_seconds + 120)
    finally:
        agent.stop()
    # acks that arrived inside the window, over the window: the rate the broker confirmed
    harness_rate = result["acks_in_window"] / cfg.throughput_seconds
    latency = LatencyHistogram.decode(result["publish_latency"])
    load_harness = _load()
    say(f"throughput: harness {harness_rate:,.0f} msg/s; now ProducerPerformance ...")
    runner.create_topic("bench-throughput-kafka", 1)
    perf = kafka_tools.producer_performance(
        tools.java,
        tools.dist,
        cluster.bootstrap,
        "bench-throughput-kafka",
        cfg.perf_records,
        RECORD_SIZE,
        THROUGHPUT_PROPS,
    )
    say(f"throughput: ProducerPerformance {perf.records_per_s:,.0f} msg/s")
    return {
        "settings": {**THROUGHPUT_PROPS, "record_size": RECORD_SIZE, "producers": 1},
        "harness_msg_per_s": round(harness_rate, 1),
        "harness_cpu_share": round(float(result["cpu_share"]), 3),
        "harness_publish_latency_avg_ms": latency.mean_ms(),
        "harness_publish_latency_error_ms": round(float(result["publish_latency_error_ms"]), 3),
        "harness_scheduler_busy": round(float(result["scheduler_busy"]), 3),
        "harness_queue_full": result.get("queue_full", 0),
        "kafka_tool_msg_per_s": perf.records_per_s,
        "kafka_tool_records": perf.records,
        "kafka_tool_avg_latency_ms": perf.avg_latency_ms,
        "ratio": round(harness_rate / perf.records_per_s, 3),
        "load_avg_after_harness": load_harness,
        "load_avg_after_kafka_tool": _load(),
    }


def measure_latency_floor(
    runner: StepRunner, tools: KafkaTools, cfg: BenchConfig, say: Say
) -> dict[str, Any]:
    say(f"latency floor: harness, 1 producer at {cfg.latency_rate:g} msg/s ...")
    # the window the bench names, never lengthened to an SLO's sample minimum: the bench
    # prints figures with their message counts and judges no SLO (the defaults give
    # 1,000 messages; --quick's 150 are a smoke run's)
    plan = StepPlan(
        producers=(1,),
        rate=cfg.latency_rate,
        duration=cfg.latency_seconds,
        warmup=2.0,
        message_size=RECORD_SIZE,
        slo=parse_slo("p99<=1s"),
        partitions=1,
        producer_config={"acks": "1", "linger.ms": "0"},
        max_duration=cfg.latency_seconds,
    )
    step = runner.run("bench-latency-floor", plan, 1)
    if step.error:
        raise RuntimeError(f"latency floor step failed: {step.error}")
    say("latency floor: now EndToEndLatency ...")
    runner.create_topic("bench-e2e-kafka", 1)
    e2e = kafka_tools.end_to_end_latency(
        tools.java,
        tools.dist,
        runner.cluster.bootstrap,
        "bench-e2e-kafka",
        cfg.e2e_records,
        "1",
        RECORD_SIZE,
    )
    p50, p99 = step.latency["p50"] or 0.0, step.latency["p99"] or 0.0
    mean = step.latency["mean"] or 0.0
    return {
        "harness": {
            "rate": cfg.latency_rate,
            "messages": step.counts.received if step.counts else 0,
            "p50_ms": p50,
            "p99_ms": p99,
            "mean_ms": mean,
        },
        "kafka_tool": {
            "messages": cfg.e2e_records,
            "p50_ms_truncated": e2e.p50_ms,
            "p99_ms_truncated": e2e.p99_ms,
            "avg_ms": e2e.avg_ms,
        },
        # the tool prints whole ms, truncated: its true p50 lies in [p50, p50 + 1)
        "ratio_p50_vs_tool_upper": round(p50 / (e2e.p50_ms + 1), 3),
        "ratio_p50_vs_tool_lower": round(p50 / e2e.p50_ms, 3) if e2e.p50_ms else None,
        "ratio_mean": round(mean / e2e.avg_ms, 3),
        "load_avg": _load(),
    }


def measure_density(runner: StepRunner, cfg: BenchConfig, say: Say) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    sustained = 0
    for count in cfg.density_counts:
        say(f"density: {count} producers at 1 msg/s ...")
        plan = StepPlan(
            producers=(count,),
            rate=1.0,
            duration=cfg.density_seconds,
            warmup=cfg.density_warmup,
            message_size=RECORD_SIZE,
            slo=parse_slo("p99<=1s"),
            partitions=3,
            producer_config={},
            max_duration=cfg.density_seconds,
        )
        started = time.monotonic()
        step = runner.run("bench-density", plan, count)
        delay_p99 = step.publish_delay.get("p99")
        kept = (
            step.error is None
            and delay_p99 is not None
            and delay_p99 < DENSITY_DELAY_LIMIT_MS
            and step.rate_ratio >= 0.95
            and step.counts is not None
            and step.counts.lost == 0
        )
        row: dict[str, Any] = {
            "producers": count,
            "kept_schedule": kept,
            "error": step.error,
            "achieved_ratio": round(step.rate_ratio, 4),
            "publish_delay_p99_ms": delay_p99,
            "e2e_p99_ms": step.latency.get("p99"),
            "lost": step.counts.lost if step.counts else None,
            "generator_cpu_max_agent": round(step.generator_cpu, 3),
            "generator_rss_mib": round(step.generator_rss_mib, 1),
            "rss_mib_per_producer": round(step.generator_rss_mib / count, 3),
            "step_seconds": round(time.monotonic() - started, 1),
            "load_avg": _load(),
        }
        steps.append(row)
        say(
            f"density: {count} producers: kept={kept} publish delay p99={delay_p99}ms"
            f" rss/producer={row['rss_mib_per_producer']} MiB cpu={row['generator_cpu_max_agent']}"
        )
        if not kept:
            break
        sustained = count
    marginal = None
    ok = [s for s in steps if s["kept_schedule"]]
    if len(ok) >= 2:
        a, b = ok[-2], ok[-1]
        marginal = round(
            (b["generator_rss_mib"] - a["generator_rss_mib"]) / (b["producers"] - a["producers"]), 3
        )
    return {
        "rate_per_producer": 1.0,
        "delay_limit_ms": DENSITY_DELAY_LIMIT_MS,
        "largest_sustained": sustained,
        "marginal_rss_mib_per_producer": marginal,
        "steps": steps,
    }


def run_bench(cfg: BenchConfig, say: Say = lambda s: print(s, file=sys.stderr)) -> BenchReport:
    # the bench compares the harness with Kafka's tools: nothing else reads the broker
    settings = build_settings({"client": cfg.client, "monitor": "off"}, {})
    report = BenchReport(started_at=utc_now(), client=cfg.client, machine=machine_info())
    work = Path(tempfile.mkdtemp(prefix="frida-bench-"))
    site = LocalSite(settings.cluster, work)
    try:
        say("starting a local Kafka broker ...")
        cluster = site.start()
        report.kafka_version = cluster.kafka_version
        runner = StepRunner(cluster, "bench", settings.client, settings.workers)
        dist = distribution.resolve(settings.cluster.kafka_version, settings.cluster.kafka_home)
        tools = KafkaTools(java_runtime(dist.version).executable, dist)
        report.throughput = measure_throughput(cluster, settings, runner, tools, cfg, say)
        report.latency_floor = measure_latency_floor(runner, tools, cfg, say)
        report.density = measure_density(runner, cfg, say)
    except BaseException:
        say(f"the broker's logs are in {work / 'logs'}")
        raise
    finally:
        site.stop()
    shutil.rmtree(work, ignore_errors=True)  # a finished bench keeps only its figures
    report.finished_at = utc_now()
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    cfg.out.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report


def _whole_ms(value: int) -> str:
    """Kafka's tools truncate to whole ms: show the interval the true value lies in."""
    return f"[{value},{value + 1})"


def format_report(report: BenchReport) -> list[str]:
    t, lat, den = report.throughput, report.latency_floor, report.density
    lines = [
        f"frida bench: client {report.client}, Kafka {report.kafka_version},"
        f" {report.machine.get('cpus')} cpus",
        f"{'measurement':<34}{'harness':>14}{'Kafka tool':>14}{'ratio':>9}",
    ]
    if t:
        lines.append(
            f"{'max throughput, 1 producer (msg/s)':<34}{t['harness_msg_per_s']:>14,.0f}"
            f"{t['kafka_tool_msg_per_s']:>14,.0f}{t['ratio']:>9.2f}"
        )
    if lat:
        h, k = lat["harness"], lat["kafka_tool"]
        lines.append(
            f"{'latency floor p50 (ms)':<34}{h['p50_ms']:>14.2f}"
            f"{_whole_ms(k['p50_ms_truncated']):>14}"
            f"{lat['ratio_p50_vs_tool_upper']:>9.2f}"
        )
        lines.append(
            f"{'latency floor p99 (ms)':<34}{h['p99_ms']:>14.2f}"
            f"{_whole_ms(k['p99_ms_truncated']):>14}{'':>9}"
        )
        lines.append(
            f"{'latency floor mean (ms)':<34}{h['mean_ms']:>14.2f}{k['avg_ms']:>14.2f}"
            f"{lat['ratio_mean']:>9.2f}"
        )
    if den:
        lines.append(
            f"producers kept on schedule at 1 msg/s: {den['largest_sustained']}"
            f" (marginal memory {den['marginal_rss_mib_per_producer']} MiB/producer)"
        )
        for s in den["steps"]:
            lines.append(
                f"  {s['producers']:>5} producers: kept={s['kept_schedule']}"
                f" delay p99={s['publish_delay_p99_ms']}ms"
                f" rss/producer={s['rss_mib_per_producer']}MiB"
                f" agent cpu={s['generator_cpu_max_agent']:.0%}"
            )
    return lines
