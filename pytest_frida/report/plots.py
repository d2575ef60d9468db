"""The report's plots as inline SVG (matplotlib, no network, no files)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from pytest_frida.measure import outside
from pytest_frida.measure.resources import figure_mean
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.slo import LATENCY_METRICS, parse_slo
from pytest_frida.report.capacity import CapacityLimit
from pytest_frida.report.history import HistoryEntry
from pytest_frida.report.sizing import Sizing

_COLORS = {"p50": "#4c78a8", "p99": "#f58518", "max": "#b279a2"}
_VERDICT_COLORS = {
    "pass": "#54a24b",
    "fail": "#e45756",
    "generator_bound": "#9d9d9d",
    "clock_untrusted": "#f58518",
    "consumer_bound": "#bab0ac",
    "insufficient": "#d8b5a5",
    "error": "#000000",
}


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def latency_vs_producers(steps: Sequence[StepResult], limit: CapacityLimit, slo: str) -> str:
    """Delivery latency percentiles per producer count, the SLO lines and the limit."""
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    ordered = sorted(steps, key=lambda s: s.producers)
    xs = [s.producers for s in ordered]
    for key, color in _COLORS.items():
        ys = [s.latency.get(key) for s in ordered]
        ax.plot(
            xs,
            [y if y is not None else float("nan") for y in ys],
            "-",
            color=color,
            label=key,
            linewidth=1.5,
        )
    for s in ordered:  # a marker per step in its verdict's colour
        y = s.latency.get("p99")
        if y is not None:
            ax.plot(
                [s.producers],
                [y],
                "o",
                color=_VERDICT_COLORS.get(s.verdict, "k"),
                markersize=7,
                markerfacecolor="none" if s.verdict != "pass" else None,
            )
    try:
        clauses = parse_slo(slo).clauses
    except ValueError:
        clauses = ()
    for clause in clauses:
        if clause.metric in LATENCY_METRICS:
            ax.axhline(clause.threshold, color="#e45756", linestyle="--", linewidth=1)
            ax.annotate(
                f"SLO {clause.text}",
                (xs[0] if xs else 1, clause.threshold),
                textcoords="offset points",
                xytext=(2, 4),
                color="#e45756",
                fontsize=8,
            )
    if limit.limit is not None:
        ax.axvline(limit.limit, color="#54a24b", linewidth=2, alpha=0.6)
        ax.annotate(
            f"limit {limit.limit}",
            (limit.limit, ax.get_ylim()[1]),
            textcoords="offset points",
            xytext=(4, -12),
            color="#2e7d32",
            fontsize=9,
        )
    if len(set(xs)) > 1 and max(xs) / max(1, min(xs)) >= 20:
        ax.set_xscale("log")
    if any((v or 0) > 0 for s in ordered for v in s.latency.values()):
        ax.set_yscale("log")  # only when there is something to scale (all-error runs have not)
    ax.set_xlabel("producers")
    ax.set_ylabel("end-to-end latency (ms, from intended send)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return _svg(fig)


def throughput(steps: Sequence[StepResult]) -> str:
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ordered = sorted(steps, key=lambda s: s.producers)
    xs = [s.producers for s in ordered]
    ax.plot(xs, [s.target_rate for s in ordered], "--", color="#888", label="target")
    ax.plot(xs, [s.achieved_rate for s in ordered], "o-", color="#4c78a8", label="achieved")
    ax.set_xlabel("producers")
    ax.set_ylabel("msg/s")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _svg(fig)


def latency_distributions(steps: Sequence[StepResult]) -> str:
    """Percentile plots (x: 1/(1-p) on a log scale, so the tail gets the room)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    cmap = plt.get_cmap("viridis")
    ordered = sorted(steps, key=lambda s: s.producers)
    plotted = 0
    for i, s in enumerate(ordered):
        curve = [(p, v) for p, v in s.latency_curve if p < 100.0 and v > 0]
        if not curve:
            continue
        plotted += 1
        xs = [1.0 / (1.0 - p / 100.0) for p, _ in curve]
        ax.plot(
            xs,
            [v for _, v in curve],
            "-",
            color=cmap(i / max(1, len(ordered) - 1)),
            label=f"{s.producers} producers",
        )
    ticks = [1, 2, 10, 100, 1000, 10000, 100000]
    ax.set_xscale("log")
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    if plotted:
        ax.set_yscale("log")
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.grid(True, which="both", alpha=0.3)
    if plotted:
        ax.legend(fontsize=7, ncol=2)
    return _svg(fig)


def limit_over_runs(entries: Sequence[HistoryEntry]) -> str:
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    xs = list(range(len(entries)))
    ys = [e.limit_value if e.limit_value is not None else float("nan") for e in entries]
    ax.plot(xs, ys, "o-", color="#54a24b")
    for x, e in zip(xs, entries, strict=True):
        if e.limit.get("status") == "not_reached":
            ax.annotate(
                ">=",
                (x, e.limit_value or 0),
                textcoords="offset points",
                xytext=(-4, 6),
                fontsize=8,
            )
    ax.set_xticks(xs)
    ax.set_xticklabels([e.run_id[:15] for e in entries], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("capacity limit (producers)")
    ax.grid(True, alpha=0.3)
    return _svg(fig)


def _busiest(step: StepResult, source: str, name: str) -> float:
    """A figure's mean for plotting: nan (a gap in the line) where it was not measured."""
    value = figure_mean(step.resources, source, name)
    return float("nan") if value is None else value


def _host_cores(step: StepResult) -> float:
    """The host's cores a share is taken of (nan when not known)."""
    return float(step.resources.get("host_cores") or "nan")


def _harness_share(step: StepResult, agents: Sequence[dict[str, Any]]) -> float:
    """The cores `agents` used together, over the host's cores (nan when not known)."""
    cores = step.resources.get("host_cores")
    if not cores or not agents:
        return float("nan")
    return sum(float(a.get("cpu_share", 0.0)) for a in agents) / float(cores)


def resources_vs_producers(steps: Sequence[StepResult], limit: CapacityLimit) -> str:
    """Utilisation per producer count, one panel per broker plus the host and the harness,
    with the first failure (the knee) marked: what ran out as the load grew."""
    ordered = sorted(steps, key=lambda s: s.producers)
    xs = [s.producers for s in ordered]
    brokers = sorted(
        {k for s in ordered for k in s.resources.get("sources", {}) if k.startswith("broker")}
    )
    panels: list[tuple[str, list[tuple[str, list[float]]]]] = []
    for broker in brokers:
        lines = [
            ("request handlers busy", [1 - _busiest(s, broker, "handler_idle") for s in ordered]),
            (
                "CPU, share of host cores",
                [
                    _busiest(s, broker, "cores") / max(1, s.resources.get("host_cores") or 1)
                    if s.resources.get("host_cores")
                    else float("nan")
                    for s in ordered
                ],
            ),
            ("time in GC", [_busiest(s, broker, "gc_share") for s in ordered]),
        ]
        panels.append((broker, lines))
    panels.append(
        (
            "host",
            [
                ("host CPU busy", [_busiest(s, "host", "host_busy") for s in ordered]),
                (
                    "other work outside the run, share of host cores",
                    [_busiest(s, "host", outside.FIGURE) / _host_cores(s) for s in ordered],
                ),
                ("data disk busy", [_busiest(s, "disk", "disk_busy") for s in ordered]),
            ],
        )
    )
    panels.append(
        (
            "harness",
            [
                (
                    "producer agents busy (busiest)",
                    [s.generator_busy if s.generators else float("nan") for s in ordered],
                ),
                (
                    "consumer agents busy (busiest)",
                    [
                        max((float(c.get("busy", 0.0)) for c in s.consumers), default=float("nan"))
                        for s in ordered
                    ],
                ),
                (
                    "producer agents CPU, share of host cores",
                    [_harness_share(s, s.generators) for s in ordered],
                ),
                (
                    "consumers CPU, share of host cores",
                    [_harness_share(s, s.consumers) for s in ordered],
                ),
            ],
        )
    )
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(7.5, 2.3 * len(panels)), sharex=True, squeeze=False
    )
    for ax, (title, lines) in zip(axes[:, 0], panels, strict=True):
        for label, ys in lines:
            if any(y == y for y in ys):  # something measured (nan != nan)
                ax.plot(xs, [100 * y for y in ys], "o-", label=label, linewidth=1.2, markersize=3)
        ax.axhline(85, color="#999", linestyle=":", linewidth=1)
        if limit.first_fail is not None:
            ax.axvline(limit.first_fail, color="#e45756", linewidth=1.5, alpha=0.6)
        ax.set_ylim(0, 105)
        ax.set_ylabel("% of ceiling")
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=7)
    axes[-1, 0].set_xlabel("producers (red: first failure; dotted: saturated at 85%)")
    return _svg(fig)


_ANSWER_COLORS = {"meets": "#54a24b", "short": "#e45756", "undecided": "#f58518"}


def limits_against_target(sizing: Sizing) -> str:
    """Each shape's capacity as a bar to its last pass, a whisker to its first failure
    (where the limit lies), grey where nothing is confirmed; the target as a line."""
    answers = sizing.answers
    fig, ax = plt.subplots(figsize=(7.5, 0.6 + 0.45 * max(2, len(answers))))
    ys = list(range(len(answers)))
    for y, a in zip(ys, answers, strict=True):
        color = _ANSWER_COLORS.get(a.answer, "#bab0ac")
        low = a.capacity or 0.0
        ax.barh(y, low, color=color, height=0.6)
        if a.capacity_upper is not None and a.capacity_upper > low:
            ax.plot([low, a.capacity_upper], [y, y], color="#333333", lw=1)
            ax.plot([a.capacity_upper], [y], "|", color="#333333", ms=10)
    ax.axvline(sizing.target.msg_per_s, color="#4c78a8", ls="--", lw=1.5)
    ax.text(
        sizing.target.msg_per_s,
        1.02,
        " target",
        transform=ax.get_xaxis_transform(),
        fontsize=8,
        color="#4c78a8",
    )
    ax.set_yticks(ys)
    ax.set_yticklabels([a.label for a in answers], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("messages per second held (bar: last pass; whisker: first failure)")
    ax.grid(True, axis="x", alpha=0.3)
    return _svg(fig)


def drain_lag(steps: Sequence[StepResult]) -> str:
    """Each drain step's lag in messages over the step: the backlog filling while the
    producers send, then draining (measure.drain's lag series)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    for s in steps:
        series = s.drain.get("lag_series") or []
        ax.plot(
            [row[0] for row in series],
            [row[1] for row in series],
            "-",
            label=f"{s.drain.get('consumers')} consumer(s), {s.producers} producers",
        )
    ax.set_xlabel("seconds since the step's start")
    ax.set_ylabel("lag (messages)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _svg(fig)
