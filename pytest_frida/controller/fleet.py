"""One step's agents: launched together (consumers, clock agents, producers), waited for
together, and read for the progress line and for the counts a broken step reports.

Every agent is added to the caller's `launched` list the moment it exists, so the step
runner stops it whatever fails next.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pytest_frida.config import StepPlan
from pytest_frida.controller.clocks import launch_clock_agents
from pytest_frida.controller.consumer_shards import consumer_count, consumer_partitions
from pytest_frida.controller.merge import FLUSH_CAP_S
from pytest_frida.progress import ProgressFn
from pytest_frida.runtimes.agents import AgentError, AgentHandle, AgentLauncher, AgentTimeout
from pytest_frida.workload.protocol import (
    ConsumerConfig,
    ConsumerResult,
    ProducerConfig,
    ProducerResult,
    consumer_result,
    producer_result,
)

#: the longest an agent may take to connect its client and say ready
READY_TIMEOUT_S = 120.0
#: how far ahead of now the common start instant is set, so every agent has it in time
START_LEAD_S = 1.0


@dataclass(frozen=True)
class Fleet:
    """One step's agents and where they run."""

    consumers: list[AgentHandle]
    producers: list[AgentHandle]
    clocks: list[AgentHandle]
    #: (first producer id, count) per producer agent
    split: list[tuple[int, int]]
    consumer_host: str
    producer_hosts: list[str]


@dataclass(frozen=True)
class StepTarget:
    """What the agents load and read: the cluster, the step's topic, the client library."""

    bootstrap: str
    topic: str
    client: str


def launch_fleet(
    launcher: AgentLauncher,
    label: str,
    target: StepTarget,
    plan: StepPlan,
    producers: int,
    workers: int,
    launched: list[AgentHandle],
    notes: list[str],
) -> Fleet:
    """Start every agent of the step at once (starting is the slow part), then wait until
    each says ready. How the producers were placed goes to `notes` as soon as it is known,
    so a step that fails later still says it."""
    shares = consumer_partitions(
        consumer_count(plan.consumers, producers * plan.rate, plan.partitions), plan.partitions
    )
    consumers = []
    for i, partitions in enumerate(shares):
        config: ConsumerConfig = {
            "bootstrap": target.bootstrap,
            "topic": target.topic,
            "client": target.client,
            "warmup": plan.warmup,
            "duration": plan.duration,
            "role": "consumer",
            "partitions": partitions,
            "total_partitions": plan.partitions,
            "consumer_index": i,
            "consumers": len(shares),
        }
        if plan.drain:  # written only then: agents older than `hold` keep reading
            config["hold"] = True
        if plan.instruments is not None:  # the instruments decide the partitions
            config["market"] = plan.market.to_wire()
            config["total_producers"] = producers
        consumer = launcher.launch(f"{label}-consumer-{i}", config, slot=i)
        launched.append(consumer)
        consumers.append(consumer)
    split = launcher.plan_producers(producers, workers)
    if launcher.placement_note:
        notes.append(launcher.placement_note)
    consumer_host = launcher.host_of("consumer")
    producer_hosts = [launcher.host_of("producer", i) for i in range(len(split))]
    clocks: list[AgentHandle] = []
    if launcher.remote_clocks:
        clocks = launch_clock_agents(launcher, label, {consumer_host, *producer_hosts})
        launched.extend(clocks)
    producer_agents = []
    for i, (first, count) in enumerate(split):
        producer_config: ProducerConfig = {
            "bootstrap": target.bootstrap,
            "topic": target.topic,
            "client": target.client,
            "warmup": plan.warmup,
            "duration": plan.duration,
            "role": "producer",
            "first_producer": first,
            "producer_count": count,
            "total_producers": producers,
            "rate": plan.rate,
            "message_size": plan.message_size,
            "producer_settings": plan.producer_config,
            "partitions": plan.partitions,
        }
        if not plan.market.is_default():  # none for the default: any agent runs it
            producer_config["market"] = plan.market.to_wire()
        agent = launcher.launch(f"{label}-producers-{i}", producer_config, slot=i)
        launched.append(agent)
        producer_agents.append(agent)
    fleet = Fleet(consumers, producer_agents, clocks, split, consumer_host, producer_hosts)
    for agent in (*consumers, *clocks, *producer_agents):
        agent.wait_for("ready", READY_TIMEOUT_S)
    return fleet


def wait_produced(
    fleet: Fleet, killed: set[str], t0_ns: int, plan: StepPlan, progress: ProgressFn | None
) -> list[ProducerResult]:
    """Every producer agent's result (but those killed on purpose), in order."""
    budget = START_LEAD_S + plan.warmup + plan.duration + FLUSH_CAP_S + 60.0
    deadline = time.monotonic() + budget
    produced: list[ProducerResult] = []
    for agent in fleet.producers:
        while agent.name not in killed:
            try:
                res = producer_result(agent.wait_for("result", 1.0))
                produced.append({**res, "agent": agent.name, "agent_host": agent.host})
                break
            except AgentTimeout:
                if time.monotonic() > deadline:
                    raise
                if progress is not None:
                    progress(progress_line(fleet, t0_ns, plan))
            except AgentError:
                if agent.name not in killed:
                    raise
    return produced


def wait_drained(
    fleet: Fleet,
    agent: AgentHandle,
    cap_s: float,
    t0_ns: int,
    plan: StepPlan,
    progress: ProgressFn | None,
) -> ConsumerResult:
    """A consumer's result; its drain ends by itself (complete, stalled or capped)."""
    deadline = time.monotonic() + cap_s + 30.0
    while True:
        try:
            return {**consumer_result(agent.wait_for("result", 1.0)), "agent": agent.name}
        except AgentTimeout:
            if time.monotonic() > deadline:
                raise
            if progress is not None:
                progress(progress_line(fleet, t0_ns, plan))


def partial_counts(agents: list[AgentHandle]) -> dict[str, int]:
    """What the agents had reported when the step broke off (their last progress)."""
    return {
        "sent": sum(int(a.last_progress.get("sent", 0)) for a in agents),
        "acked": sum(int(a.last_progress.get("acked", 0)) for a in agents),
        "received": sum(int(a.last_progress.get("received", 0)) for a in agents),
    }


def progress_line(fleet: Fleet, t0_ns: int, plan: StepPlan) -> str:
    """Seconds into the step, messages sent and received, the consumers' worst p99."""
    elapsed = max(0.0, (time.time_ns() - t0_ns) / 1e9)
    sent = sum(int(a.last_progress.get("sent", 0)) for a in fleet.producers)
    received = sum(int(c.last_progress.get("received", 0)) for c in fleet.consumers)
    p99s = [float(p) for c in fleet.consumers if (p := c.last_progress.get("p99_ms")) is not None]
    p99_text = f"{max(p99s):.1f}ms" if p99s else "-"
    return (
        f"{elapsed:5.1f}/{plan.warmup + plan.duration:g}s sent={sent}"
        f" received={received} p99={p99_text}"
    )
