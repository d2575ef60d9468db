"""The terminal summary: one row per step."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_frida.measure.result import StepResult
from pytest_frida.measure.steady import trend_note

HEADER = (
    "test",
    "producers",
    "target/s",
    "achieved/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "lost",
    "unacked",
    "failed",
    "verdict",
)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def summary_rows(steps: Sequence[StepResult]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for s in steps:
        rows.append(
            (
                s.test.split("::")[-1].split("[")[0],
                str(s.producers),
                f"{s.target_rate:g}",
                f"{s.achieved_rate:.1f}",
                _ms(s.latency.get("p50")),
                _ms(s.latency.get("p99")),
                _ms(s.latency.get("max")),
                "-" if s.counts is None else str(s.counts.lost),
                "-" if s.counts is None else str(s.counts.unacked),
                "-" if s.counts is None else str(s.counts.failed),
                s.verdict + (" (latency withheld)" if s.withheld and s.verdict == "fail" else ""),
            )
        )
    return rows


def format_table(steps: Sequence[StepResult]) -> list[str]:
    """The aligned table, then a line per step whose measured window had a latency trend."""
    rows = [HEADER, *summary_rows(steps)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines + steady_lines(steps) + workload_lines(steps)


def market_workload(step: StepResult) -> str | None:
    """The step's workload in words, when it is not the default one (one stream per
    producer, even arrivals); None for the default or a step recorded before workloads."""
    workload = step.workload
    if not workload or (
        workload.get("instruments") is None
        and workload.get("popularity", "uniform") == "uniform"
        and workload.get("arrivals", "even") == "even"
    ):
        return None
    return str(workload.get("text", ""))


def workload_lines(steps: Sequence[StepResult]) -> list[str]:
    """Per test with a market workload, what it was, once."""
    lines: dict[str, str] = {}
    for s in steps:
        text = market_workload(s)
        if text:
            lines.setdefault(s.test.split("::")[-1].split("[")[0], text)
    return [f"{test} workload: {text}" for test, text in lines.items()]


def steady_lines(steps: Sequence[StepResult]) -> list[str]:
    """A trend is a note, not a verdict: it goes under the table, not into it."""
    return [
        f"{s.test.split('::')[-1].split('[')[0]} at {s.producers} producers: {note}"
        for s in steps
        for note in trend_note(s.steady, s.warmup_s)
    ]


def undecided_lines(steps: Sequence[StepResult]) -> list[str]:
    """One line per step that decided no limit, naming it and saying why."""
    lines = []
    for s in steps:
        if s.decides is None:
            why = "; ".join(s.reasons) or s.error or "no reason recorded"
            lines.append(
                f"{s.test} at {s.producers} producers: {s.verdict}, decides nothing: {why}"
            )
    return lines
