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
- the consumers: a consumer process that was saturated, with evidence that it held
  messages back (a spent CPU quota, or a lag past what arrives within the latency bound),
  while latency missed the SLO (`consumer_bound`); latency that met the SLO through a busy
  consumer is a pass.

A fourth withholds them too, and is no fault of anyone's: too few measured messages for
the percentile a clause names (`insufficient`, the rule in measure.samples), whichever way
the latency went: a p99 read from a hundred messages flatters as often as it condemns.

Lag clauses (`lag<=1s`, `lag<=10000msgs`: measure.slo) judge how far behind the consumers
read. A lag in time rests on intended send times as latency does, so a saturated generator
or untrusted clocks withhold it with the latency clauses; saturated consumers that held
messages back withhold both forms while lag or latency missed (`consumer_bound`): a lag
the harness's own consumers made says nothing of the broker. A lag that was not measured
(no sample at the window's end, a query the broker did not answer) leaves its clause
unknown: the step decides nothing (`error`, saying why) unless another clause fails it.

A drain step (`StepFacts.drain`) holds its consumers back until the producers are done, by
design: its latency and lag clauses would measure the backlog's wait, so they are
withheld and its count clauses alone judge it.

A producer that could not send its schedule although its scheduler had slack was held
back by the broker (its client queue stayed full): that fails the step even under an SLO
with no latency clause. A step whose cluster stopped answering (other than through a
planned fault) fails: a broker that dies under load is the clearest capacity limit there
is. A step the harness could not finish (an agent died) decides nothing unless what it
had counted already shows a message lost. Acknowledged messages still on their way when
a drain was cut off are not counted lost: if only they would fail the step, loss is
unknown and the step decides nothing. The same holds for such messages in an unmeasured
run just before (a cold cluster's priming): the step after it may fail, never pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pytest_frida.measure.slo import LAG_METRICS, LATENCY_METRICS, ClauseVerdict, Slo

#: an agent is behind schedule when it sent less than this share of its measured messages
RATE_TOLERANCE = 0.95
#: ... or when its publish delay (actual - intended send) p99, or that of its last
#: measured send, exceeds this (ms)
PUBLISH_DELAY_LIMIT_MS = 50.0
#: an agent (generator or consumer) whose loop ran or waited for a CPU this share of the
#: measured time had no slack left: it was saturated
SATURATED = 0.85

#: verdicts a step can get; `DECIDING` ones say which way the limit goes
VERDICTS = (
    "pass",
    "fail",
    "generator_bound",
    "consumer_bound",
    "clock_untrusted",
    "insufficient",
    "error",
)
#: verdicts that withhold the latency clauses for a limit of the harness or the method
WITHHELD = ("generator_bound", "consumer_bound", "clock_untrusted", "insufficient")
DECIDING = ("pass", "fail")
#: why a drain step's latency and lag clauses do not judge it
DRAIN_WITHHELD = (
    "a drain step holds its consumers back until the producers are done: its latency and"
    " lag clauses would measure the backlog's wait, so only its count clauses judge it"
)


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
    def short(self) -> bool:
        """It sent less than RATE_TOLERANCE of what its schedule put in the window."""
        return self.intended > 0 and self.sent < RATE_TOLERANCE * self.intended

    @property
    def behind(self) -> bool:
        return (
            self.short
            or self.publish_delay_p99_ms > PUBLISH_DELAY_LIMIT_MS
            or self.final_publish_delay_ms > PUBLISH_DELAY_LIMIT_MS
        )

    @property
    def saturated(self) -> bool:
        return self.busy >= SATURATED

    @property
    def bound(self) -> bool:
        """Behind schedule for want of its own capacity: the broker never saw the load."""
        return self.behind and self.saturated

    def describe(self) -> str:
        return (
            f"{self.name}: scheduler busy {self.busy:.0%}, sent {self.sent} of"
            f" {self.intended} scheduled, publish delay p99"
            f" {self.publish_delay_p99_ms:.1f}ms"
        )


@dataclass(frozen=True)
class ConsumerFacts:
    """What one consumer agent measured about itself during the measured window."""

    name: str
    busy: float
    cpu_share: float = 0.0
    lag_max: int = 0
    lag_end: int = 0
    #: share of its CPU quota's periods that ran out (a frozen consumer adds latency)
    throttled: float = 0.0
    #: messages that reach it within the SLO's latency bound: a lag above this delays
    #: messages past the bound by itself (None: no bound, or the lag was not measured)
    lag_limit: int | None = None

    @property
    def saturated(self) -> bool:
        return self.busy >= SATURATED

    @property
    def held_back(self) -> bool:
        """Evidence that it delayed messages: a spent CPU quota, or a lag past its limit
        (an unknown lag cannot clear it)."""
        return (
            self.throttled >= SATURATED or self.lag_limit is None or self.lag_max > self.lag_limit
        )

    @property
    def bound(self) -> bool:
        return self.saturated and self.held_back

    def describe(self) -> str:
        lag = (
            "lag unknown (no sample at the window's end, or no latency bound to judge it by)"
            if self.lag_limit is None
            else f"lag max {self.lag_max} (limit {self.lag_limit}) at end {self.lag_end}"
        )
        return (
            f"{self.name}: busy {self.busy:.0%}, CPU {self.cpu_share:.2f} cores,"
            f" quota spent in {self.throttled:.0%} of periods, {lag}"
        )


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
    #: acknowledged messages still missing at consumers whose drain hit its cap while
    #: still receiving: maybe lost, maybe on their way
    undrained: int = 0
    #: messages the schedule put in the measured window (None: not counted), and the
    #: fewest the SLO's latency clauses need (measure.samples); the schedule's count, not
    #: what arrived, so that messages that never came cannot make a failure "insufficient"
    samples: int | None = None
    required_samples: int = 0
    #: messages lost by an unmeasured run of the same cluster just before (its priming):
    #: the broker's loss all the same
    earlier_loss: str | None = None
    #: an unmeasured run just before whose drain was cut off with acknowledged messages
    #: still on their way: whether the broker lost them is unknown, so no pass here
    earlier_unknown: str | None = None
    #: a drain step: consumers held back until the producers were done (workload.drain)
    drain: bool = False
    #: why the consumers' lag is unknown, when it is (the lag clauses' reason)
    lag_detail: str = ""


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
    verdict = _judge(facts)
    if facts.earlier_unknown is not None and verdict.verdict == "pass":
        return Verdict(
            "error",
            verdict.clauses,
            verdict.withheld,
            (
                facts.earlier_unknown,
                "a pass here could hide a lost message: the step decides nothing",
            ),
        )
    return verdict


def _judge(facts: StepFacts) -> Verdict:
    if facts.cluster_down is not None and not facts.planned_broker_fault:
        return Verdict(
            "fail",
            _counted(facts),
            reasons=(f"the cluster stopped answering during the step: {facts.cluster_down}",),
        )
    clauses = _counted(facts)
    if facts.earlier_loss is not None:
        return Verdict("fail", clauses, reasons=(facts.earlier_loss,))
    counts = [v for v in clauses if v.clause.metric not in (*LATENCY_METRICS, *LAG_METRICS)]
    missed = [v for v in counts if v.measured is not None and not v.passed]
    if facts.cluster_down is not None or facts.harness_error is not None:
        why = (
            f"the cluster did not answer after a planned fault: {facts.cluster_down}"
            if facts.cluster_down is not None
            else f"the harness could not finish the step: {facts.harness_error}"
        )
        if missed:  # what was counted before it ended still shows messages lost
            return Verdict("fail", clauses, reasons=(_undelivered(missed), why))
        return Verdict("error", clauses, reasons=(why, "the step says nothing about capacity"))
    latency = [v for v in clauses if v.clause.metric in LATENCY_METRICS]
    lags = [v for v in clauses if v.clause.metric in LAG_METRICS]
    if facts.drain:  # judged by counts alone: latency and lag are the backlog's, by design
        latency, lags = [], []
    latency_missed = any(not v.passed for v in latency)
    lag_missed = [v for v in lags if v.measured is not None and not v.passed]
    withholding, reasons = _withholding(facts, bool(latency), latency_missed, bool(lag_missed))
    withheld = _withheld(facts, clauses, withholding)
    if facts.drain and withheld:
        reasons.append(DRAIN_WITHHELD)
    pushed_back = [g for g in facts.generators if g.short and not g.saturated]
    if missed:
        return Verdict("fail", clauses, withheld, (_undelivered(missed), *reasons))
    if facts.undrained and _fails_with_undrained(facts):
        if latency_missed and not withholding:
            return Verdict(
                "fail",
                clauses,
                reasons=(
                    f"latency missed the SLO; {facts.undrained} acknowledged messages were still"
                    " on their way when the drain ended",
                ),
            )
        return Verdict(
            "error",
            clauses,
            withheld,
            (
                f"the consumers were still receiving when the drain ran out of time:"
                f" {facts.undrained} acknowledged messages may still be on their way, so loss"
                " is unknown",
                *reasons,
            ),
        )
    # back-pressure fails first, unless a saturated generator on the same hosts muddies it
    if pushed_back and "generator_bound" not in withholding:
        return Verdict(
            "fail",
            clauses,
            reasons=(
                "the broker held the producers back: they could not send their schedule while"
                " their schedulers had slack (back-pressure): "
                + "; ".join(g.describe() for g in pushed_back),
            ),
        )
    judged_lag = [v for v in lag_missed if v.clause.text not in withheld]
    if judged_lag:
        return Verdict(
            "fail",
            clauses,
            withheld,
            (
                "the consumers fell behind, and none was both saturated and holding messages"
                " back (the harness's own limit): " + ", ".join(v.describe() for v in judged_lag),
                *reasons,
            ),
        )
    if withholding:
        return Verdict(
            withholding[0],
            clauses,
            withheld,
            (*reasons, "the latency verdict is withheld; the count clauses held"),
        )
    if latency_missed:
        behind = [g for g in facts.generators if g.behind]
        if behind:
            reasons.append(
                "producers fell behind schedule while their schedulers had"
                " slack: back-pressure from the broker: " + "; ".join(g.describe() for g in behind)
            )
        return Verdict("fail", clauses, withheld, tuple(reasons))
    return _passed_unless_unknown(facts, clauses, withheld, reasons)


def _passed_unless_unknown(
    facts: StepFacts,
    clauses: tuple[ClauseVerdict, ...],
    withheld: tuple[str, ...],
    reasons: list[str],
) -> Verdict:
    """A step nothing failed: a pass, unless a lag clause it had to judge is unknown."""
    unknown = [v for v in clauses if v.unknown and not facts.drain]
    if unknown:
        return Verdict(
            "error",
            clauses,
            withheld,
            (
                "the lag clause(s) "
                + ", ".join(v.clause.text for v in unknown)
                + f" could not be judged: {facts.lag_detail or 'the lag was not measured'}",
                *reasons,
                "the step says nothing about capacity",
            ),
        )
    return Verdict("pass", clauses, withheld, tuple(reasons))


def _withheld(
    facts: StepFacts, clauses: tuple[ClauseVerdict, ...], withholding: list[str]
) -> tuple[str, ...]:
    """The clauses measured but not allowed to judge: latency whenever something withholds
    it, lag in time with it for the generator and the clocks (it rests on intended send
    times), both lag forms for the consumers, every lag clause not measured, and every
    latency and lag clause of a drain step."""
    timed = {"generator_bound", "clock_untrusted", "consumer_bound"} & set(withholding)
    out = []
    for v in clauses:
        metric = v.clause.metric
        if metric in LATENCY_METRICS:
            kept = bool(withholding) or facts.drain
        elif metric == "lag":
            kept = bool(timed) or v.unknown or facts.drain
        elif metric == "lag_msgs":
            kept = "consumer_bound" in withholding or v.unknown or facts.drain
        else:
            kept = False
        if kept:
            out.append(v.clause.text)
    return tuple(out)


def _withholding(
    facts: StepFacts, has_latency: bool, latency_missed: bool, lag_missed: bool = False
) -> tuple[list[str], list[str]]:
    """Why the latency clauses cannot be judged, if they cannot: the verdicts that
    withhold them, in order of precedence, and the reason for each."""
    reasons: list[str] = []
    withholding: list[str] = []
    bound = [g for g in facts.generators if g.bound]
    if bound:
        withholding.append("generator_bound")
        reasons.append(
            "load generator saturated and behind schedule, so the broker never"
            " saw the load: " + "; ".join(g.describe() for g in bound)
        )
    if facts.clocks_trusted is False:
        withholding.append("clock_untrusted")
        reasons.append(f"clocks untrusted: {facts.clock_detail}")
    held = [c for c in facts.consumers if c.bound]
    if held and (latency_missed or lag_missed):
        withholding.append("consumer_bound")
        what = "the lag" if lag_missed and not latency_missed else "the latency"
        reasons.append(
            f"consumers saturated and behind while {what[4:]} missed the SLO, so"
            f" {what} is the consumers' as much as the broker's: "
            + "; ".join(c.describe() for c in held)
        )
    if has_latency and facts.samples is not None and facts.samples < facts.required_samples:
        withholding.append("insufficient")
        reasons.append(
            f"{facts.samples} latency samples measured, the SLO's latency clauses"
            f" need at least {facts.required_samples}: lengthen --frida-duration"
            " or raise --frida-max-duration"
        )
    return withholding, reasons


def _counted(facts: StepFacts) -> tuple[ClauseVerdict, ...]:
    """Every clause, with `loss` counting only what is known lost: acknowledged messages
    still on their way to a consumer whose drain was cut off are not (yet) lost."""
    metrics = dict(facts.metrics)
    loss = metrics.get("loss")
    if loss is not None and facts.undrained:
        metrics["loss"] = max(0.0, loss - facts.undrained)
    return tuple(facts.slo.evaluate(metrics))


def _fails_with_undrained(facts: StepFacts) -> bool:
    """Would the loss clauses fail if the undrained messages were lost too?"""
    return any(not v.passed for v in facts.slo.evaluate(facts.metrics) if v.clause.metric == "loss")


def _undelivered(missed: list[ClauseVerdict]) -> str:
    return "messages did not get through: " + ", ".join(v.describe() for v in missed)
