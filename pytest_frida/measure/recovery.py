"""Recovery after a fault, from the step's per-second delivery timeline.

The consumer buckets every message by the second of its *intended* send time (relative to
the step's start) and keeps the count and the worst latency of each second. After a fault,
the step has recovered at the first second from which every later second's worst latency
is back within a bound: the SLO's tightest latency threshold, or, with no latency clause,
twice the worst latency seen before the fault (at least 10 ms). Seconds with no message at
all (nothing got through) count as bad.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_frida.measure.slo import Slo

#: one second of the timeline: (second since the step's start, messages, worst latency us),
#: and any further figures of that second (the latency sum), which recovery does not use
Second = Sequence[int]
MIN_BOUND_MS = 10.0


def latency_bound_ms(slo: Slo, timeline: Sequence[Second], before_s: float) -> float:
    """What "recovered" means for this step (see the module docstring)."""
    if slo.latency_bound_ms is not None:
        return slo.latency_bound_ms
    before = [s[2] for s in timeline if s[0] < before_s and s[1]]
    return max(MIN_BOUND_MS, 2 * max(before, default=0) / 1000.0)


def recovered_after_s(
    timeline: Sequence[Second], at_s: float, bound_ms: float, end_s: float
) -> float | None:
    """Seconds from `at_s` until latency is back within `bound_ms` for good, or None when
    the step ended before that."""
    seconds = {s[0]: (s[1], s[2]) for s in timeline}
    first = int(at_s)
    last = int(end_s) - 1
    if last < first:
        return None
    good_from: int | None = None
    for sec in range(last, first - 1, -1):  # walk back from the end while seconds are good
        count, worst = seconds.get(sec, (0, 0))
        if count == 0 or worst / 1000.0 > bound_ms:
            break
        good_from = sec
    if good_from is None:
        return None
    return max(0.0, good_from - at_s)
