"""Finding the capacity limit in few steps: exponential probe, then bisection.

`--frida-search=LO:HI[:TOL]` replaces a fixed sweep: start at LO, double while steps pass
(never beyond HI), then bisect between the last pass and the first failure until they are
within TOL (a count, or a percentage of the last pass). A step that does not judge the
broker (generator- or consumer-bound, error, untrusted clocks) stops the search: it cannot
say which way to go, and the report says where it stopped. A step whose cluster stopped
answering is a failure that also ends the search: nothing after it can be measured.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


class CapacitySearch:
    """Tells which producer count to try next, given the verdicts so far."""

    def __init__(self, spec: SearchSpec) -> None:
        self.spec = spec
        self.last_pass: int | None = None
        self.first_fail: int | None = None
        self.stopped: str | None = None
        self._next: int | None = spec.low

    def next_count(self) -> int | None:
        """The next count to run, or None when the search is over."""
        return None if self.stopped else self._next

    def record(self, producers: int, verdict: str, cluster_down: bool = False) -> None:
        """Feed back the verdict of the step run at `producers`."""
        if verdict not in DECIDING:
            self.stopped = f"step at {producers} producers was {verdict}: cannot decide"
            return
        if verdict == "pass":
            self.last_pass = max(self.last_pass or 0, producers)
        else:
            self.first_fail = min(self.first_fail or producers, producers)
        if cluster_down:
            self.stopped = (f"the cluster stopped answering at {producers} producers:"
                            f" passes at {self.last_pass or 'no count'}, fails at {producers}")
            return
        self._next = self._choose()

    def _choose(self) -> int | None:
        lo, hi = self.last_pass, self.first_fail
        if hi is None:  # still probing upwards
            assert lo is not None
            if lo >= self.spec.high:
                self.stopped = f"not reached: passes at the upper bound {self.spec.high}"
                return None
            return min(self.spec.high, lo * 2)
        if lo is None:
            self.stopped = f"below range: fails at the lower bound {hi}"
            return None
        if self.spec.close_enough(lo, hi):
            self.stopped = f"bracketed within tolerance {self.spec}: passes at {lo}, fails at {hi}"
            return None
        return (lo + hi) // 2
