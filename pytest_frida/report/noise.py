"""How far identical runs wander: the bound a new identical run stays within.

A gate that fails whenever a value is beyond everything k earlier identical runs measured
fails by chance once in k + 1 comparisons (the new run is as likely as any other to be the
most extreme), which on a shared machine is one CI build in four. So the between-run rule
asks for a value beyond a one-sided 99% prediction bound of the earlier like runs, taken on
a log scale: run-to-run spread on these machines is a factor, not an offset (a p99 of 11 ms
and one of 32 ms from identical runs), and a log-normal spread keeps bounds positive. With
k runs of log-mean m and standard deviation s, a new run's log value exceeds
m + t(0.99, k-1) * s * sqrt(1 + 1/k) one time in a hundred (Student's t). Few runs give a
wide bound (t = 6.96 with three), which is the honest answer to "how noisy is this".

The spread is floored at MIN_SPREAD: three identical limits (a search's grid makes that
common) do not show that a fourth run cannot differ by one grid step.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: one-sided 99% quantiles of Student's t, by degrees of freedom (runs - 1)
T99 = {
    1: 31.821,
    2: 6.965,
    3: 4.541,
    4: 3.747,
    5: 3.365,
    6: 3.143,
    7: 2.998,
    8: 2.896,
    9: 2.821,
    10: 2.764,
    11: 2.718,
    12: 2.681,
    13: 2.650,
    14: 2.624,
    15: 2.602,
}
#: the smallest log-scale standard deviation assumed between identical runs (5%)
MIN_SPREAD = math.log(1.05)
#: a value is never taken as smaller than this (a log needs it positive)
FLOOR_VALUE = 1e-3


@dataclass(frozen=True)
class NoiseBound:
    """What earlier like runs say a new identical run may measure."""

    runs: int
    #: the worst value any of them measured
    extreme: float
    #: the 99% one-sided prediction bound for one more identical run
    bound: float
    higher_is_worse: bool

    def exceeded_by(self, value: float) -> bool:
        """Whether `value` is beyond the bound (which, up to ten runs, always lies beyond
        every earlier run: their largest is at most (k-1)/sqrt(k) deviations out)."""
        return value > self.bound if self.higher_is_worse else value < self.bound

    def describe(self) -> str:
        side = "up to" if self.higher_is_worse else "down to"
        return (
            f"{self.runs} earlier like runs measured {side} {self.extreme:g}; a 99%"
            f" prediction bound for one more is {self.bound:.4g}"
        )


def prediction_bound(values: Sequence[float], higher_is_worse: bool) -> NoiseBound:
    """The bound from at least two earlier like runs' values of one figure."""
    values = [v for v in values if math.isfinite(v)]
    if len(values) < 2:
        raise ValueError(f"a prediction bound needs two or more runs, got {len(values)}")
    logs = [math.log(max(v, FLOOR_VALUE)) for v in values]
    spread = max(statistics.stdev(logs), MIN_SPREAD)
    t = T99[min(len(values) - 1, max(T99))]
    reach = t * spread * math.sqrt(1 + 1 / len(values))
    centre = statistics.fmean(logs)
    bound = math.exp(centre + reach if higher_is_worse else centre - reach)
    extreme = max(values) if higher_is_worse else min(values)
    return NoiseBound(len(values), extreme, bound, higher_is_worse)
