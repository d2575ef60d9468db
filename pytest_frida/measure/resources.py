"""Per-second readings of cumulative counters, turned into what a step used.

A reading is the wall-clock time it was taken and the counters of one source (a broker
process, a container, a disk, the host) at that instant. Rates come from differences of
consecutive readings, never from a tool's own moving average, so a figure covers exactly
the seconds it claims to. An interval counts for the measured window when its midpoint
lies inside it. A counter that went backwards (a broker restarted by a fault) drops that
interval rather than give a negative rate. A figure no reading carried stays out of the
summary: absent means unknown, never zero.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Reading = tuple[float, Mapping[str, float]]

_MIB = 1.0 / 2**20


@dataclass(frozen=True)
class Rate:
    """A cumulative counter whose rate, scaled, is the figure `name`."""

    name: str
    scale: float
    unit: str


@dataclass(frozen=True)
class Gauge:
    """An instantaneous value whose mean and maximum over the window are kept."""

    name: str
    scale: float
    unit: str


#: counter or gauge key -> the figure it becomes; keys a reading may carry
FIGURES: dict[str, Rate | Gauge] = {
    "cpu_s": Rate("cores", 1.0, "cores"),
    "read_bytes": Rate("read_mib_s", _MIB, "MiB/s"),
    "write_bytes": Rate("write_mib_s", _MIB, "MiB/s"),
    "disk_busy_ms": Rate("disk_busy", 1e-3, "share of time busy"),
    "disk_written_bytes": Rate("disk_write_mib_s", _MIB, "MiB/s"),
    "disk_flushes": Rate("disk_flushes_per_s", 1.0, "flushes/s"),
    "kernel_cpu_s": Rate("kernel_cores", 1.0, "cores"),
    "host_busy_ticks": Rate("host_busy_ticks", 1.0, "ticks/s"),
    "host_total_ticks": Rate("host_total_ticks", 1.0, "ticks/s"),
    # --frida-broker-cores: the brokers' cores and the harness's, whoever ran on them
    "broker_cores_busy_ticks": Rate("broker_cores_busy_ticks", 1.0, "ticks/s"),
    "broker_cores_total_ticks": Rate("broker_cores_total_ticks", 1.0, "ticks/s"),
    "harness_cores_busy_ticks": Rate("harness_cores_busy_ticks", 1.0, "ticks/s"),
    "harness_cores_total_ticks": Rate("harness_cores_total_ticks", 1.0, "ticks/s"),
    "produce_requests": Rate("produce_requests_per_s", 1.0, "requests/s"),
    "produce_time_ms_sum": Rate("produce_time_ms_sum", 1.0, "ms/s"),
    "produce_queue_ms_sum": Rate("produce_queue_ms_sum", 1.0, "ms/s"),
    "produce_local_ms_sum": Rate("produce_local_ms_sum", 1.0, "ms/s"),
    "handler_idle_ns": Rate("handler_idle", 1e-9, "share of time idle"),
    "bytes_in": Rate("bytes_in_mib_s", _MIB, "MiB/s"),
    "bytes_out": Rate("bytes_out_mib_s", _MIB, "MiB/s"),
    "messages_in": Rate("messages_in_per_s", 1.0, "msg/s"),
    "isr_shrinks": Rate("isr_shrinks_per_s", 1.0, "shrinks/s"),
    "log_flushes": Rate("log_flushes_per_s", 1.0, "log segment flushes/s"),
    "log_flush_ms_sum": Rate("log_flush_ms_sum", 1.0, "ms/s"),
    "log_flush_s": Rate("flushing", 1.0, "log flushes in progress, on average"),
    "gc_ms": Rate("gc_share", 1e-3, "share of time in GC"),
    "rss_bytes": Gauge("rss_mib", _MIB, "MiB"),
    "memory_bytes": Gauge("memory_mib", _MIB, "MiB"),
    "node_cores": Gauge("node_cores", 1.0, "cores of the broker's node"),
    "network_idle": Gauge("network_idle", 1.0, "share idle (broker's 1-minute average)"),
    "under_replicated": Gauge("under_replicated", 1.0, "partitions"),
    "request_queue": Gauge("request_queue", 1.0, "requests"),
    "produce_p99_ms": Gauge("produce_p99_ms", 1.0, "ms (broker's decaying reservoir)"),
    "produce_queue_p99_ms": Gauge("produce_queue_p99_ms", 1.0, "ms"),
    "produce_local_p99_ms": Gauge("produce_local_p99_ms", 1.0, "ms"),
    "produce_remote_p99_ms": Gauge("produce_remote_p99_ms", 1.0, "ms"),
    "produce_response_p99_ms": Gauge("produce_response_p99_ms", 1.0, "ms"),
    "fetch_p99_ms": Gauge("fetch_p99_ms", 1.0, "ms (broker's decaying reservoir)"),
}


#: figures that are one rate over another, and the two rates (which alone mean little
#: and are left out): the host's busy share; a produce request's mean time in the broker,
#: whole and in its request queue and local (append) parts, from Kafka's running sums; a
#: log flush's mean time, and the log's flushing time over the produce requests' append
#: time (the share of appending spent in fsync when the append flushes)
RATIOS = {
    "host_busy": ("host_busy_ticks", "host_total_ticks"),
    "broker_cores_busy": ("broker_cores_busy_ticks", "broker_cores_total_ticks"),
    "harness_cores_busy": ("harness_cores_busy_ticks", "harness_cores_total_ticks"),
    "produce_mean_ms": ("produce_time_ms_sum", "produce_requests_per_s"),
    "produce_queue_mean_ms": ("produce_queue_ms_sum", "produce_requests_per_s"),
    "produce_local_mean_ms": ("produce_local_ms_sum", "produce_requests_per_s"),
    "log_flush_mean_ms": ("log_flush_ms_sum", "log_flushes_per_s"),
    "flush_share": ("log_flush_ms_sum", "produce_local_ms_sum"),
}
_INGREDIENTS = {
    "host_busy_ticks",
    "host_total_ticks",
    "broker_cores_busy_ticks",
    "broker_cores_total_ticks",
    "harness_cores_busy_ticks",
    "harness_cores_total_ticks",
    "produce_time_ms_sum",
    "produce_queue_ms_sum",
    "produce_local_ms_sum",
    "log_flush_ms_sum",
}


def _rate_at(
    points: Sequence[tuple[float, float]], t1: float, t2: float
) -> tuple[float, bool] | None:
    """The counter's rate over [t1, t2] from the nearest readings that carry it around
    that interval: (per second, whether the readings bridge a gap wider than it); None
    when no pair encloses it or the counter went backwards (a restart) between them."""
    before = [p for p in points if p[0] <= t1]
    after = [p for p in points if p[0] >= t2]
    if not before or not after:
        return None
    (ta, va), (tb, vb) = before[-1], after[0]
    if tb <= ta or vb < va:
        return None
    return (vb - va) / (tb - ta), (ta < t1 or tb > t2)


def summarise(readings: Sequence[Reading], start: float, end: float) -> dict[str, Any]:
    """The figures of one source over [start, end] (wall-clock seconds): per figure its
    mean and maximum, and the per-interval values in `series` (`t`: each interval's
    midpoint, seconds from `start`). A reading that lacks a counter (a scrape timed out)
    leaves no hole: the intervals around it take the rate between the nearest readings
    that have it, and `bridged_s` says how many seconds were so filled."""
    ordered = sorted(readings, key=lambda r: r[0])
    intervals = [
        (t1, t2, b)
        for (t1, _), (t2, b) in itertools.pairwise(ordered)
        if t2 > t1 and start <= (t1 + t2) / 2 <= end
    ]
    points = {
        key: [(t, float(r[key])) for t, r in ordered if key in r]
        for key, spec in FIGURES.items()
        if isinstance(spec, Rate)
    }
    figures: dict[str, dict[str, float]] = {}
    series: dict[str, list[float | None]] = {
        "t": [round((t1 + t2) / 2 - start, 2) for t1, t2, _ in intervals]
    }
    for key, spec in FIGURES.items():
        values: list[float | None] = []
        bridged = 0.0
        for t1, t2, later in intervals:
            if isinstance(spec, Rate):
                found = _rate_at(points[key], t1, t2)
                values.append(None if found is None else found[0] * spec.scale)
                if found is not None and found[1]:
                    bridged += t2 - t1
            else:
                values.append(later[key] * spec.scale if key in later else None)
        known = [
            (t2 - t1, v) for (t1, t2, _), v in zip(intervals, values, strict=True) if v is not None
        ]
        if not known:
            continue
        if isinstance(spec, Rate):  # time-weighted over the intervals that had a rate
            mean = sum(w * v for w, v in known) / sum(w for w, _ in known)
        else:
            mean = sum(v for _, v in known) / len(known)
        figures[spec.name] = {"mean": round(mean, 4), "max": round(max(v for _, v in known), 4)}
        if bridged:
            figures[spec.name]["bridged_s"] = round(bridged, 2)
        series[spec.name] = [None if v is None else round(v, 4) for v in values]
    _ratios(figures, series)
    return {"figures": figures, "series": series if figures else {}}


def _ratios(figures: dict[str, dict[str, float]], series: dict[str, list[float | None]]) -> None:
    """Each of RATIOS from its two rates, then the rates that only served as ingredients
    are dropped. Means are a ratio of means: the top's total over the bottom's."""
    for name, (top, bottom) in RATIOS.items():
        if top not in figures or bottom not in figures or figures[bottom]["mean"] <= 0:
            continue
        shares = [
            None if a is None or b is None or b <= 0 else round(a / b, 4)
            for a, b in zip(series[top], series[bottom], strict=True)
        ]
        known = [v for v in shares if v is not None]
        if not known:
            continue
        figures[name] = {
            "mean": round(figures[top]["mean"] / figures[bottom]["mean"], 4),
            "max": max(known),
        }
        series[name] = shares
    for name in _INGREDIENTS:
        figures.pop(name, None)
        series.pop(name, None)


def units() -> dict[str, str]:
    """Every figure's unit and how it is measured, for the report to carry beside them."""
    how = {Rate: "the rate of a cumulative counter", Gauge: "a value read each second"}
    out = {
        spec.name: f"{spec.unit}, {how[type(spec)]}"
        for key, spec in FIGURES.items()
        if key not in _INGREDIENTS
    }
    out.update(
        host_busy="share of all cores' time busy, steal included (/proc/stat)",
        kernel_cores="cores used by the host's kernel threads (journal, writeback,"
        " softirq): the I/O and networking of whichever process asked for it",
        broker_cores_busy="share of the brokers' own cores' time busy, whoever ran"
        " there (/proc/stat, --frida-broker-cores)",
        harness_cores_busy="share of the harness's cores' time busy, whoever ran"
        " there (/proc/stat, --frida-broker-cores)",
        produce_mean_ms="ms per produce request in the broker (Kafka's running sum"
        " over its count, whole ms per request)",
        produce_queue_mean_ms="ms per produce request waiting in the request queue",
        produce_local_mean_ms="ms per produce request appending to the log",
        log_flush_mean_ms="ms per log segment flush (fsync of the log and its indexes),"
        " Kafka's running sum over its count",
        flushing="log flushes in progress on average (flush seconds per second, Kafka's"
        " running sum): appends to one partition wait for its flush, so over the"
        " partitions the broker holds it is how much of their time they spent in fsync",
        flush_share="the log's flushing time over the produce requests' append time:"
        " the share of appending spent in fsync when the append flushes"
        " (log.flush.interval.messages); background flushes count too, so it may pass 1",
    )
    return out


def figure_mean(resources: Mapping[str, Any], source: str, name: str) -> float | None:
    """The mean of figure `name` of `source` in a step's `resources`, None if not measured."""
    figure = resources.get("sources", {}).get(source, {}).get("figures", {}).get(name)
    return None if figure is None else float(figure["mean"])


def resource_figures(
    readings: Mapping[str, Sequence[Reading]],
    start: float,
    end: float,
    problems: Mapping[str, str],
    error: str | None = None,
) -> dict[str, Any]:
    """A step's `resources`: the window, every source's summary over [start, end], and one
    line for each source or figure that could not be read, and why."""
    sources = {}
    missing = [f"{source}: {why}" for source, why in sorted(problems.items())]
    for name, series in sorted(readings.items()):
        summary = summarise(series, start, end)
        if summary["figures"]:
            sources[name] = summary
        elif name not in problems:
            missing.append(f"{name}: fewer than two readings inside the measured window")
    if error is not None:
        missing.append(f"some readings were lost: {error}")
    return {
        "window": [round(start, 3), round(end, 3)],
        "sources": sources,
        "missing": missing,
        "units": units(),
    }
