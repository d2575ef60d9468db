"""A drain step's figures: how fast its consumers read the backlog the producers left.

In a drain step (StepPlan.drain) the producers send their whole schedule while the
consumers read nothing; then the consumers read it all. The rate is messages read over the
time from the drain command to the last message read (a consumer's active drain), overall
and per consumer, so a stall at the end (waiting for messages that never come) does not
dilute it. It measures the consumer side: this harness's consumer agents, with their
client and accounting, reading from this cluster. Consumers whose loop was saturated set
the rate themselves; consumers with slack were fed no faster by their fetches (broker,
network, client settings): only then may the rate say something of the cluster, and even
then it names no single cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pytest_frida.measure.verdict import SATURATED


@dataclass(frozen=True)
class ConsumerDrain:
    """One consumer's drain."""

    name: str
    #: messages read in the drain, and seconds from the drain command to the last of them
    messages: int
    seconds: float
    #: share of the drain its loop was working or kept from a CPU (workload.consumer_effort)
    busy: float
    #: complete, stalled or cap
    stop: str

    @property
    def rate(self) -> float | None:
        return self.messages / self.seconds if self.seconds > 0 else None


def _rate(messages: int, seconds: float) -> float | None:
    return round(messages / seconds, 1) if seconds > 0 else None


def merge_lag_series(series: Sequence[Sequence[Sequence[float | None]]]) -> list[list[Any]]:
    """Several consumers' [seconds since the start, messages, time ms] samples as one row
    per whole second any of them sampled: each consumer's latest sample in that second or
    the one before, messages summed, time lag the largest (None where none had one).
    Samples about a second apart miss a second now and then: the one before stands in, so
    the sum does not drop a consumer; a consumer with none in either has stopped sampling
    (its drain ended) and counts no more."""
    per_second: list[dict[int, tuple[float, float | None]]] = []
    for rows in series:
        latest: dict[int, tuple[float, float | None]] = {}
        for t, msgs, time_ms in rows:
            if t is not None and msgs is not None:
                latest[int(t)] = (float(msgs), time_ms)
        per_second.append(latest)
    seconds = sorted({s for latest in per_second for s in latest})
    out: list[list[Any]] = []
    for second in seconds:
        now = [
            latest[max(s for s in latest if second - 1 <= s <= second)]
            for latest in per_second
            if any(second - 1 <= s <= second for s in latest)
        ]
        times = [t for _, t in now if t is not None]
        out.append([second, int(sum(m for m, _ in now)), max(times) if times else None])
    return out


def drain_figures(
    consumers: Sequence[ConsumerDrain], backlog: int, lag_series: list[list[Any]]
) -> dict[str, Any]:
    """The step's drain: overall and per-consumer rate, time to drain, whether the
    consumers set the rate, and the lag over the step, with what it measures in words."""
    messages = sum(c.messages for c in consumers)
    seconds = max((c.seconds for c in consumers), default=0.0)
    busiest = max((c.busy for c in consumers), default=0.0)
    saturated = [c.name for c in consumers if c.busy >= SATURATED]
    complete = bool(consumers) and all(c.stop == "complete" for c in consumers)
    rate = _rate(messages, seconds)
    if saturated:
        bound = (
            f"consumer-bound: {', '.join(saturated)} saturated (busy >= {SATURATED:.0%}),"
            " so the rate is these consumers' limit, not the cluster's"
        )
    else:
        bound = (
            f"the consumers had slack (busiest {busiest:.0%}): their fetches fed them no"
            " faster (broker, network or client settings; not told apart here)"
        )
    return {
        "consumers": len(consumers),
        "backlog": backlog,
        "messages": messages,
        "seconds": round(seconds, 3),
        "rate": rate,
        "rate_per_consumer": None if rate is None else round(rate / len(consumers), 1),
        "complete": complete,
        "consumer_bound": bool(saturated),
        "bound": bound,
        "measures": _measures(len(consumers)),
        "per_consumer": [
            {**asdict(c), "rate": None if c.rate is None else round(c.rate, 1)} for c in consumers
        ],
        "lag_series": lag_series,
    }


def _measures(consumers: int) -> str:
    return (
        f"consumer-side capacity: how fast {consumers} consumer agent(s) of this harness"
        " read a backlog from this cluster"
    )


def unmeasured_drain(consumers: int, backlog: int, detail: str) -> dict[str, Any]:
    """A drain step whose drain could not be measured, and why."""
    return {
        "consumers": consumers,
        "backlog": backlog,
        "rate": None,
        "detail": detail,
        "measures": _measures(consumers),
    }


def describe(drain: dict[str, Any]) -> str:
    """One line for the summary: count, messages, time, rate overall and per consumer."""
    if drain.get("detail"):
        return f"drain: {drain.get('consumers')} consumer(s): {drain['detail']}"
    if drain.get("rate") is None:
        return f"drain: {drain.get('consumers')} consumer(s) read nothing"
    done = "" if drain.get("complete") else " (incomplete)"
    return (
        f"drain: {drain['consumers']} consumer(s) read {drain['messages']} msgs in"
        f" {drain['seconds']:g}s{done}: {drain['rate']:g} msg/s"
        f" ({drain['rate_per_consumer']:g} per consumer); {drain['bound']}"
    )
