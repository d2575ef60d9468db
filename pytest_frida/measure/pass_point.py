"""The producer count at which half of the steps pass, fitted to every judged step.

A confirmed bracket rests on the few steps at its two ends; on a shared host one step's
p99 and the next differ by a factor of two at the same count, so two reruns confirm
brackets several counts apart. Every judged step carries information about where the
pass probability falls, so this fits a logistic curve to all of them:

    P(pass | n producers) = 1 / (1 + exp((n - x50) / s))

by maximum likelihood over a grid, and states the profile-likelihood interval of x50 (the
counts whose best fit is within chi-square(1, confidence) / 2 of the best).

Each verdict is also allowed a small chance (LAPSE, 2%) of being a one-off whatever the
load, so one stray failure far below the knee cannot drag the fit across the range.

The scale s is kept at KNEE_WIDTH (5%) of the first count that mostly fails, and at half
a producer or more. The dozen steps of a search cannot measure how wide the knee is:
separated passes and failures always favour the steepest fall allowed, and an interval
fitted with a floor below the true width is too narrow. The floor is set a little wider
than the width fitted to this host's six quiet runs together (a common scale, one x50 per
run: 1.3 producers at 33, 0.95 to 1.9 within one unit of log-likelihood).

x50 is sought up to BEYOND_KNEES floor widths past the counts measured: failures
confirmed at the highest count a search measured, with passes below it, still bound x50
from above, since a knee wide enough to put x50 far above would have failed some of
those passes. An interval that reaches the end of that range is open, and is said at the
count measured ("above 32"); one that lies wholly outside the counts measured places
nothing, and neither do steps whose passes lie on average no lower than their failures
(a pass rate that does not fall with producers).

How far to trust the interval, from the real search driven against a simulated knee
(`frida bench --search-noise`, 300 searches each): with the knee 1.5%, 4.5% and 9% wide,
the 90% interval held the true x50 in 100%, 96% and 84% of the searches at 33 producers
(the main job's 4:64:5%), and 100%, 97% and 87% at 300 (8:1024:10%); at 33, 1% to 4% of
searches only bound x50. A knee wider than the floor makes the interval too narrow, as
does a state that outlasts a step (a broker's garbage collector, another tenant): it
assumes steps are independent trials. Where the steps cannot place x50 (no pass or no
failure, a pass rate that does not fall with producers, or an interval open at both ends,
as for two counts far apart each with a dissenting step) there is no estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

#: the interval's default confidence
CONFIDENCE = 0.90
#: the finest grid step of x50, in producers, and the most grid points (a search up
#: to thousands of producers gets a coarser grid); the scale grid's lower bound, in
#: producers, and its number of points
_X_STEP = 0.05
_X_POINTS = 2000
_MIN_SCALE = 0.5
#: the narrowest knee fitted, as a fraction of the first count that mostly fails: the few
#: steps of a search cannot tell a sharper knee from this one, and a floor below the true
#: width makes the interval too narrow (`frida bench --search-noise`)
KNEE_WIDTH = 0.05
_SCALES = 60
#: the chance that a step's verdict is a one-off, whatever the load (a stall at 4
#: producers, a quiet spell above the knee): without it one stray failure far below the
#: knee drags the fit's scale wide and its interval across the whole range
LAPSE = 0.02
_LOG_LAPSE = float(np.log(LAPSE))
_LOG_KEEP = float(np.log1p(-2 * LAPSE))
#: how far beyond the counts measured x50 is sought, in knee widths (the narrowest fitted):
#: failures confirmed at the highest count measured, with passes below it, still bound x50
#: from above (a knee wide enough to let x50 lie far above would have failed some of
#: those passes)
BEYOND_KNEES = 10
#: log-likelihood within which grid points count as the same maximum
_FLAT = 1e-3


@dataclass(frozen=True)
class PassPoint:
    """x50 and its interval, in producers (fractions: a point between counts)."""

    estimate: float
    low: float
    high: float
    confidence: float
    steps: int
    #: the interval reaches the end of the range x50 is sought in (BEYOND_KNEES past the
    #: counts measured): the true end may lie further out, and is said at the lowest
    #: (highest) count measured
    low_open: bool
    high_open: bool

    def describe(self) -> str:
        low = f"below {self.low:.0f}" if self.low_open else f"{self.low:.1f}"
        high = f"above {self.high:.0f}" if self.high_open else f"{self.high:.1f}"
        return (
            f"half the steps pass at {self.estimate:.1f} producers ({self.confidence:.0%}"
            f" interval {low} to {high}; a logistic fit of {self.steps} judged steps)"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _profile(
    x50: np.ndarray, scales: np.ndarray, counts: np.ndarray, passes: np.ndarray, fails: np.ndarray
) -> np.ndarray:
    """The best log-likelihood over `scales` of each x50, over every count's passes and
    failures (one scale at a time: the full grid of a wide search is too large)."""
    best = np.full(len(x50), -np.inf)
    for scale in scales:
        z = (counts[None, :] - x50[:, None]) / scale
        # the logistic's log P(pass) = -log(1 + e^z) and log P(fail) = -log(1 + e^-z),
        # each mixed with the lapse: P = LAPSE + (1 - 2 LAPSE) logistic
        log_pass = np.logaddexp(_LOG_LAPSE, _LOG_KEEP - np.logaddexp(0.0, z))
        log_fail = np.logaddexp(_LOG_LAPSE, _LOG_KEEP - np.logaddexp(0.0, -z))
        ll = (passes * log_pass + fails * log_fail).sum(axis=1)
        best = np.maximum(best, ll)
    return best


def narrowest_knee(tally: Sequence[tuple[int, int, int]]) -> float:
    """The least scale fitted to `tally`: KNEE_WIDTH of the first count whose failures
    outnumber its passes (the highest count when none does), and never below half a
    producer, since counts are whole numbers."""
    failing = [n for n, p, f in tally if f > p] or [max(n for n, _, _ in tally)]
    return max(_MIN_SCALE, KNEE_WIDTH * min(failing))


def pass_point(
    tally: Sequence[tuple[int, int, int]], confidence: float = CONFIDENCE
) -> PassPoint | None:
    """x50 from (producers, passes, failures) per judged count, or None where the steps
    cannot place it: no pass, no failure, passes on average no lower than failures,
    an interval open at both ends, or one wholly outside the counts measured."""
    rows = [(n, p, f) for n, p, f in tally if p + f > 0]
    if not rows or not any(p for _, p, _ in rows) or not any(f for _, _, f in rows):
        return None
    counts = np.array([n for n, _, _ in rows], dtype=float)
    passes = np.array([p for _, p, _ in rows], dtype=float)
    fails = np.array([f for _, _, f in rows], dtype=float)
    lowest, highest = float(counts.min()), float(counts.max())
    if lowest == highest:
        return None
    if (counts @ passes) / passes.sum() >= (counts @ fails) / fails.sum():
        return None  # the passes lie no lower than the failures: no fall to fit
    floor = narrowest_knee(rows)
    margin = BEYOND_KNEES * floor
    start, end = max(0.0, lowest - margin), highest + margin
    step = max(_X_STEP, (end - start) / _X_POINTS)
    x50 = np.arange(start, end + step / 2, step)
    scales = np.geomspace(floor, max(floor, highest - lowest), _SCALES)
    profile = _profile(x50, scales, counts, passes, fails)
    best = float(profile.max())
    top = np.flatnonzero(profile >= best - _FLAT)
    estimate = float((x50[top[0]] + x50[top[-1]]) / 2)
    cut = NormalDist().inv_cdf((1 + confidence) / 2) ** 2 / 2
    inside = np.flatnonzero(profile >= best - cut)
    low_open, high_open = inside[0] == 0, inside[-1] == len(x50) - 1
    low, high = float(x50[inside[0]]), float(x50[inside[-1]])
    if (low_open and high_open) or high < lowest or low > highest:
        return None  # nowhere, or only outside the counts measured
    # an open end is said at the count measured, never at the grid's edge, and the
    # estimate goes no further than the counts measured on that side
    low, high = (lowest if low_open else low), (highest if high_open else high)
    estimate = min(max(estimate, low), high)
    return PassPoint(
        estimate=round(estimate, 2),
        low=round(low, 2),
        high=round(high, 2),
        confidence=confidence,
        steps=int(passes.sum() + fails.sum()),
        low_open=bool(low_open),
        high_open=bool(high_open),
    )
