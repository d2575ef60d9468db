"""Clock offsets of agent hosts against the controller, and whether latencies can be trusted.

End-to-end latency is a receive time on the consumer's host minus an intended send time on
a producer's host: any offset between their clocks lands in the latency. Before and after
each step the controller exchanges pings with a clock agent on every host:

    t1 controller sends, t2 = t3 the agent stamps, t4 controller receives
    offset = ((t2 - t1) + (t3 - t4)) / 2,  uncertainty = (t4 - t1) / 2

keeping the sample with the smallest round trip. A consumer on host C measuring a producer
on host P sees latency + (offset_C - offset_P); with correction that difference is
subtracted, and what remains uncertain is the two uncertainties plus how far each offset
drifted during the step. A step whose clock error is too large a share of the SLO's latency
bound is `clock_untrusted`: reported, but neither passed nor failed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: a step's latency verdict is trusted while its clock error stays under this share of the
#: SLO's tightest latency bound
TRUST_SHARE = 0.10
PINGS = 15


@dataclass(frozen=True)
class ClockOffset:
    """One host's clock against the controller's, in ms (positive: the host is ahead)."""

    host: str
    offset_ms: float
    uncertainty_ms: float
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def offset_from_samples(host: str, samples: Sequence[tuple[int, int, int]]) -> ClockOffset:
    """From (t1, t_agent, t4) triples in ns: the offset of the sample with the smallest
    round trip, and half that round trip as the uncertainty."""
    if not samples:
        raise ValueError(f"no clock samples from {host}")
    t1, t_agent, t4 = min(samples, key=lambda s: s[2] - s[0])
    offset_ns = ((t_agent - t1) + (t_agent - t4)) / 2
    return ClockOffset(host, offset_ns / 1e6, (t4 - t1) / 2e6, len(samples))


def probe(host: str, ping: Any, pings: int = PINGS) -> ClockOffset:
    """Measure one host through `ping(i) -> agent time in ns` (a clock agent's round trip)."""
    samples = []
    for i in range(pings):
        t1 = time.time_ns()
        t_agent = ping(i)
        t4 = time.time_ns()
        samples.append((t1, t_agent, t4))
    return offset_from_samples(host, samples)


@dataclass(frozen=True)
class ClockJudgement:
    """The worst clock error between the consumer and any producer host, and what it means."""

    error_ms: float
    bound_ms: float | None
    corrected: bool
    trusted: bool
    detail: str


def judge(
    consumer_host: str,
    producer_hosts: Sequence[str],
    before: Mapping[str, ClockOffset],
    after: Mapping[str, ClockOffset],
    corrected: bool,
    latency_bound_ms: float | None,
) -> ClockJudgement:
    """How wrong a cross-host latency can be, against TRUST_SHARE of the latency bound."""

    def err(host: str) -> tuple[float, str]:
        c0, p0 = before[consumer_host], before[host]
        c1, p1 = after.get(consumer_host, c0), after.get(host, p0)
        skew = 0.0 if corrected else abs(c0.offset_ms - p0.offset_ms)
        drift = abs((c1.offset_ms - p1.offset_ms) - (c0.offset_ms - p0.offset_ms))
        unc = max(c0.uncertainty_ms, c1.uncertainty_ms) + max(p0.uncertainty_ms, p1.uncertainty_ms)
        return skew + drift + unc, (
            f"{host} vs {consumer_host}: offset"
            f" {p0.offset_ms - c0.offset_ms:+.1f}ms"
            f"{' (corrected)' if corrected else ''}, drift"
            f" {drift:.1f}ms, uncertainty {unc:.1f}ms"
        )

    others = [h for h in producer_hosts if h != consumer_host] or list(producer_hosts)
    worst, detail = max((err(h) for h in others), key=lambda e: e[0], default=(0.0, ""))
    trusted = latency_bound_ms is None or worst <= TRUST_SHARE * latency_bound_ms
    return ClockJudgement(round(worst, 3), latency_bound_ms, corrected, trusted, detail)
