"""Finding the capacity limit in few steps: exponential probe, then bisection.

`--frida-search=LO:HI[:TOL]` (or a marker's `search=`) replaces a fixed sweep: start at LO,
double while steps pass (never beyond HI), then bisect between the last pass and the first
failure until they are within TOL (a count, or a percentage of the last pass), and measure
both ends again until each is confirmed (measure.trials). A step the harness could not
drive (generator- or consumer-bound) decides nothing about the broker, but no larger
count would fare better: it becomes the search's ceiling, and the search goes on below
it, stopping with "at least" the last pass when the ceiling is within tolerance of it.
Any other step that does not judge the broker (error, untrusted clocks) stops the
search: it cannot say which way to go, and the report says where it stopped. A step
whose cluster stopped answering is a failure that also ends the search: nothing after it
can be measured.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pytest_frida.measure.trials import MOST_TRIALS, Trials
from pytest_frida.measure.verdict import DECIDING

_SPEC = re.compile(r"^(?P<lo>\d+):(?P<hi>\d+)(?::(?P<tol>\d+(?:\.\d+)?)(?P<pct>%)?)?$")
DEFAULT_TOLERANCE = "10%"


class SearchSpecError(ValueError):
    pass


@dataclass(frozen=True)
class SearchSpec:
    low: int
    high: int
    tolerance: float
    relative: bool

    def __str__(self) -> str:
        tol = f"{self.tolerance:g}%" if self.relative else f"{self.tolerance:g}"
        return f"{self.low}:{self.high}:{tol}"

    def close_enough(self, last_pass: int, first_fail: int) -> bool:
        gap = first_fail - last_pass
        if gap <= 1:
            return True
        if self.relative:
            return gap <= max(1.0, last_pass * self.tolerance / 100.0)
        return gap <= self.tolerance


def parse_search(text: str) -> SearchSpec:
    """'1:2000' or '1:2000:10%' or '10:500:5' (an absolute tolerance in producers)."""
    m = _SPEC.match(text.strip())
    if m is None:
        raise SearchSpecError(f"{text!r} is not LOW:HIGH[:TOLERANCE], e.g. 1:2000:10%")
    low, high = int(m["lo"]), int(m["hi"])
    if not 1 <= low < high:
        raise SearchSpecError(f"{text!r}: expected 1 <= LOW < HIGH")
    tol = float(m["tol"]) if m["tol"] else float(DEFAULT_TOLERANCE.rstrip("%"))
    relative = bool(m["pct"]) or not m["tol"]
    if tol <= 0 or (relative and tol >= 100):
        raise SearchSpecError(f"{text!r}: tolerance must be > 0 (and below 100%)")
    return SearchSpec(low, high, tol, relative)


#: a search runs at most this many times the steps a noiseless one needs: a bracket that
#: keeps moving after that is noise
STEP_BUDGET_FACTOR = 2
#: verdicts of a step the harness could not drive: larger counts cannot be driven either
HARNESS_BOUND = ("generator_bound", "consumer_bound")


class CapacitySearch:
    """Tells which producer count to try next, given the verdicts so far.

    Bisection finds a bracket within tolerance from one trial per count; then both its
    ends are measured again until each is confirmed (measure.trials: best two of three).
    A confirmation that overturns an end moves the bracket and the bisection resumes. A
    step that cannot decide while probing upwards for too few samples (`insufficient`)
    moves the probe up; any other undecided step stops the search: it cannot say which
    way to go.
    """

    def __init__(self, spec: SearchSpec) -> None:
        self.spec = spec
        self.trials = Trials()
        self.steps = 0
        # probing (doubling), bisecting the last doubling, two trials at each end
        ideal = 2 * math.ceil(math.log2(spec.high / spec.low)) + 4
        self.budget = STEP_BUDGET_FACTOR * ideal
        self.stopped: str | None = None
        self._next: int | None = spec.low
        #: the fewest producers the harness could not drive (HARNESS_BOUND), if any
        self.ceiling: int | None = None

    @property
    def last_pass(self) -> int | None:
        return self.trials.bracket()[0]

    @property
    def first_fail(self) -> int | None:
        return self.trials.bracket()[1]

    def next_count(self) -> int | None:
        """The next count to run, or None when the search is over."""
        return None if self.stopped else self._next

    def record(
        self, producers: int, verdict: str, cluster_down: bool = False, definitive: bool = False
    ) -> None:
        """Feed back the verdict of the step run at `producers` (`definitive`: a failure
        that lost messages, which no pass outvotes)."""
        self.steps += 1
        if verdict not in DECIDING:
            if verdict == "insufficient" and not self.trials.by_count:
                if producers >= self.spec.high:
                    self.stopped = (
                        f"no count up to {self.spec.high} measured enough"
                        " messages for the SLO's percentiles"
                    )
                    return
                self._next = min(self.spec.high, producers * 2)
                return
            if verdict in HARNESS_BOUND:
                self.ceiling = min(self.ceiling or producers, producers)
                if self.steps >= self.budget:
                    self.stopped = f"noisy: no confirmed bracket after {self.steps} steps"
                    return
                if not self.trials.by_count:
                    self.stopped = (
                        f"the harness could not drive {self.ceiling} producers, the lowest"
                        " count measured: nothing decided about the broker"
                    )
                    return
                self._next = self._below_ceiling(self._choose())
                return
            self.stopped = f"step at {producers} producers was {verdict}: cannot decide"
            return
        self.trials.record(producers, verdict, definitive or cluster_down)
        if cluster_down:
            self.stopped = (
                f"the cluster stopped answering at {producers} producers:"
                f" passes at {self.last_pass or 'no count'}, fails at {producers}"
            )
            return
        if self.steps >= self.budget:
            self.stopped = f"noisy: no confirmed bracket after {self.steps} steps"
            return
        self._next = self._below_ceiling(self._choose())

    def _below_ceiling(self, count: int | None) -> int | None:
        """`count`, or where to go instead when the harness cannot drive it: halfway from
        the last pass to the ceiling, or nowhere once those are within tolerance."""
        if count is None or self.ceiling is None or count < self.ceiling:
            return count
        lo = self.last_pass
        if lo is None:  # failures only, all below the ceiling: _choose never goes up
            return None
        if self.ceiling - lo <= 1 or self.spec.close_enough(lo, self.ceiling):
            if not self.trials.settled(lo):  # "at least" is a claim too
                return lo
            self.stopped = (
                f"harness-bound: passes at {self.trials.describe(lo)}, and the harness could"
                f" not drive {self.ceiling} producers: the broker holds at least {lo}"
            )
            return None
        return (lo + self.ceiling) // 2

    def _choose(self) -> int | None:
        trials = self.trials
        tied = trials.tied()
        if tied:  # a split count gets its deciding trial first
            return tied[0]
        lo, hi = trials.bracket()
        if hi is None:  # still probing upwards
            assert lo is not None
            if lo >= self.spec.high:
                if not trials.settled(lo):  # "at least HIGH" is a claim too
                    return lo
                self.stopped = f"not reached: passes at the upper bound {self.spec.high}"
                return None
            return min(self.spec.high, lo * 2)
        if lo is None:
            if not trials.settled(hi):
                return hi
            self.stopped = f"below range: fails at the lower bound {hi}"
            return None
        if not self.spec.close_enough(lo, hi):
            return (lo + hi) // 2
        for end in (lo, hi):
            if not trials.settled(end):
                return end
        if not (trials.confirmed(lo) and trials.confirmed(hi)):
            self.stopped = f"noisy: {trials.describe(lo)} and {trials.describe(hi)} did not confirm"
            return None
        for above in trials.contradictions():  # a pass above the bracket: one-off?
            if not trials.settled(above):
                return above
        spread = trials.spread()
        if spread is not None:
            self.stopped = f"noisy: fails at {spread[0]} yet passes at {spread[1]}"
            return None
        self.stopped = (
            f"confirmed within tolerance {self.spec}: passes at"
            f" {trials.describe(lo)}, fails at {trials.describe(hi)}"
        )
        return None


def knee_next(trials: Trials, attempts: Mapping[int, int], current: int) -> int | None:
    """The count a fixed sweep measures again after its step at `current`, or None.

    A sweep confirms what its limit rests on, as a search does: a tied count first, then a
    failure at `current`, then (once the first failure is confirmed) any pass above it and
    the last pass below it. No count runs more than MOST_TRIALS steps, whatever they
    decided.
    """

    def open_(n: int) -> bool:
        return not trials.settled(n) and attempts.get(n, 0) < MOST_TRIALS

    for n in trials.tied():
        if open_(n):
            return n
    if trials.verdict(current) == "fail" and open_(current):
        return current
    last_pass, first_fail = trials.bracket()
    if first_fail is not None and trials.confirmed(first_fail):
        for n in trials.contradictions():
            if open_(n):
                return n
        if last_pass is not None and open_(last_pass):
            return last_pass
    return None
