"""The verdict of a step: a pure function of what was measured, and the one place it is made.

Two kinds of SLO clause judge different things. Count clauses (`loss`, `unacked`,
`failed`, `duplicates`, `out_of_order`, `delivered`) rest on exact per-message accounting:
they judge every step that finished measuring, whatever else happened, so a message the
broker acknowledged and then lost always fails the step. Latency clauses rest on timing,
and the harness can spoil timing in three ways, each of which withholds only them:

- the load generator: an agent that fell behind its schedule *while* its scheduler had no
  slack (`generator_bound`); behind with slack is back-pressure from the broker and judged;
- the clocks: cross-host latency whose error may exceed a share of the bound
  (`clock_untrusted`);
- the consumers: a consumer process that was saturated while latency missed the SLO
  (`consumer_bound`); latency that met the SLO through a busy consumer is a pass.

A step whose cluster stopped answering (other than through a planned fault) fails: a
broker that dies under load is the clearest capacity limit there is. A step the harness
could not finish (an agent died, the drain ran out of time while still receiving) decides
nothing and says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pytest_frida.measure.slo import LATENCY_METRICS, ClauseVerdict, Slo

#: an agent is behind schedule when it sent less than this share of its measured messages
RATE_TOLERANCE = 0.95
#: ... or when its publish delay (actual - intended send) p99, or that of its last
#: measured send, exceeds this (ms)
PUBLISH_DELAY_LIMIT_MS = 50.0
#: an agent (generator or consumer) whose loop ran or waited for a CPU this share of the
#: measured time had no slack left: it was saturated
SATURATED = 0.85

#: verdicts a step can get; `DECIDING` ones say which way the limit goes
VERDICTS = ("pass", "fail", "generator_bound", "consumer_bound", "clock_untrusted", "error")
DECIDING = ("pass", "fail")


@dataclass(frozen=True)
class GeneratorFacts:
    """What one producer agent measured about itself during the measured window."""

    name: str
    #: share of measured wall time its scheduler had no slack (sleeps and waits on a full
    #: client queue are slack)
    busy: float
    #: messages its schedule intended inside the window, and how many of them it sent
    intended: int
    sent: int
    publish_delay_p99_ms: float
    final_publish_delay_ms: float

    @property
    def behind(self) -> bool:
        short = self.intended > 0 and self.sent < RATE_TOLERANCE * self.intended
        return (short or self.publish_delay_p99_ms > PUBLISH_DELAY_LIMIT_MS
                or self.final_publish_delay_ms > PUBLISH_DELAY_LIMIT_MS)

    @property
    def saturated(self) -> bool:
        return self.busy >= SATURATED

    @property
    def bound(self) -> bool:
        """Behind schedule for want of its own capacity: the broker never saw the load."""
        return self.behind and self.saturated

    def describe(self) -> str:
        return (f"{self.name}: scheduler busy {self.busy:.0%}, sent {self.sent} of"
                f" {self.intended} scheduled, publish delay p99"
                f" {self.publish_delay_p99_ms:.1f}ms")


@dataclass(frozen=True)
class ConsumerFacts:
    """What one consumer agent measured about itself during the measured window."""

    name: str
    busy: float
    cpu_share: float = 0.0
    lag_max: int = 0
    lag_end: int = 0

    @property
    def saturated(self) -> bool:
        return self.busy >= SATURATED

    def describe(self) -> str:
        return (f"{self.name}: busy {self.busy:.0%}, CPU {self.cpu_share:.2f} cores,"
                f" lag max {self.lag_max} at end {self.lag_end}")


@dataclass(frozen=True)
class StepFacts:
    """Everything a verdict depends on; nothing here needs a broker to build."""

    slo: Slo
    #: SLO metric -> measured value (None: not measured)
    metrics: Mapping[str, float | None]
    generators: Sequence[GeneratorFacts] = ()
    consumers: Sequence[ConsumerFacts] = ()
    #: None where every agent shares the controller's clock
    clocks_trusted: bool | None = None
    clock_detail: str = ""
    #: what the cluster health check said after the step, None when it answered
    cluster_down: str | None = None
    #: a broker fault was planned in this step (kill, stop, pause, ...)
    planned_broker_fault: bool = False
    #: the harness could not finish the step (agent died, timed out), None when it did
    harness_error: str | None = None
    #: how the consumers' drain ended: complete, stalled (nothing new arrived) or cap
    drain_stop: str = "complete"


@dataclass(frozen=True)
class Verdict:
    """A step's verdict, the clauses behind it and why, in words."""

    verdict: str
    clauses: tuple[ClauseVerdict, ...] = ()
    #: latency clauses that were measured but not allowed to judge
    withheld: tuple[str, ...] = ()
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def decides(self) -> str | None:
        """Which way this step moves the capacity limit: pass, fail, or None."""
        return self.verdict if self.verdict in DECIDING else None


def judge(facts: StepFacts) -> Verdict:
    """The verdict of one step; see the module docstring for the rules."""
    down = facts.cluster_down is not None and not facts.planned_broker_fault
    if down:
        return Verdict("fail", reasons=(
            f"the cluster stopped answering during the step: {facts.cluster_down}",))
    if facts.cluster_down is not None:
        return Verdict("error", reasons=(
            f"the cluster did not answer after a planned fault: {facts.cluster_down};"
            " the step says nothing about capacity",))
    if facts.harness_error is not None:
        return Verdict("error", reasons=(
            f"the harness could not finish the step: {facts.harness_error}",))
    clauses = tuple(facts.slo.evaluate(facts.metrics))
    counts = [v for v in clauses if v.clause.metric not in LATENCY_METRICS]
    latency = [v for v in clauses if v.clause.metric in LATENCY_METRICS]
    reasons: list[str] = []
    bound = [g for g in facts.generators if g.bound]
    saturated_consumers = [c for c in facts.consumers if c.saturated]
    latency_missed = any(not v.passed for v in latency)
    withholding: list[str] = []
    if bound:
        withholding.append("generator_bound")
        reasons.append("load generator saturated and behind schedule, so the broker never"
                       " saw the load: " + "; ".join(g.describe() for g in bound))
    if facts.clocks_trusted is False:
        withholding.append("clock_untrusted")
        reasons.append(f"clocks untrusted: {facts.clock_detail}")
    if saturated_consumers and latency_missed:
        withholding.append("consumer_bound")
        reasons.append("consumers saturated while latency missed the SLO, so the latency"
                       " is the consumers' as much as the broker's: "
                       + "; ".join(c.describe() for c in saturated_consumers))
    if facts.drain_stop == "cap" and any(not v.passed for v in counts):
        return Verdict("error", clauses, reasons=(
            "the consumers were still receiving when the drain ran out of time: the"
            " messages not yet received may still be on their way, so loss is unknown",
            *reasons))
    if any(not v.passed for v in counts):
        failed = ", ".join(v.describe() for v in counts if not v.passed)
        return Verdict("fail", clauses, tuple(v.clause.text for v in latency)
                       if withholding else (), (f"messages did not get through: {failed}",
                                               *reasons))
    if withholding:
        return Verdict(withholding[0], clauses, tuple(v.clause.text for v in latency),
                       (*reasons, "the latency verdict is withheld; the count clauses"
                        " held"))
    if latency_missed:
        behind = [g for g in facts.generators if g.behind]
        if behind:
            reasons.append("producers fell behind schedule while their schedulers had"
                           " slack: back-pressure from the broker: "
                           + "; ".join(g.describe() for g in behind))
        return Verdict("fail", clauses, reasons=tuple(reasons))
    return Verdict("pass", clauses, reasons=tuple(reasons))

