"""The agent hosts' clocks against the controller's, before and after a step's load.

A clock agent runs on every host that has a producer or consumer agent; the same agents
answer before and after, and `measure.clocks` turns the offsets into a correction and a
judgement of how far a cross-host latency may be off.
"""

from __future__ import annotations

from pytest_frida.config import StepPlan
from pytest_frida.controller.verdicts import Facts
from pytest_frida.measure.clocks import TRUST_SHARE, ClockOffset
from pytest_frida.measure.clocks import judge as judge_clocks
from pytest_frida.measure.clocks import probe as clock_probe
from pytest_frida.measure.result import StepResult
from pytest_frida.runtimes.agents import AgentHandle, AgentLauncher
from pytest_frida.workload.protocol import pong

#: how long a clock agent may take to answer one ping
PONG_TIMEOUT_S = 10.0


def launch_clock_agents(launcher: AgentLauncher, label: str, hosts: set[str]) -> list[AgentHandle]:
    """A clock agent on each host."""
    return [
        launcher.launch(f"{label}-clock-{host}", {"role": "clock", "host": host})
        for host in sorted(hosts)
    ]


def probe_clocks(agents: list[AgentHandle]) -> dict[str, ClockOffset]:
    """Each agent host's clock offset against this controller. The pings go one host at a
    time, so no round trip waits behind another host's."""
    offsets = {}
    for agent in agents:

        def ping(i: int, agent: AgentHandle = agent) -> int:
            agent.send({"id": i})
            return int(pong(agent.wait_for("pong", PONG_TIMEOUT_S))["t_ns"])

        offsets[agent.host] = clock_probe(agent.host, ping)
    return offsets


def corrections(
    before: dict[str, ClockOffset],
    consumer_host: str,
    producer_hosts: list[str],
    split: list[tuple[int, int]],
) -> list[list[int]]:
    """Per producer agent [first id, count, ns to add to its send stamps] so that the
    consumer reads them on its own clock."""
    own = before[consumer_host].offset_ms
    return [
        [first, count, round((own - before[producer_hosts[i]].offset_ms) * 1e6)]
        for i, (first, count) in enumerate(split)
    ]


def record_clocks(
    result: StepResult,
    plan: StepPlan,
    consumer_host: str,
    producer_hosts: list[str],
    before: dict[str, ClockOffset],
    after: dict[str, ClockOffset],
    corrected: bool,
    facts: Facts,
) -> None:
    """The offsets and their judgement on `result`; whether they can be trusted in
    `facts`, for the verdict."""
    verdict = judge_clocks(
        consumer_host, producer_hosts, before, after, corrected, plan.slo.latency_bound_ms
    )
    result.clocks = {
        "consumer_host": consumer_host,
        "corrected": verdict.corrected,
        "error_ms": verdict.error_ms,
        "trusted": verdict.trusted,
        "before": {h: o.to_dict() for h, o in before.items()},
        "after": {h: o.to_dict() for h, o in after.items()},
    }
    facts.clocks_trusted = verdict.trusted
    facts.clock_detail = (
        f"a cross-host latency may be off by {verdict.error_ms:.1f}ms, over"
        f" {TRUST_SHARE:.0%} of the {verdict.bound_ms:g}ms latency bound"
        f" ({verdict.detail})"
    )
