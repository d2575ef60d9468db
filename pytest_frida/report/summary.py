"""The terminal summary: one row per step."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_frida.measure.drain import describe as describe_drain
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.steady import trend_note
from pytest_frida.report.capacity import CapacityLimit, shape_table

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


def _test_name(step: StepResult) -> str:
    name = step.test.split("::")[-1].split("[")[0]
    return f"{name}[{step.shape_label}]" if step.shape_label else name


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def summary_rows(steps: Sequence[StepResult]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for s in steps:
        rows.append(
            (
                _test_name(s),
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


def shape_pivot(limits: Sequence[CapacityLimit]) -> list[tuple[str, ...]]:
    """The capacity limits of tests run on cluster shapes: a row per test, a column per
    shape (in the order first run), header first; empty without shapes."""
    rows = shape_table(limits)
    labels = list(dict.fromkeys(label for _, label, _ in rows))
    tests = list(dict.fromkeys(test for test, _, _ in rows))
    cells = {(test, label): value for test, label, value in rows}
    if not rows:
        return []
    return [
        ("test", *labels),
        *((test, *(cells.get((test, label), "") for label in labels)) for test in tests),
    ]


def shape_lines(limits: Sequence[CapacityLimit]) -> list[str]:
    """`shape_pivot` aligned for the terminal."""
    rows = shape_pivot(limits)
    return _aligned(rows) if rows else []


def _aligned(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Rows under their header, the first column left-aligned, the others right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def format_table(steps: Sequence[StepResult]) -> list[str]:
    """The aligned table, then a line per step whose measured window had a latency trend."""
    return (
        _aligned([HEADER, *summary_rows(steps)])
        + steady_lines(steps)
        + drain_lines(steps)
        + workload_lines(steps)
    )


def drain_lines(steps: Sequence[StepResult]) -> list[str]:
    """A drain step's rate, under the table: what it measures is not a producer count."""
    return [
        f"{s.test.split('::')[-1].split('[')[0]} at {s.producers} producers:"
        f" {describe_drain(s.drain)}"
        for s in steps
        if s.drain
    ]


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


def largest_workload(steps: Sequence[StepResult]) -> str | None:
    """The workload in words at the most producers run: how the busiest producer's share
    compares with the mean depends on the count, and the largest is nearest the limit."""
    worded = [(s.producers, text) for s in steps if (text := market_workload(s))]
    return max(worded, key=lambda pair: pair[0])[1] if worded else None


def workload_lines(steps: Sequence[StepResult]) -> list[str]:
    """Per test with a market workload, what it was at its largest step, once."""
    by_test: dict[str, list[StepResult]] = {}
    for s in steps:
        by_test.setdefault(s.test.split("::")[-1].split("[")[0], []).append(s)
    lines = {test: largest_workload(group) for test, group in by_test.items()}
    return [f"{test} workload: {text}" for test, text in lines.items() if text]


def steady_lines(steps: Sequence[StepResult]) -> list[str]:
    """A trend is a note, not a verdict: it goes under the table, not into it."""
    return [
        f"{_test_name(s)} at {s.producers} producers: {note}"
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
