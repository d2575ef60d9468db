"""Latency histograms that merge exactly across processes and hosts.

Percentiles are never averaged: every agent ships its HdrHistogram encoded, and the
controller adds the encodings into one histogram before reading any percentile.
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

#: Values are recorded in microseconds, from 1 us to one hour, with 3 significant digits.
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3


class LatencyHistogram:
    """A microsecond latency histogram with millisecond read-outs."""

    def __init__(self) -> None:
        self._h = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    def record_us(self, value_us: int) -> None:
        """Record one latency; values outside the range are clamped, never dropped."""
        self._h.record_value(min(max(int(value_us), LOWEST_US), HIGHEST_US))

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile_ms(self, percentile: float) -> float | None:
        """The value at `percentile` (0-100) in ms, or None when nothing was recorded."""
        if self.count == 0:
            return None
        return float(self._h.get_value_at_percentile(percentile)) / 1000.0

    def max_ms(self) -> float | None:
        return None if self.count == 0 else float(self._h.get_max_value()) / 1000.0

    def min_ms(self) -> float | None:
        return None if self.count == 0 else float(self._h.get_min_value()) / 1000.0

    def mean_ms(self) -> float | None:
        return None if self.count == 0 else float(self._h.get_mean_value()) / 1000.0

    def encode(self) -> str:
        """A compact text form (base64 of the compressed HdrHistogram)."""
        encoded = self._h.encode()
        return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)

    def add_encoded(self, encoded: str) -> None:
        """Add another histogram's encoding to this one (exact merge)."""
        if encoded:
            self._h.decode_and_add(encoded)

    def add(self, other: LatencyHistogram) -> None:
        self._h.add(other._h)

    @classmethod
    def decode(cls, encoded: str) -> LatencyHistogram:
        hist = cls()
        hist.add_encoded(encoded)
        return hist

    def percentile_curve(self) -> list[tuple[float, float]]:
        """(percentile, ms) points for a percentile plot, from p0 to p99.999 and max."""
        if self.count == 0:
            return []
        points = [0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 99.999]
        curve = [(p, float(self._h.get_value_at_percentile(p)) / 1000.0) for p in points]
        curve.append((100.0, float(self._h.get_max_value()) / 1000.0))
        return curve

    def summary_ms(self) -> dict[str, float | None]:
        """The read-outs the report and the SLOs use."""
        return {
            "p50": self.percentile_ms(50),
            "p90": self.percentile_ms(90),
            "p95": self.percentile_ms(95),
            "p99": self.percentile_ms(99),
            "p99.9": self.percentile_ms(99.9),
            "max": self.max_ms(),
            "mean": self.mean_ms(),
        }
