"""Whether a step's measured window was in steady state, from its per-second timeline.

A step warms up for a fixed time, then measures. When that was too short (caches, JIT,
batching still settling), latency keeps rising or falling through the measured window, and
the step's percentiles describe a transient rather than the load. The per-second mean
latency of the measured window is tested for a monotonic trend: Mann–Kendall says whether
there is one (no assumption on how latency is distributed; normal approximation with tie
correction), Theil–Sen how steep it is (robust to the odd slow second). The verdict is
"trend" when Mann–Kendall's p is below `ALPHA` and the Theil–Sen rise from the first to the
last measured second exceeds `MIN_RISE` of the median per-second mean, either way (a real
but small drift does not move the percentiles much); "unknown" with fewer than
`MIN_SECONDS` measured seconds with messages (the test cannot tell), without latency sums,
or without a positive median to scale by; "steady" otherwise. A trend is a note on the
step, never part of its verdict.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: two-sided Mann–Kendall p below which the trend is taken as real
ALPHA = 0.01
#: the rise (or fall) across the window fitted by Theil–Sen, as a share of the window's
#: median per-second mean, beyond which a real trend matters (a smaller one hardly moves
#: the step's percentiles)
MIN_RISE = 0.20
#: fewer measured seconds with messages than this: too few for the test to tell
MIN_SECONDS = 8


@dataclass(frozen=True)
class SteadyState:
    """The trend of per-second mean latency over a step's measured window."""

    #: "steady", "trend" or "unknown"
    verdict: str
    #: measured seconds with messages (the points tested)
    seconds: int
    #: Theil–Sen slope of the per-second mean latency, ms per second
    slope_ms_per_s: float | None = None
    #: the fitted rise across the window, % of the median per-second mean (negative: a fall)
    rise_pct: float | None = None
    #: Mann–Kendall two-sided p-value
    p_value: float | None = None
    median_ms: float | None = None
    #: why the verdict is "unknown"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measured_means(
    timeline: Sequence[Sequence[int]], warmup_s: float, duration_s: float
) -> list[tuple[int, float]] | None:
    """(second, mean latency ms) of the seconds wholly inside the measured window that had
    messages; None when the timeline carries no latency sums."""
    end_s = warmup_s + duration_s
    rows = [row for row in timeline if row[0] >= warmup_s and row[0] + 1 <= end_s and row[1]]
    if any(len(row) < 4 for row in rows):
        return None
    return [(int(row[0]), row[3] / row[1] / 1000.0) for row in rows]


def theil_sen(points: Sequence[tuple[float, float]]) -> float:
    """Median of the pairwise slopes: one outlying second cannot tilt it."""
    slopes = [
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 != x1
    ]
    return statistics.median(slopes) if slopes else 0.0


def mann_kendall_p(values: Sequence[float]) -> float:
    """Two-sided p-value of Mann–Kendall's S (normal approximation, continuity and tie
    corrected); 1.0 when every value is the same."""
    n = len(values)
    s = sum((b > a) - (b < a) for i, a in enumerate(values) for b in values[i + 1 :])
    ties = sum(t * (t - 1) * (2 * t + 5) for t in _tie_sizes(values))
    variance = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    if variance <= 0 or s == 0:
        return 1.0
    z = (abs(s) - 1) / math.sqrt(variance)
    return math.erfc(z / math.sqrt(2.0))


def _tie_sizes(values: Sequence[float]) -> list[int]:
    counts: dict[float, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return [c for c in counts.values() if c > 1]


def steady_state(
    timeline: Sequence[Sequence[int]], warmup_s: float, duration_s: float
) -> SteadyState:
    """Steady, trend or unknown for one step (rule and constants: module docstring)."""
    points = measured_means(timeline, warmup_s, duration_s)
    if points is None:
        return SteadyState("unknown", 0, reason="the timeline has no latency sums")
    if len(points) < MIN_SECONDS:
        return SteadyState(
            "unknown",
            len(points),
            reason=f"{len(points)} measured seconds with messages, fewer than"
            f" the {MIN_SECONDS} a trend test needs",
        )
    means = [mean for _, mean in points]
    slope = theil_sen([(float(sec), mean) for sec, mean in points])
    p = mann_kendall_p(means)
    median = statistics.median(means)
    if median <= 0:  # clocks off by more than the latency: no scale to judge a change by
        return SteadyState(
            "unknown",
            len(points),
            round(slope, 4),
            None,
            _sig(p),
            round(median, 3),
            reason="the median latency is not positive",
        )
    rise = slope * (points[-1][0] - points[0][0]) / median
    trend = p < ALPHA and abs(rise) > MIN_RISE
    return SteadyState(
        "trend" if trend else "steady",
        len(points),
        round(slope, 4),
        round(100 * rise, 1),
        _sig(p),
        round(median, 3),
    )


def _sig(value: float) -> float:
    return float(f"{value:.3g}")


def trend_note(steady: dict[str, Any], warmup_s: float) -> list[str]:
    """The plain-words note a trend adds to the step (none otherwise). A rise may also be a
    load beyond what the cluster sustains, which no warm-up settles: the note says so."""
    if steady.get("verdict") != "trend":
        return []
    rise = float(steady["rise_pct"])
    p = float(steady["p_value"])
    why = f"the {warmup_s:g} s warm-up did not reach steady state" + (
        ", or the load is beyond what the cluster sustains" if rise > 0 else ""
    )
    return [
        f"latency {'rose' if rise > 0 else 'fell'} {abs(rise):.0f}% across the measured"
        f" window (Mann-Kendall {_p_text(p)}): {why}; lengthen --frida-warmup"
        + (" to tell" if rise > 0 else "")
    ]


def label(steady: dict[str, Any]) -> str:
    """A few characters for a report cell: steady, trend +35%, unknown, or - (not analysed)."""
    verdict = str(steady.get("verdict") or "-")
    if verdict == "trend":
        return f"trend {float(steady['rise_pct']):+.0f}%"
    return verdict


def _p_text(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"
