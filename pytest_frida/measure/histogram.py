"""Latency histograms that merge exactly across processes and hosts.

Percentiles are never averaged: every agent ships its HdrHistogram encoded, and the
controller adds the encodings into one histogram before reading any percentile.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Sequence

import numpy as np
from hdrh.histogram import HdrHistogram

#: Values are recorded in microseconds, from 1 us to one hour, with 3 significant digits.
LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
_SUB_BUCKET_BITS = 11  # 2 * 10**3 rounded up to a power of two = 2048 = 2**11


class LatencyHistogram:
    """A microsecond latency histogram with millisecond read-outs."""

    def __init__(self) -> None:
        self._h = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)

    def record_us(self, value_us: int) -> None:
        """Record one latency; values outside the range are clamped, never dropped."""
        self._h.record_value(min(max(int(value_us), LOWEST_US), HIGHEST_US))

    def record_batch_us(self, values: Sequence[int] | np.ndarray) -> None:
        """Record many latencies at once: far cheaper than one call per value.

        Values are first rounded down to the lower end of their HdrHistogram bucket (2048
        sub-buckets for 3 significant digits), which lands them in the same bucket, then
        counted, so the histogram sees one call per distinct bucket.
        """
        arr = np.clip(np.asarray(values, dtype=np.int64), LOWEST_US, HIGHEST_US)
        if arr.size == 0:
            return
        bits = np.floor(np.log2(arr)).astype(np.int64) + 1
        shift = np.maximum(bits - _SUB_BUCKET_BITS, 0)
        arr = (arr >> shift) << shift
        uniq, counts = np.unique(arr, return_counts=True)
        for value, count in zip(uniq.tolist(), counts.tolist(), strict=True):
            self._h.record_value(value, count)

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def _buckets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(count, highest value, middle value) of every non-empty bucket, lowest first.

        Computed from the counts array in one vectorised pass, with HdrHistogram's own
        index arithmetic: hdrh's Python iterators walk all 23,552 buckets once per
        percentile, which cost 0.75 s of every step's read-out.
        """
        h = self._h
        counts = np.ctypeslib.as_array(h.counts)[: h.counts_len]
        index = np.flatnonzero(counts)
        half, half_bits = h.sub_bucket_half_count, h.sub_bucket_half_count_magnitude
        bucket = (index >> half_bits) - 1
        sub_bucket = (index & (half - 1)) + half
        first = bucket < 0  # the first bucket also holds the lower half of the sub-buckets
        sub_bucket = np.where(first, sub_bucket - half, sub_bucket)
        bucket = np.where(first, 0, bucket)
        lowest = sub_bucket.astype(np.int64) << (bucket + h.unit_magnitude)
        width = np.int64(1) << (bucket + h.unit_magnitude)
        return counts[index].astype(np.int64), lowest + width - 1, lowest + (width >> 1)

    def percentile_ms(self, percentile: float) -> float | None:
        """The value at `percentile` (0-100) in ms, or None when nothing was recorded.

        Nearest rank, ceil(p/100 * n): at least p% of the values are at or below the
        answer. (hdrh rounds the rank half up, which at small counts reports a lower p99
        than the data has; an SLO check must not be flattered that way.)
        """
        total = self.count
        if total == 0:
            return None
        rank = max(1, math.ceil(percentile / 100.0 * total - 1e-9))
        counts, highest, _ = self._buckets()
        at = int(np.searchsorted(np.cumsum(counts), rank))
        if at >= len(counts):
            return self.max_ms()
        return float(min(int(highest[at]), self._h.get_max_value())) / 1000.0

    def value_at_rank_ms(self, rank: int, lowest: bool = False) -> float | None:
        """The `rank`-th smallest value (1-based) in ms; None outside 1..count.

        The top of its bucket, as `percentile_ms` reports it (percentile_ms(p) is the value
        at rank ceil(p/100 * count)); with `lowest`, the bottom of the bucket, so that
        [lowest at r1, top at r2] holds the r1-th to r2-th recorded values despite the 3
        significant digits.
        """
        total = self.count
        if not 1 <= rank <= total:
            return None
        counts, highest, _ = self._buckets()
        at = int(np.searchsorted(np.cumsum(counts), rank))
        top = int(highest[min(at, len(counts) - 1)])
        if lowest:
            value = max(int(self._h.get_lowest_equivalent_value(top)), self._h.get_min_value())
        else:
            value = min(top, self._h.get_max_value())
        return float(value) / 1000.0

    def max_ms(self) -> float | None:
        return None if self.count == 0 else float(self._h.get_max_value()) / 1000.0

    def min_ms(self) -> float | None:
        return None if self.count == 0 else float(self._h.get_min_value()) / 1000.0

    def mean_ms(self) -> float | None:
        """The mean of the buckets' middle values, as HdrHistogram defines it."""
        if self.count == 0:
            return None
        counts, _, middle = self._buckets()
        total = sum(map(operator.mul, counts.tolist(), middle.tolist()))  # no int64 overflow
        return float(total / self.count) / 1000.0

    def encode(self) -> str:
        """A compact text form (base64 of the compressed HdrHistogram)."""
        encoded = self._h.encode()
        return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)

    def add_encoded(self, encoded: str) -> None:
        """Add another histogram's encoding to this one (exact merge).

        Empty histograms are skipped: hdrh would take their zero minimum as a value.
        """
        if encoded:
            other = HdrHistogram.decode(encoded)
            if other.get_total_count() > 0:
                self._h.add(other)

    def add(self, other: LatencyHistogram) -> None:
        """Add `other` into this one (an empty one is skipped, as in `add_encoded`)."""
        if other.count:
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
        curve = [(p, self.percentile_ms(p) or 0.0) for p in points]
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


class BufferedRecorder:
    """Latencies (us) appended to an array in the hot loop and folded into a histogram in
    bulk (`record_batch_us`), so measuring costs an append per message."""

    def __init__(self, limit: int = 1_000_000) -> None:
        self.hist = LatencyHistogram()
        self._buf = array("q")
        self._limit = limit

    def add(self, value_us: int) -> None:
        self._buf.append(value_us)
        if len(self._buf) >= self._limit:
            self.fold()

    def fold(self) -> LatencyHistogram:
        """Move buffered values into the histogram and return it."""
        if self._buf:
            self.hist.record_batch_us(self._buf)
            self._buf = array("q")
        return self.hist
