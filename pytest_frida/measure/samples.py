"""How many measured messages a latency clause needs before it may judge, and how long a
step must run to get them.

The rule: a percentile clause pX needs at least TAIL_SAMPLES messages beyond its
percentile, so n >= TAIL_SAMPLES / (1 - X/100): p50 needs 20, p90 100, p99 1,000 and
p99.9 10,000. With fewer, the value read as "p99" is the largest or second-largest of a
handful and lands anywhere in a wide band (a p99 read from 100 samples lies between the
true p95.4 and p99.6 nine times in ten). `mean` needs MEAN_SAMPLES; `max` is exactly
what was seen and needs one.

A step whose plan would measure fewer is lengthened, up to the plan's `max_duration`; one
that cannot reach the minimum within it runs as planned, and its latency clauses are
withheld (`insufficient`): its count clauses still judge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pytest_frida.measure.slo import Slo

TAIL_SAMPLES = 10
MEAN_SAMPLES = 20


def samples_for(metric: str) -> int:
    """The fewest measured messages that let `metric` judge."""
    if metric == "max":
        return 1
    if metric == "mean":
        return MEAN_SAMPLES
    quantile = float(metric.removeprefix("p")) / 100.0
    return math.ceil(round(TAIL_SAMPLES / (1.0 - quantile), 6))


def required_samples(slo: Slo) -> int:
    """The fewest measured messages every latency clause of `slo` needs (0: none has one)."""
    return max((samples_for(c.metric) for c in slo.latency_clauses), default=0)


@dataclass(frozen=True)
class MeasuredWindow:
    """How long a step measures, and why."""

    duration_s: float
    #: messages the schedule puts in the window, and the fewest the SLO needs
    planned_samples: int
    required_samples: int
    lengthened: bool

    @property
    def enough(self) -> bool:
        return self.planned_samples >= self.required_samples

    def describe(self) -> str:
        if self.lengthened:
            return (
                f"measured window lengthened to {self.duration_s:g}s for"
                f" {self.required_samples} latency samples"
            )
        if not self.enough:
            return (
                f"{self.planned_samples} messages planned in the measured window, the"
                f" SLO's latency clauses need {self.required_samples}"
            )
        return ""


def measured_window(
    slo: Slo, producers: int, rate: float, duration_s: float, max_duration_s: float
) -> MeasuredWindow:
    """The window a step runs: the planned one, lengthened (up to `max_duration_s`) to the
    sample minimum when the planned one falls short."""
    need = required_samples(slo)
    per_second = producers * rate

    def planned(seconds: float) -> int:
        return int(per_second * seconds)

    if planned(duration_s) >= need:
        return MeasuredWindow(duration_s, planned(duration_s), need, False)
    seconds = math.ceil(need / per_second)
    while planned(seconds) < need:  # float rounding in the product above
        seconds += 1
    if seconds <= max_duration_s:
        return MeasuredWindow(float(seconds), planned(seconds), need, True)
    return MeasuredWindow(duration_s, planned(duration_s), need, False)
