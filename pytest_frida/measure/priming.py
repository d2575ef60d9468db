"""When a cold cluster has been primed enough to measure its first step.

A broker just started runs interpreted, with cold caches, and on a small host several
brokers compiling at once take every core: three brokers on two cores answered a 1,000
msg/s load at p99 8.6 s in their first seconds and 0.2 s a minute later. One fixed
priming run was not always enough, and a search whose first steps met such a cluster
reported its limit below its range. So priming repeats, each run as long as the first,
until one meets the SLO, or stops getting faster (its p99 fell by less than `SETTLED` of
the run before: the cluster is as warm as this load lets it be, and a load it cannot hold
is not primed for ever), or lost messages, or `MAX_ROUNDS` ran.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_frida.measure.result import StepResult

#: priming runs at most this many times before a cluster's first measured step
MAX_ROUNDS = 4
#: a run whose p99 fell by less than this share on the run before has settled
SETTLED = 0.25


def primed_enough(rounds: Sequence[tuple[str, float | None, bool]]) -> bool:
    """Whether to stop priming after `rounds`: (verdict, p99 ms, lost messages or the
    cluster) of each priming run so far, oldest first."""
    if not rounds:
        return False
    verdict, p99, lost = rounds[-1]
    if len(rounds) >= MAX_ROUNDS or lost or verdict == "pass" or p99 is None:
        return True
    if len(rounds) == 1:
        return False
    before = rounds[-2][1]
    return before is None or p99 > before * (1 - SETTLED)


def describe(rounds: Sequence[tuple[str, float | None, bool]], seconds: float) -> str:
    """How the cluster was primed, for the first step's notes."""
    p99s = " -> ".join("?" if p is None else f"{p:g}" for _, p, _ in rounds)
    runs = "an unmeasured run" if len(rounds) == 1 else f"{len(rounds)} unmeasured runs"
    return (
        f"the cluster's first step: primed by {runs} of {seconds:g}s at this load first"
        f" (p99 {p99s} ms, last verdict {rounds[-1][0]}; priming repeats while the p99"
        f" falls by {SETTLED:.0%} or more, at most {MAX_ROUNDS} runs)"
    )


def carried_over(primers: Sequence[StepResult]) -> tuple[str | None, str | None]:
    """What the priming runs leave to the step after them, as (earlier_loss,
    earlier_unknown) of measure.verdict: messages a run lost fail that step; messages
    still on their way when a run's drain was cut off keep it from passing. Their topics
    are deleted unread, so this is the only place either is seen."""
    lost = [p for p in primers if p.definitive]
    if lost:
        failed = "; ".join(v.describe() for v in lost[0].verdicts if not v.passed)
        return (
            "an unmeasured priming run just before this step counted messages that did"
            f" not get through: {failed}"
        ), None
    cut = [p for p in primers if p.verdict == "error" and p.drain_stop == "cap"]
    if cut:
        return None, (
            "an unmeasured priming run just before this step ended its drain with"
            " acknowledged messages still on their way: " + "; ".join(cut[0].reasons[:1])
        )
    return None, None
