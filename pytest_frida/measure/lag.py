"""The step's lag from its consumers' figures: the values `lag` and `lag_msgs` clauses are
judged against (measure.slo defines both), or why they are unknown.

Each consumer samples its own lag (workload.consumer_lag). The step's lag in time is the
largest any consumer sampled; in messages, the sum of each consumer's largest sample (their
samples are not simultaneous: the sum bounds the group's lag at any sampled instant). A
consumer without a sample at the window's end, or without a lag in time (an agent older
than it), leaves that figure unknown: a lag no one measured is never read as none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ConsumerLag:
    """What one consumer sampled of its lag over the measured window and at its end."""

    name: str
    #: samples inside the window or at its end, and whether one was taken at its end
    samples: int
    end_sampled: bool
    #: lag queries the broker did not answer, over the agent's life
    failed: int
    #: the largest lag in messages, and in time (ms; None: not measured)
    max_msgs: int
    max_time_ms: float | None


@dataclass(frozen=True)
class StepLag:
    """The step's lag, in time (ms) and in messages; None where unknown, and why."""

    time_ms: float | None
    msgs: int | None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"time_ms": self.time_ms, "msgs": self.msgs, "detail": self.detail}


def _unmeasured(c: ConsumerLag) -> str | None:
    if c.samples == 0 or not c.end_sampled:
        return (
            f"{c.name} has no lag sample at the window's end"
            f" ({c.samples} in the window, {c.failed} queries unanswered)"
        )
    return None


def step_lag(consumers: Sequence[ConsumerLag]) -> StepLag:
    """The step's lag from every consumer's figures (none: unknown)."""
    if not consumers:
        return StepLag(None, None, "no consumer reported its lag")
    missing = [why for c in consumers if (why := _unmeasured(c)) is not None]
    if missing:
        return StepLag(None, None, "; ".join(missing))
    msgs = sum(c.max_msgs for c in consumers)
    untimed = [c.name for c in consumers if c.max_time_ms is None]
    if untimed:
        return StepLag(
            None, msgs, f"{', '.join(untimed)} measured no lag in time (an agent without it)"
        )
    return StepLag(max(c.max_time_ms or 0.0 for c in consumers), msgs)
