"""Planned faults during a step's load: timers that fire them, and when latency recovered.

Broker faults go to the site's injector; producer faults SIGKILL producer agents here.
Every firing is recorded on the step, done or failed, and the step goes on either way.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Sequence

from pytest_frida.config import StepPlan
from pytest_frida.faults import PRODUCER_ACTIONS, FaultEvent
from pytest_frida.measure.recovery import latency_bound_ms, recovered_after_s
from pytest_frida.measure.result import StepResult
from pytest_frida.runtimes.agents import AgentHandle
from pytest_frida.sites.base import BrokerFaults


def schedule_faults(
    result: StepResult,
    faults: Sequence[FaultEvent],
    t0_ns: int,
    injector: BrokerFaults | None,
    site: str,
    producer_agents: list[AgentHandle],
    killed: set[str],
) -> list[threading.Timer]:
    """A started timer per fault, at its planned second after `t0_ns`; the caller cancels
    those still pending when the load ends. Agents killed on purpose go into `killed`."""
    if injector is None and any(e.action not in PRODUCER_ACTIONS for e in faults):
        raise RuntimeError(f"the {site} site cannot inject faults")
    timers = []
    for event in faults:

        def fire(event: FaultEvent = event) -> None:
            at = (time.time_ns() - t0_ns) / 1e9
            try:
                if event.action in PRODUCER_ACTIONS:
                    kill_producers(producer_agents, float(event.value or 0), killed)
                else:
                    assert injector is not None
                    injector.apply(event.action, event.broker, event.value)
                outcome = "done"
            except Exception as exc:  # recorded, and the step goes on
                outcome = f"failed: {exc}"
            result.faults.append(
                {
                    "planned_s": event.at_s,
                    "at_s": round(at, 3),
                    "action": event.action,
                    "broker": event.broker,
                    "value": event.value,
                    "outcome": outcome,
                }
            )
            result.notes.append(f"fault at +{at:.1f}s: {event.describe()} ({outcome})")

        delay = max(0.0, (t0_ns - time.time_ns()) / 1e9 + event.at_s)
        timer = threading.Timer(delay, fire)
        timer.daemon = True
        timer.start()
        timers.append(timer)
    return timers


def kill_producers(agents: list[AgentHandle], share: float, killed: set[str]) -> None:
    """SIGKILL the first ceil(share x agents) producer agents: their producers stop
    mid-schedule, their unacknowledged messages die with them."""
    count = max(1, math.ceil(share * len(agents)))
    for agent in agents[:count]:
        killed.add(agent.name)
        agent.process.send_signal(signal.SIGKILL)


def note_recovery(result: StepResult, plan: StepPlan) -> None:
    """When latency was back within bound after each fault (see measure.recovery)."""
    if not result.faults:
        return
    timeline = [(int(s), int(n), int(w)) for s, n, w, *_ in result.timeline]
    first_fault = min(float(f["at_s"]) for f in result.faults)
    bound = latency_bound_ms(plan.slo, timeline, first_fault)
    end = plan.warmup + plan.duration
    for fault in result.faults:
        after = recovered_after_s(timeline, float(fault["at_s"]), bound, end)
        fault["recovered_after_s"] = None if after is None else round(after, 1)
        fault["recovery_bound_ms"] = round(bound, 1)
        result.notes.append(
            f"{fault['action']} at +{fault['at_s']:.1f}s: "
            + (
                f"latency back within {bound:g}ms after {after:.1f}s"
                if after is not None
                else f"latency not back within {bound:g}ms before the step ended"
            )
        )
