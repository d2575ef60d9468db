"""Comparing a run with a baseline, and failing only on regressions that are not noise.

`--frida-compare-fail=capacity:10%,p99:20%`: a change past its threshold fails the session
only when it is significant both within the run and between runs.

- Within: a capacity drop needs a failure at a count where the baseline passed, each
  established twice, so the brackets cannot overlap; a latency percentile needs 95%
  intervals that do not overlap (they assume independent samples, and latencies come in
  bursts, so they are narrower than the truth).
- Between: on a shared two-core machine identical runs' limits spread 30% and their p99s
  moved by a factor of two and more, far beyond a run's own intervals. So no gate fails
  before `NOISE_RUNS` earlier like runs (the same plan on the baseline's Kafka version and
  broker config, any commit, `trusted`: not caught as regressions themselves; for a
  capacity limit, confirmed ones or "at least N" no lower than the baseline's) tell how
  far identical runs wander, nor within the 99% prediction bound that the latest
  `NOISE_WINDOW` of them give (`report.noise`).
- A run the gate failed is never a later run's 'last' baseline nor its noise: a caught
  regression stays caught until a run is compared with it by name and passes.

A baseline of another plan is compared and never fails.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_frida.measure.host_speed import SINGLE_HOST_SITES, slower_pct
from pytest_frida.measure.trials import CONFIRMING
from pytest_frida.report.history import (
    HistoryEntry,
    differences,
    earlier_runs,
    plan_differs,
    trusted,
)
from pytest_frida.report.noise import prediction_bound

LATENCY_METRICS = ("p50", "p90", "p99", "p99.9", "max")
#: earlier like runs needed before their spread is taken as the run-to-run noise, and the
#: most recent ones that spread is read from
NOISE_RUNS = 3
NOISE_WINDOW = 10
#: a host's probed speed or stolen CPU share worth a line next to a comparison, in percent
HOST_TOLERANCE_PCT = 5.0
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
            raise CompareError(
                f"{part!r} is not METRIC:N%; metrics: capacity, "
                f"{', '.join(LATENCY_METRICS)} (e.g. capacity:10%,p99:20%)"
            )
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
    #: the current run's judged trials at the count (HistoryEntry.latency_at reads the
    #: value most of them reached)
    trials: int = 1

    def describe(self) -> str:
        at = f" at {self.producers} producers" if self.producers is not None else ""
        pct = "n/a" if self.change_pct is None else f"{self.change_pct:+.1f}%"
        of_trials = f" (lower median of {self.trials} trials)" if self.trials > 1 else ""
        tail = (
            f"({pct}) REGRESSION"
            if self.failed
            else (f"({pct}, {self.why})" if self.why else f"({pct})")
        )
        return (
            f"{self.test}: {self.what}{at}: {_with_bounds(self.baseline, self.baseline_ci)}"
            f" -> {_with_bounds(self.current, self.current_ci)}{of_trials} {tail}"
        )


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
        return [
            _note(
                test,
                "baseline",
                f"baseline {run}: a schema-{baseline.schema} entry"
                " without its plan, not like with like; nothing here fails",
            )
        ], why
    diffs = differences(baseline, current)
    if plan_differs(baseline, current):
        head = f"baseline {run}: another plan; nothing here fails"
        why = "plan differs"
    else:
        head, why = f"baseline {run}: same plan", ""
    return [
        _note(test, "baseline", head),
        *(_note(test, "difference", f"differs from {run}: {d}") for d in diffs),
        *(_note(test, "host", text) for text in host_notes(current, baseline)),
        *(_note(test, "outside", text) for text in outside_notes(current, baseline)),
    ], why


def host_notes(current: HistoryEntry, baseline: HistoryEntry) -> list[str]:
    """On a single-host site, what the host itself did differently (measure.host_speed): a
    core slower or faster than the baseline's past the probes' noise and `HOST_TOLERANCE_PCT`,
    and CPU time stolen from this VM. Context, never a failure by itself."""
    if current.site not in SINGLE_HOST_SITES or not current.host:
        return []
    notes = []
    slower = slower_pct(baseline.host, current.host) if baseline.host else None
    if slower is not None and baseline.host:
        pct, noise = slower
        if abs(pct) > max(HOST_TOLERANCE_PCT, noise):
            notes.append(
                f"this host probed {abs(pct):.0f}% {'slower' if pct > 0 else 'faster'} than"
                f" in {baseline.run_id} (SHA-256 on one core: {baseline.host['mib_per_s']}"
                f" -> {current.host['mib_per_s']} MiB/s, probes within {noise:g}%): broker"
                " and harness share it, so its limit and latencies move with it"
            )
    steal = current.host.get("steal_pct")
    if isinstance(steal, (int, float)) and steal >= HOST_TOLERANCE_PCT:
        notes.append(
            f"{steal:g}% of this host's CPU time was stolen by other tenants of"
            " its VM host during the run"
        )
    return notes


def outside_notes(current: HistoryEntry, baseline: HistoryEntry) -> list[str]:
    """Per run compared that had material other work on its host (measure.outside), one
    line naming it: its figures are that machine's under that load. Context, never a
    failure; a run recorded without the figure says nothing."""
    notes = []
    for entry in (baseline, current):
        figure = entry.outside
        if entry.site not in SINGLE_HOST_SITES or not isinstance(figure, dict):
            continue
        material, steps = int(figure.get("material_steps", 0)), int(figure.get("steps", 0))
        if material:
            notes.append(
                f"{entry.run_id} had other work on this host (up to"
                f" {float(figure['max_mean_cores']):.2f} cores outside the run, in"
                f" {material} of {steps} steps): its limits and latencies are this"
                " machine's under that load, not like a quiet run's"
            )
    return notes


def _counts(limit: dict[str, object], verdict: str) -> list[tuple[int, bool]] | None:
    """(count, confirmed) of every count whose majority is `verdict`, from a limit's
    trials (a tuple in memory, a list read back from JSON); None without trials."""
    trials = limit.get("trials")
    if not isinstance(trials, list | tuple) or not trials:
        return None
    definitive = limit.get("definitive") or ()
    out = []
    for n, passes, fails in trials:
        agree, other = (passes, fails) if verdict == "pass" else (fails, passes)
        if verdict == "fail" and isinstance(definitive, list | tuple) and n in definitive:
            out.append((int(n), True))  # lost messages: failed, confirmed, at once
        elif agree > other:
            out.append((int(n), agree >= CONFIRMING))
    return out


def _limit_gate(current: dict[str, object], baseline: dict[str, object]) -> str:
    """Why a drop of the limit is not a regression ("" when it is one).

    A drop is one when the current run failed at a count `a` and the baseline passed at a
    count `b >= a`, each established twice: the failure confirmed at `a` or seen at two
    counts up to `b`, the pass confirmed at `b` or seen at two counts from `a` (capacity
    grows no larger with more producers). Then the brackets cannot overlap, whatever the
    statuses: two confirmed limits, a failure below the range against "at least N", or a
    noisy run.
    """
    fails, passes = _counts(current, "fail"), _counts(baseline, "pass")
    if fails is None or passes is None:  # no trials recorded: go by the statuses
        for name, limit in (("current", current), ("baseline", baseline)):
            if limit.get("status") != "confirmed":
                return f"{name} limit not confirmed ({limit.get('status')})"
        first_fail, last_pass = current.get("first_fail"), baseline.get("last_pass")
        if not isinstance(first_fail, int) or not isinstance(last_pass, int):
            return "bracket unknown"
        return "" if first_fail <= last_pass else "brackets overlap"
    if not fails:
        return f"current limit not confirmed ({current.get('status')})"
    if not passes:
        return f"baseline limit not confirmed ({baseline.get('status')})"
    overlapping = True
    for a, a_confirmed in fails:
        for b, b_confirmed in passes:
            if a > b:
                continue
            overlapping = False
            a_ok = a_confirmed or sum(1 for n, _ in fails if n <= b) >= CONFIRMING
            b_ok = b_confirmed or sum(1 for n, _ in passes if n >= a) >= CONFIRMING
            if a_ok and b_ok:
                return ""
    if overlapping:
        return "brackets overlap"
    return (
        f"current limit not confirmed ({current.get('status')})"
        if not any(c for _, c in fails)
        else f"baseline limit not confirmed ({baseline.get('status')})"
    )


def noise_runs(
    history: Sequence[HistoryEntry], current: HistoryEntry, baseline: HistoryEntry
) -> list[HistoryEntry]:
    """The runs whose spread says how far the baseline's system wanders from run to run:
    earlier runs of the current plan on the baseline's Kafka version and broker config
    (another version or config is the change under test, never its noise), any commit so
    CI builds them up, finished and not themselves caught as regressions, and only the
    latest NOISE_WINDOW, so a regression once let in excuses itself for a while at most."""
    system = baseline.system or {}
    runs, _ = trusted(
        [
            e
            for e in earlier_runs(history, current)
            if e.plan is not None
            and e.plan == current.plan
            and e.kafka_version == baseline.kafka_version
            and (e.system or {}).get("broker_config") == system.get("broker_config")
        ]
    )
    return runs[-NOISE_WINDOW:]


def _noise_gate(value: float, noise: Sequence[float], higher_is_worse: bool) -> str:
    """Why a change the run's own measurements call significant may still be the machine
    ("" when it is not): fewer than NOISE_RUNS recent like runs say nothing of how far
    identical runs wander, and a value within their prediction bound (report.noise) is
    no change."""
    noise = [v for v in noise if math.isfinite(v)]
    if len(noise) < NOISE_RUNS:
        return f"run-to-run noise unknown: {len(noise)} of {NOISE_RUNS} earlier like runs needed"
    bound = prediction_bound(noise, higher_is_worse)
    if not bound.exceeded_by(value):
        return f"within run-to-run noise: {bound.describe()}"
    return ""


def _capacity(
    current: HistoryEntry,
    baseline: HistoryEntry,
    threshold: float | None,
    gate_off: str,
    like: Sequence[HistoryEntry] | None,
) -> Change | None:
    base, cur = baseline.limit_value, current.limit_value
    if (base is None and cur is None) or (current.plan or {}).get("drain"):
        return None  # a drain test has no producer limit (one recorded before it was dropped)
    pct = _pct(base, cur) if base is not None and cur is not None else None
    # a limit gone (below the range, no data) is a drop past any threshold
    dropped = (
        threshold is not None
        and base is not None
        and (cur is None or (pct is not None and -pct > threshold))
    )
    why = (gate_off or _limit_gate(current.limit, baseline.limit)) if dropped else ""
    if dropped and not why and like is not None:
        # measured limits: confirmed ones, and "at least N" where N is no lower than the
        # baseline's (a run that never reached the baseline's range, a quick one up to 6
        # producers beside limits of 24, says nothing of how far they wander)
        limits = [
            float(v)
            for e in like
            if (v := e.limit_value) is not None
            and (
                e.limit.get("status") == "confirmed"
                or (e.limit.get("status") == "not_reached" and v >= (base or 0))
            )
        ]
        why = _noise_gate(float(cur or 0), limits, higher_is_worse=False)
    return Change(
        current.test, "capacity limit", None, base, cur, pct, dropped and not why, why=why
    )


def _latency_gate(
    cur: float, cur_ci: Bounds, base_ci: Bounds, noise: Sequence[float] | None
) -> str:
    """Why a latency growth is not a regression ("" when it is one)."""
    low, high = cur_ci[0], base_ci[1]
    if low is None or high is None:
        return "interval unknown"
    if low <= high:
        return "within noise: intervals overlap"
    return "" if noise is None else _noise_gate(cur, noise, higher_is_worse=True)


def compare(
    current: HistoryEntry,
    baseline: HistoryEntry,
    thresholds: Sequence[Threshold] = (),
    history: Sequence[HistoryEntry] | None = None,
) -> list[Change]:
    """Capacity and latency changes of one test between two runs, with the baseline and
    its differences first. `history` (earlier entries) gives the run-to-run noise of the
    current plan on the baseline's system (`noise_runs`); None judges the two runs alone,
    by their own trials and intervals (the session, `frida compare` and `frida repeat`
    always pass it)."""
    limits = {t.metric: t.percent for t in thresholds}
    changes, gate_off = _context(current, baseline)
    like = None if history is None else noise_runs(history, current, baseline)
    capacity = _capacity(current, baseline, limits.get("capacity"), gate_off, like)
    if capacity is not None:
        changes.append(capacity)
    counts = sorted(
        {s["producers"] for s in current.steps} & {s["producers"] for s in baseline.steps}
    )
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
                noise = (
                    None
                    if like is None
                    else [
                        v
                        for e in like
                        if (v := e.latency_at(producers, f"{metric}_ms")) is not None
                    ]
                )
                why = gate_off or _latency_gate(cur, cur_ci, base_ci, noise)
            changes.append(
                Change(
                    current.test,
                    f"{metric} ms",
                    producers,
                    base,
                    cur,
                    pct,
                    grew and not why,
                    base_ci,
                    cur_ci,
                    why,
                    len(current.measured_steps(producers, f"{metric}_ms")),
                )
            )
    return changes
