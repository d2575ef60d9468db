"""Comparing a run with a baseline, and failing only on regressions that are not noise.

`--frida-compare-fail=capacity:10%,p99:20%`: a change past its threshold fails the session
only when it is also significant. A capacity drop counts when the current run confirmed a
failure (two trials agreed) at a count where the baseline confirmed a pass, so that their
brackets cannot overlap; a latency percentile when its
95% intervals do not overlap and, given at least `NOISE_RUNS` earlier runs of the same plan
and Kafka version, it exceeds everything they measured. A baseline of another plan is
compared and never fails.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_frida.measure.trials import CONFIRMING
from pytest_frida.report.history import HistoryEntry, differences, like_runs, plan_differs

LATENCY_METRICS = ("p50", "p90", "p99", "p99.9", "max")
#: earlier like runs needed before their spread is taken as the run-to-run noise
NOISE_RUNS = 3
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


Bounds = tuple[float | None, float | None]


def _fmt(value: float | None) -> str:
    """Three significant digits, the histograms' precision, without exponents."""
    if value is None:
        return "None"
    if isinstance(value, int) or value == 0:
        return str(value)
    return f"{value:.{max(0, 2 - math.floor(math.log10(abs(value))))}f}"


def _with_bounds(value: float | None, bounds: Bounds | None) -> str:
    if bounds is None or bounds == (None, None):
        return _fmt(value)
    low, high = ("?" if b is None else _fmt(b) for b in bounds)
    return f"{_fmt(value)} [{low}, {high}]"


@dataclass(frozen=True)
class Change:
    test: str
    what: str
    producers: int | None
    baseline: float | None
    current: float | None
    change_pct: float | None
    failed: bool
    #: 95% intervals (low, high) of a percentile's baseline and current values
    baseline_ci: Bounds | None = None
    current_ci: Bounds | None = None
    #: why a change past its threshold is no regression
    why: str = ""

    def describe(self) -> str:
        at = f" at {self.producers} producers" if self.producers is not None else ""
        pct = "n/a" if self.change_pct is None else f"{self.change_pct:+.1f}%"
        tail = f"({pct}) REGRESSION" if self.failed else (
            f"({pct}, {self.why})" if self.why else f"({pct})")
        return (f"{self.test}: {self.what}{at}: {_with_bounds(self.baseline, self.baseline_ci)}"
                f" -> {_with_bounds(self.current, self.current_ci)} {tail}")


@dataclass(frozen=True)
class Note(Change):
    """Context of a comparison (which baseline, what differs): never a failure."""

    text: str = ""

    def describe(self) -> str:
        return f"{self.test}: {self.text}"


def _note(test: str, what: str, text: str) -> Note:
    return Note(test, what, None, None, None, None, False, text=text)


def _pct(base: float, cur: float) -> float | None:
    return None if base == 0 else (cur - base) / base * 100.0


def _context(current: HistoryEntry, baseline: HistoryEntry) -> tuple[list[Change], str]:
    """Lines naming the baseline and what differs, and why nothing may fail ("" if not)."""
    test, run = current.test, baseline.run_id
    if baseline.plan is None:
        why = f"baseline without a plan (schema {baseline.schema})"
        return [_note(test, "baseline", f"baseline {run}: a schema-{baseline.schema} entry"
                      " without its plan, not like with like; nothing here fails")], why
    diffs = differences(baseline, current)
    if plan_differs(baseline, current):
        head = f"baseline {run}: another plan; nothing here fails"
        why = "plan differs"
    else:
        head, why = f"baseline {run}: same plan", ""
    return [_note(test, "baseline", head),
            *(_note(test, "difference", f"differs from {run}: {d}") for d in diffs)], why


def _end_confirmed(limit: dict[str, object], producers: int, verdict: str) -> bool:
    """Whether `limit`'s trials confirmed `verdict` at `producers` (measure.trials); an
    entry without its trials goes by its status."""
    trials = limit.get("trials")
    if not isinstance(trials, list) or not trials:
        return limit.get("status") == "confirmed"
    for n, passes, fails in trials:
        if n == producers:
            agree, other = (passes, fails) if verdict == "pass" else (fails, passes)
            return bool(agree >= CONFIRMING and agree > other)
    return False


def _limit_gate(current: dict[str, object], baseline: dict[str, object]) -> str:
    """Why a drop of the limit is not a regression ("" when it is one). A drop is one when
    the current run confirmed a failure at a count where the baseline confirmed a pass:
    whatever their statuses (a confirmed failure below the range, a confirmed "at least
    N"), the two brackets then cannot overlap."""
    for name, limit in (("current", current), ("baseline", baseline)):
        if limit.get("status") == "noisy":
            return f"{name} limit noisy"
    first_fail, last_pass = current.get("first_fail"), baseline.get("last_pass")
    if not isinstance(first_fail, int) or not isinstance(last_pass, int):
        return "bracket unknown"
    if not _end_confirmed(current, first_fail, "fail"):
        return f"current limit not confirmed ({current.get('status')})"
    if not _end_confirmed(baseline, last_pass, "pass"):
        return f"baseline limit not confirmed ({baseline.get('status')})"
    # the current run failed where the baseline passed, or the drop is within the brackets
    return "" if first_fail <= last_pass else "brackets overlap"


def _capacity(current: HistoryEntry, baseline: HistoryEntry, threshold: float | None,
              gate_off: str) -> Change | None:
    base, cur = baseline.limit_value, current.limit_value
    if base is None and cur is None:
        return None
    pct = _pct(base, cur) if base is not None and cur is not None else None
    # a limit gone (below the range, no data) is a drop past any threshold
    dropped = threshold is not None and base is not None and (
        cur is None or (pct is not None and -pct > threshold))
    why = (gate_off or _limit_gate(current.limit, baseline.limit)) if dropped else ""
    return Change(current.test, "capacity limit", None, base, cur, pct, dropped and not why,
                  why=why)


def _latency_gate(cur: float, cur_ci: Bounds, base_ci: Bounds, noise: Sequence[float]) -> str:
    """Why a latency growth is not a regression ("" when it is one)."""
    low, high = cur_ci[0], base_ci[1]
    if low is None or high is None:
        return "interval unknown"
    if low <= high:
        return "within noise: intervals overlap"
    if len(noise) >= NOISE_RUNS and cur <= max(noise):
        return (f"within run-to-run noise: {len(noise)} earlier like runs measured up to"
                f" {_fmt(max(noise))}")
    return ""


def compare(current: HistoryEntry, baseline: HistoryEntry,
            thresholds: Sequence[Threshold] = (),
            history: Sequence[HistoryEntry] = ()) -> list[Change]:
    """Capacity and latency changes of one test between two runs, with the baseline and
    its differences first. `history` (earlier entries) gives the run-to-run noise of the
    current plan."""
    limits = {t.metric: t.percent for t in thresholds}
    changes, gate_off = _context(current, baseline)
    capacity = _capacity(current, baseline, limits.get("capacity"), gate_off)
    if capacity is not None:
        changes.append(capacity)
    like = like_runs(history, current)
    counts = sorted({s["producers"] for s in current.steps}
                    & {s["producers"] for s in baseline.steps})
    for metric in LATENCY_METRICS:
        if metric not in limits and metric != "p99":
            continue
        for producers in counts:
            base = baseline.latency_at(producers, f"{metric}_ms")
            cur = current.latency_at(producers, f"{metric}_ms")
            if base is None or cur is None:
                continue
            pct = _pct(base, cur)
            base_ci = baseline.interval_at(producers, metric)
            cur_ci = current.interval_at(producers, metric)
            grew = metric in limits and pct is not None and pct > limits[metric]
            why = ""
            if grew:
                noise = [v for e in like
                         if (v := e.latency_at(producers, f"{metric}_ms")) is not None]
                why = gate_off or _latency_gate(cur, cur_ci, base_ci, noise)
            changes.append(Change(current.test, f"{metric} ms", producers, base, cur, pct,
                                  grew and not why, base_ci, cur_ci, why))
    return changes
