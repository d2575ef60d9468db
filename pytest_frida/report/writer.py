"""report.json and steps.csv, rewritten after every step so nothing measured is lost."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_frida.errors import FridaSetupError
from pytest_frida.measure import outside
from pytest_frida.measure.resources import figure_mean
from pytest_frida.measure.result import StepResult
from pytest_frida.report.capacity import limits_by_test
from pytest_frida.report.compare import Change
from pytest_frida.report.history import HistoryEntry
from pytest_frida.report.model import RunInfo
from pytest_frida.report.sizing import run_sizing

LATENCY_KEYS = ("p50", "p90", "p99", "p99.9", "max", "mean")
#: a drain step's figures (measure.drain): column -> key; empty on other steps
DRAIN_COLUMNS = {
    "drain_consumers": "consumers",
    "drain_messages": "messages",
    "drain_s": "seconds",
    "drain_rate": "rate",
    "drain_rate_per_consumer": "rate_per_consumer",
    "drain_consumer_bound": "consumer_bound",
}
CSV_COLUMNS = (
    "run_id",
    "test",
    "producers",
    "rate_per_producer",
    "target_rate",
    "achieved_rate",
    "delivered_rate",
    "duration_s",
    "warmup_s",
    "message_size",
    "partitions",
    "instruments",
    "popularity",
    "arrivals",
    "sent",
    "acked",
    "failed",
    "unacked",
    "received",
    "lost",
    "duplicated",
    "out_of_order",
    "delivered",
    *(f"{k}_ms" for k in LATENCY_KEYS),
    "publish_latency_p99_ms",
    "publish_latency_error_ms",
    "publish_delay_p99_ms",
    "generator_cpu",
    "generator_busy",
    "generator_bound",
    "consumers",
    "consumer_busy",
    "consumer_lag_max",
    "lag_ms",
    "lag_msgs",
    "partition_spread",
    "drain_stop",
    *DRAIN_COLUMNS,
    "steady",
    "broker_cores",
    "broker_cores_max",
    "handler_busy",
    "network_busy_1min",
    "broker_gc_share",
    "disk_busy",
    "disk_flushes_per_s",
    "log_flush_share",
    "host_busy",
    "outside_cores",
    "kernel_cores",
    "saturated",
    "attribution",
    "verdict",
    "decides",
    "withheld",
    "slo",
    "started_at",
    "ended_at",
    "error",
    "notes",
    # the cluster shape (config.shapes): its label and resolved values, empty without
    "shape",
    "shape_brokers",
    "shape_replication",
    "shape_min_insync",
    "shape_kafka_version",
    "shape_broker_config",
)


def partition_spread(step: StepResult) -> float | None:
    """How far the busiest partition is from the mean of the step's sent messages (0.05:
    5% above it), None when nothing was counted per partition."""
    sent = list(step.partition_counts.get("sent", {}).values())
    if not sent or sum(sent) == 0:
        return None
    mean = sum(sent) / len(sent)
    return max(abs(n - mean) for n in sent) / mean


def resource_columns(step: StepResult) -> dict[str, Any]:
    """The step's resource figures as CSV cells: per figure the busiest broker's mean (and
    the highest per-second value for cores); empty where it was not measured."""
    sources = step.resources.get("sources", {})
    brokers = [v["figures"] for k, v in sources.items() if k.startswith("broker")]

    def busiest(name: str, key: str = "mean", idle: bool = False) -> float | None:
        values = [float(f[name][key]) for f in brokers if name in f]
        if not values:
            return None
        return round(1.0 - min(values), 4) if idle else round(max(values), 4)

    return {
        "broker_cores": busiest("cores"),
        "broker_cores_max": busiest("cores", "max"),
        "handler_busy": busiest("handler_idle", idle=True),
        # Kafka's own one-minute average, reaching back before the step
        "network_busy_1min": busiest("network_idle", idle=True),
        "broker_gc_share": busiest("gc_share"),
        "disk_busy": figure_mean(step.resources, "disk", "disk_busy"),
        "disk_flushes_per_s": figure_mean(step.resources, "disk", "disk_flushes_per_s"),
        # the busiest broker's append time spent flushing the log (measure.resources)
        "log_flush_share": busiest("flush_share"),
        "host_busy": figure_mean(step.resources, "host", "host_busy"),
        # other work on a shared host (measure.outside): empty where it is not known
        "outside_cores": figure_mean(step.resources, "host", outside.FIGURE),
        "kernel_cores": figure_mean(step.resources, "host", "kernel_cores"),
        "saturated": step.attribution.get("resource") or "",
        "attribution": step.attribution.get("sentence", ""),
    }


def step_row(run_id: str, step: StepResult) -> dict[str, Any]:
    """One flat CSV row (pandas-ready: numbers stay numbers, missing values stay empty)."""
    counts = step.counts
    row: dict[str, Any] = {
        "run_id": run_id,
        "test": step.test,
        "producers": step.producers,
        "rate_per_producer": step.rate_per_producer,
        "target_rate": step.target_rate,
        "achieved_rate": round(step.achieved_rate, 3),
        "delivered_rate": round(step.delivered_rate, 3),
        "duration_s": step.duration_s,
        "warmup_s": step.warmup_s,
        "message_size": step.message_size,
        "partitions": step.partitions,
        "instruments": step.workload.get("instruments"),
        "popularity": step.workload.get("popularity", "uniform"),
        "arrivals": step.workload.get("arrivals", "even"),
        "publish_latency_p99_ms": step.publish_latency.get("p99"),
        "publish_delay_p99_ms": step.publish_delay.get("p99"),
        "generator_cpu": round(step.generator_cpu, 3),
        "generator_busy": round(step.generator_busy, 3),
        "publish_latency_error_ms": step.publish_latency_error_ms,
        "consumers": len(step.consumers),
        "consumer_busy": max((float(c.get("busy", 0.0)) for c in step.consumers), default=None),
        "consumer_lag_max": max((int(c.get("lag_max", 0)) for c in step.consumers), default=None),
        "partition_spread": partition_spread(step),
        "drain_stop": step.drain_stop,
        "lag_ms": step.lag.get("time_ms"),
        "lag_msgs": step.lag.get("msgs"),
        **{column: step.drain.get(key) for column, key in DRAIN_COLUMNS.items()},
        "steady": step.steady.get("verdict", ""),
        "generator_bound": step.generator_bound,
        "verdict": step.verdict,
        "decides": step.decides or "",
        "withheld": ", ".join(step.withheld),
        "slo": step.slo,
        "started_at": step.started_at,
        "ended_at": step.ended_at,
        "error": step.error or "",
        "notes": "; ".join(step.notes),
        "shape": step.shape_label,
        **{f"shape_{k}": step.shape.get(k) for k in ("brokers", "replication", "min_insync")},
        "shape_kafka_version": step.shape.get("kafka_version", ""),
        "shape_broker_config": ",".join(
            f"{k}={v}" for k, v in step.shape.get("broker_config", {}).items()
        ),
    }
    for name in (
        "sent",
        "acked",
        "failed",
        "unacked",
        "received",
        "lost",
        "duplicated",
        "out_of_order",
    ):
        row[name] = getattr(counts, name) if counts else None
    row["delivered"] = counts.delivered_ratio if counts else None
    row.update(resource_columns(step))
    for key in LATENCY_KEYS:
        row[f"{key}_ms"] = step.latency.get(key)
    return row


class ReportWriteError(FridaSetupError):
    """The report directory cannot take the report (full, read-only, gone)."""


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ReportWriteError(
            f"cannot write {path.name} in {path.parent}:"
            f" {exc.strerror or exc}; free space or choose another"
            " --frida-report-dir"
        ) from exc


class ReportWriter:
    """Writes one run's report files into `run_dir`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    @property
    def json_path(self) -> Path:
        return self.run_dir / "report.json"

    @property
    def html_path(self) -> Path:
        return self.run_dir / "report.html"

    @property
    def csv_path(self) -> Path:
        return self.run_dir / "steps.csv"

    def write(self, info: RunInfo, steps: Sequence[StepResult]) -> None:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReportWriteError(f"cannot create {self.run_dir}: {exc.strerror or exc}") from exc
        info.limits = [limit.to_dict() for limit in limits_by_test(steps)]
        sizing = run_sizing(info, steps)
        info.sizing = sizing.to_dict() if sizing else {}
        doc = {**info.to_dict(), "steps": [s.to_dict() for s in steps]}
        _atomic_write(self.json_path, json.dumps(doc, indent=2, default=str) + "\n")
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for step in steps:
            writer.writerow(step_row(info.run_id, step))
        _atomic_write(self.csv_path, buffer.getvalue())

    def write_html(
        self,
        info: RunInfo,
        steps: Sequence[StepResult],
        history: Sequence[HistoryEntry],
        changes: Sequence[Change],
    ) -> None:
        from pytest_frida.report.html import render  # matplotlib only when a report is made

        self.run_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.html_path, render(info, steps, history, changes))
