"""The consumers' results read for the step's lag (measure.lag) and, in a drain step, for
its drain figures (measure.drain)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_frida.measure.drain import (
    ConsumerDrain,
    drain_figures,
    merge_lag_series,
    unmeasured_drain,
)
from pytest_frida.measure.lag import ConsumerLag, StepLag, step_lag
from pytest_frida.measure.verdict import ConsumerFacts
from pytest_frida.workload.protocol import ConsumerResult


def consumers_lag(consumed: Sequence[ConsumerResult]) -> StepLag:
    """The step's lag over the measured window. An agent older than the end-sample flag
    is read as having one (controller.verdicts does the same); one older than the lag in
    time has none."""
    return step_lag(
        [
            ConsumerLag(
                name=str(c.get("agent", "consumer")),
                samples=int(c.get("lag_samples", 0)),
                end_sampled=bool(c.get("lag_end_sampled", True)),
                failed=int(c.get("lag_failed", 0)),
                max_msgs=int(c.get("lag_max", 0)),
                max_time_ms=c.get("lag_time_max_ms"),
            )
            for c in consumed
        ]
    )


def consumers_drain(
    consumed: Sequence[ConsumerResult], facts: Sequence[ConsumerFacts], backlog: int
) -> dict[str, Any]:
    """A drain step's figures; `facts` hold each consumer's effort over its drain, and
    `backlog` is the acknowledged messages the producers left for them. An agent that
    does not hold its reads back (its image predates drain steps) read while the
    producers sent: no drain was measured."""
    unheld = [str(c.get("agent", "consumer")) for c in consumed if "drain_read" not in c]
    if unheld:
        return unmeasured_drain(
            len(consumed),
            backlog,
            f"{', '.join(unheld)} did not hold its reads until the drain (an agent without"
            " drain steps): no drain rate",
        )
    return drain_figures(
        [
            ConsumerDrain(
                name=f.name,
                messages=int(c.get("drain_read", 0)),
                seconds=float(c.get("drain_active_s", 0.0)),
                busy=f.busy,
                stop=str(c.get("drain_stop", "")),
            )
            for c, f in zip(consumed, facts, strict=True)
        ],
        backlog,
        merge_lag_series([c.get("lag_series", []) for c in consumed]),
    )
