"""`frida repeat N -- PYTEST ARGS`: the same suite N times, and how far its figures move.

Each repetition is a separate pytest session (its own run id, its own broker), so the
spread includes everything that differs between two runs on the same machine. Printed
per test: the limit of every run with its status, the spread of the confirmed ones
((max - min) / min), the same for the pass points of those runs (measure.pass_point:
where half of a run's steps pass, fitted to all of them), and the default gate applied
to every ordered pair of runs (earlier as baseline, later as current): with an unchanged
system each regression it reports is a false alarm.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytest_frida.report.compare import Threshold, compare
from pytest_frida.report.history import History, HistoryEntry

Say = Callable[[str], None]


@dataclass
class TestSpread:
    """One test's limits over the repetitions, and the gate's pairwise verdicts."""

    test: str
    #: (run id, limit, status) per run, in run order
    limits: list[tuple[str, int | None, str]] = field(default_factory=list)
    #: each run's pass point (None where its steps could not place one), in run order
    points: list[float | None] = field(default_factory=list)
    #: per run, whether its point's interval is closed at both ends: an open one ("above
    #: 32") caps the estimate at the counts measured, so it bounds rather than places
    bounded: list[bool] = field(default_factory=list)
    pairs: int = 0
    #: "baseline -> current: change" for every pair the gate called a regression
    false_alarms: list[str] = field(default_factory=list)

    @property
    def confirmed(self) -> list[int]:
        return [
            limit for _, limit, status in self.limits if status == "confirmed" and limit is not None
        ]

    @property
    def spread_pct(self) -> float | None:
        """(max - min) / min of the confirmed limits, in percent (None: fewer than two)."""
        values = self.confirmed
        if len(values) < 2 or min(values) == 0:
            return None
        return (max(values) - min(values)) / min(values) * 100.0

    @property
    def _closed_points(self) -> list[bool]:
        """`bounded`, every point closed where it was not given."""
        return self.bounded or [True] * len(self.points)

    @property
    def confirmed_points(self) -> list[float]:
        """The pass points of the runs that confirmed a limit, closed at both ends: a run
        that stopped short (noisy, harness-bound, not reached) measured other counts, and
        an open interval's estimate is capped by them, so neither compares with these."""
        return [
            point
            for (_, _, status), point, closed in zip(
                self.limits, self.points, self._closed_points, strict=True
            )
            if status == "confirmed" and point is not None and closed
        ]

    @property
    def point_spread_pct(self) -> float | None:
        """(max - min) / min of the confirmed runs' pass points, in percent (None: fewer
        than two)."""
        values = self.confirmed_points
        if len(values) < 2 or min(values) <= 0:
            return None
        return (max(values) - min(values)) / min(values) * 100.0

    def describe(self) -> list[str]:
        limits = ", ".join(
            f"{limit if limit is not None else '-'} ({status})" for _, limit, status in self.limits
        )
        spread = self.spread_pct
        confirmed = self.confirmed
        lines = [f"{self.test}: limits {limits}"]
        if spread is None:
            lines.append(
                f"  {len(confirmed)} of {len(self.limits)} runs confirmed a limit:"
                " no spread to state"
            )
        else:
            lines.append(
                f"  {len(confirmed)} of {len(self.limits)} confirmed, from"
                f" {min(confirmed)} to {max(confirmed)}: spread {spread:.1f}%"
            )
        placed = sum(p is not None for p in self.points)
        points = ", ".join(
            "-" if p is None else f"{p:.1f}" + ("" if closed else " (one-sided)")
            for p, closed in zip(self.points, self._closed_points, strict=True)
        )
        compared = self.confirmed_points
        point_spread = self.point_spread_pct
        if placed:
            line = f"  pass points {points} ({placed} of {len(self.points)} runs placed one)"
            if point_spread is not None:
                line += (
                    f"; the {len(compared)} closed ones of confirmed runs from"
                    f" {min(compared):.1f} to {max(compared):.1f}, spread {point_spread:.1f}%"
                )
            lines.append(line)
        lines.append(
            f"  gate on {self.pairs} ordered pairs of runs: {len(self.false_alarms)}"
            " regression(s) reported (each a false alarm: nothing changed)"
        )
        lines += [f"    {alarm}" for alarm in self.false_alarms]
        return lines


def _closed(point: object) -> bool:
    return isinstance(point, dict) and not point.get("low_open") and not point.get("high_open")


def _estimate(point: object) -> float | None:
    value = point.get("estimate") if isinstance(point, dict) else None
    return float(value) if isinstance(value, int | float) else None


def spreads(
    entries: Sequence[HistoryEntry], run_ids: Sequence[str], thresholds: Sequence[Threshold]
) -> list[TestSpread]:
    """The spread of each test over the runs `run_ids` (in that order)."""
    order = {run: i for i, run in enumerate(run_ids)}
    mine = sorted((e for e in entries if e.run_id in order), key=lambda e: order[e.run_id])
    by_test: dict[str, list[HistoryEntry]] = {}
    for entry in mine:
        by_test.setdefault(entry.test, []).append(entry)
    out = []
    for test, runs in by_test.items():
        spread = TestSpread(
            test,
            [(e.run_id, e.limit_value, str(e.limit.get("status"))) for e in runs],
            [_estimate(e.limit.get("pass_point")) for e in runs],
            bounded=[_closed(e.limit.get("pass_point")) for e in runs],
        )
        for i, base in enumerate(runs):
            for current in runs[i + 1 :]:
                spread.pairs += 1
                failed = [c for c in compare(current, base, thresholds, entries) if c.failed]
                spread.false_alarms += [
                    f"{base.run_id} -> {current.run_id}: {c.describe()}" for c in failed
                ]
        out.append(spread)
    return out


def run_repeats(
    count: int, pytest_args: Sequence[str], report_dir: Path, say: Say = print
) -> list[str]:
    """Run the suite `count` times; returns the run ids recorded, in order. Stops early
    on an interrupt or on a session that could not run its tests (exit status >= 2)."""
    history = History(report_dir)
    run_ids: list[str] = []
    for i in range(1, count + 1):
        before = {e.run_id for e in history.load()}
        say(f"== repetition {i} of {count}")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                *pytest_args,
                f"--frida-report-dir={report_dir}",
                "-p",
                "no:cacheprovider",
            ],
            check=False,
        )
        new = sorted({e.run_id for e in history.load()} - before)
        run_ids += new
        if proc.returncode >= 2 or not new:
            say(
                f"repetition {i} ended with exit status {proc.returncode}"
                f"{'' if new else ' and recorded no run'}: stopping"
            )
            break
    return run_ids


def write_summary(
    path: Path,
    run_ids: Sequence[str],
    results: Sequence[TestSpread],
    thresholds: Sequence[Threshold],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "runs": list(run_ids),
                "gate": [str(t) for t in thresholds],
                "tests": [
                    {
                        **asdict(r),
                        "spread_pct": r.spread_pct,
                        "confirmed": r.confirmed,
                        "point_spread_pct": r.point_spread_pct,
                    }
                    for r in results
                ],
            },
            indent=2,
        )
    )
