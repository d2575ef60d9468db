"""Comparing a run with a baseline, and failing on regressions past thresholds.

`--frida-compare-fail=capacity:10%,p99:20%`: fail when the capacity limit dropped by more
than 10%, or when p99 at any producer count both runs judged grew by more than 20%.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_frida.report.history import HistoryEntry

LATENCY_METRICS = ("p50", "p90", "p99", "p99.9", "max")
_THRESHOLD = re.compile(r"^(?P<metric>[a-z0-9.]+):(?P<pct>\d+(?:\.\d+)?)%$")


class CompareError(ValueError):
    pass


@dataclass(frozen=True)
class Threshold:
    metric: str  # "capacity" or a latency metric
    percent: float

    def __str__(self) -> str:
        return f"{self.metric}:{self.percent:g}%"


def parse_thresholds(text: str) -> list[Threshold]:
    out = []
    for part in (p.strip() for p in text.split(",")):
        m = _THRESHOLD.match(part)
        if m is None or (m["metric"] != "capacity" and m["metric"] not in LATENCY_METRICS):
            raise CompareError(f"{part!r} is not METRIC:N%; metrics: capacity, "
                               f"{', '.join(LATENCY_METRICS)} (e.g. capacity:10%,p99:20%)")
        out.append(Threshold(m["metric"], float(m["pct"])))
    return out


@dataclass(frozen=True)
class Change:
    test: str
    what: str
    producers: int | None
    baseline: float | None
    current: float | None
    change_pct: float | None
    failed: bool

    def describe(self) -> str:
        at = f" at {self.producers} producers" if self.producers is not None else ""
        pct = "n/a" if self.change_pct is None else f"{self.change_pct:+.1f}%"
        mark = "  REGRESSION" if self.failed else ""
        return f"{self.test}: {self.what}{at}: {self.baseline} -> {self.current} ({pct}){mark}"


def _pct(base: float, cur: float) -> float | None:
    return None if base == 0 else (cur - base) / base * 100.0


def compare(current: HistoryEntry, baseline: HistoryEntry,
            thresholds: Sequence[Threshold] = ()) -> list[Change]:
    """Capacity and latency changes of one test between two runs."""
    limits = {t.metric: t.percent for t in thresholds}
    changes = []
    base_limit, cur_limit = baseline.limit_value, current.limit_value
    if base_limit is not None:
        if cur_limit is None:
            # fell below the smallest count tried: as bad as it gets
            drop_fails = "capacity" in limits and current.limit.get("status") == "below_range"
            changes.append(Change(current.test, "capacity limit", None, base_limit, None, None,
                                  drop_fails))
        else:
            pct = _pct(base_limit, cur_limit)
            # only a bracketed limit is a ceiling: "at least N" (steps above it undecided
            # or not run) or a noisy bracket proves no drop
            failed = ("capacity" in limits and pct is not None
                      and -pct > limits["capacity"]
                      and current.limit.get("status") == "bracketed")
            changes.append(Change(current.test, "capacity limit", None, base_limit, cur_limit,
                                  pct, failed))
    counts = sorted({s["producers"] for s in current.steps}
                    & {s["producers"] for s in baseline.steps})
    for metric in LATENCY_METRICS:
        for producers in counts:
            base = baseline.latency_at(producers, f"{metric}_ms")
            cur = current.latency_at(producers, f"{metric}_ms")
            if base is None or cur is None:
                continue
            pct = _pct(base, cur)
            failed = metric in limits and pct is not None and pct > limits[metric]
            if metric in limits or metric == "p99":
                changes.append(Change(current.test, f"{metric} ms", producers, base, cur, pct,
                                      failed))
    return changes
