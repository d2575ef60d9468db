"""Open-model send schedules: every message has an intended send time fixed in advance.

Producer `i` of `n` sends message `k` at t0 + (i / n + k) / rate: producers are spread
evenly over one period so the broker sees a steady stream instead of synchronised bursts,
and a late send never shifts the ones after it (no coordinated omission).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass

NS = 1_000_000_000
#: a producer still this far behind when its window has ended stops: what it has not sent
#: by then is never sent (and counts at the delay it had reached)
LATE_LIMIT_S = 1.0


@dataclass(frozen=True)
class Window:
    """Where a step's sends start, where measuring starts, and where both end (ns)."""

    t0_ns: int
    measure_start_ns: int
    end_ns: int

    @classmethod
    def of(cls, t0_ns: int, warmup_s: float, duration_s: float) -> Window:
        start = t0_ns + round(warmup_s * NS)
        return cls(t0_ns, start, start + round(duration_s * NS))

    def measured(self, t_ns: int) -> bool:
        return self.measure_start_ns <= t_ns < self.end_ns


@dataclass(frozen=True)
class Schedule:
    rate: float  # messages per second, per producer
    total_producers: int
    window: Window

    def intended_ns(self, producer: int, seq: int) -> int:
        return self.window.t0_ns + round((producer / self.total_producers + seq) * NS / self.rate)

    def messages_per_producer(self, producer: int) -> int:
        """How many of this producer's (rounded) intended times fall before the window ends."""
        span = (self.window.end_ns - self.window.t0_ns) * self.rate / NS
        count = max(0, math.ceil(span - producer / self.total_producers))
        # the estimate can be off by one where rounding to whole ns crosses the end
        while count > 0 and self.intended_ns(producer, count - 1) >= self.window.end_ns:
            count -= 1
        while self.intended_ns(producer, count) < self.window.end_ns:
            count += 1
        return count

    def merged(self, producers: range) -> Iterator[tuple[int, int, int]]:
        """(intended_ns, producer, seq) for `producers`, in time order."""
        heap = [
            (self.intended_ns(p, 0), p, 0) for p in producers if self.messages_per_producer(p) > 0
        ]
        heapq.heapify(heap)
        limits = {p: self.messages_per_producer(p) for p in producers}
        while heap:
            t, p, k = heap[0]
            yield t, p, k
            if k + 1 < limits[p]:
                heapq.heapreplace(heap, (self.intended_ns(p, k + 1), p, k + 1))
            else:
                heapq.heappop(heap)
