"""Confidence intervals of latency percentiles, with no assumption about the distribution.

A measured p99 moves from run to run even when nothing changed; a gate that fails on any
growth fails on noise. Order statistics say how far: the number of samples at or below the
true q-quantile is Binomial(n, q), so the values at ranks nq -/+ z*sqrt(nq(1-q)) (the upper
one moved up by one) bracket the true quantile with the chosen confidence, whatever the
latencies' distribution. Where a rank falls outside the samples the bound is None: the data
cannot say (100 samples cannot bound a p99 from above), and no number is made up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from pytest_frida.measure.histogram import LatencyHistogram

CONFIDENCE = 0.95


@dataclass(frozen=True)
class PercentileInterval:
    """A percentile read from `samples` values and where its true value lies."""

    percentile: float
    value: float | None
    low: float | None
    high: float | None
    samples: int
    confidence: float = CONFIDENCE

    def as_list(self) -> list[float | None]:
        return [self.low, self.high]


def rank_bounds(
    samples: int, quantile: float, confidence: float = CONFIDENCE
) -> tuple[int | None, int | None]:
    """1-based ranks of the order statistics bounding the `quantile` (0..1); a rank below 1
    or above `samples` is None."""
    if samples <= 0:
        return None, None
    if not 0.0 <= quantile <= 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(
            f"quantile {quantile} must be in [0, 1], confidence {confidence} in (0, 1)"
        )
    z = NormalDist().inv_cdf((1.0 + confidence) / 2.0)
    centre = samples * quantile
    spread = z * math.sqrt(centre * (1.0 - quantile))
    low = math.floor(centre - spread + 1e-9)
    high = math.ceil(centre + spread - 1e-9) + 1
    return (low if 1 <= low <= samples else None, high if 1 <= high <= samples else None)


def percentile_interval(
    hist: LatencyHistogram, percentile: float, confidence: float = CONFIDENCE
) -> PercentileInterval:
    """`percentile` (0-100) of `hist` with its interval; bounds widened to whole histogram
    buckets, so the 3-significant-digit recording never narrows it."""
    samples = hist.count
    low_rank, high_rank = rank_bounds(samples, percentile / 100.0, confidence)
    low = hist.value_at_rank_ms(low_rank, lowest=True) if low_rank is not None else None
    high = hist.value_at_rank_ms(high_rank) if high_rank is not None else None
    return PercentileInterval(
        percentile, hist.percentile_ms(percentile), low, high, samples, confidence
    )


def latency_intervals(
    encoded: str, percentiles: dict[str, float], confidence: float = CONFIDENCE
) -> dict[str, PercentileInterval]:
    """Intervals by name (e.g. {"p99": 99.0}) from an encoded histogram, as a step stores
    it in `StepResult.histograms`."""
    hist = LatencyHistogram.decode(encoded)
    return {name: percentile_interval(hist, p, confidence) for name, p in percentiles.items()}
