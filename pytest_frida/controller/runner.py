"""One step of a capacity test, driven from the controller: prime a cold cluster, make
the topic, launch the agents, start them at one instant, wait, drain, merge and judge.

Each job it hands off lives in a module of its own in this package; this one keeps the
order of things and the step's failure handling: whatever goes wrong is the step's result
(an error, a cluster gone), never an exception out of `run`, except an interrupt.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from pytest_frida.config import StepPlan
from pytest_frida.controller import topics
from pytest_frida.controller.clocks import (
    corrections,
    launch_clock_agents,
    probe_clocks,
    record_clocks,
)
from pytest_frida.controller.consumer_shards import consumer_count, consumer_partitions
from pytest_frida.controller.fault_timers import schedule_faults
from pytest_frida.controller.merge import (
    DRAIN_STALL_S,
    FLUSH_CAP_S,
    drain_cap_s,
    merge,
    producer_reports,
)
from pytest_frida.controller.verdicts import Facts, attribute_step, judge_step
from pytest_frida.faults import FaultEvent
from pytest_frida.measure.clocks import ClockOffset
from pytest_frida.measure.host_speed import SINGLE_HOST_SITES, usable_core_count
from pytest_frida.measure.resources import resource_figures
from pytest_frida.measure.result import StepResult, utc_now
from pytest_frida.measure.sampler import ResourceSampler
from pytest_frida.measure.samples import MeasuredWindow, measured_window
from pytest_frida.runtimes.agents import AgentError, AgentHandle, AgentTimeout, stop_agents
from pytest_frida.sites.base import Cluster
from pytest_frida.workload.protocol import (
    ConsumerResult,
    ExpectedSends,
    ProducerResult,
    consumer_result,
    producer_result,
)
from pytest_frida.workload.schedule import Window

READY_TIMEOUT_S = 120.0
START_LEAD_S = 1.0


ProgressFn = Callable[[str], None]


class ClusterGone(RuntimeError):
    """The cluster did not answer before the step began."""


def _new_result(test: str, plan: StepPlan, producers: int, window: MeasuredWindow) -> StepResult:
    """The step's result as planned, before anything is measured."""
    result = StepResult(
        test=test,
        producers=producers,
        rate_per_producer=plan.rate,
        duration_s=plan.duration,
        warmup_s=plan.warmup,
        message_size=plan.message_size,
        partitions=plan.partitions,
        slo=str(plan.slo),
        producer_config=dict(plan.producer_config),
        consumer_setting="auto" if plan.consumers is None else str(plan.consumers),
        started_at=utc_now(),
        samples={"required": window.required_samples, "planned": window.planned_samples},
    )
    if window.describe():
        result.notes.append(window.describe())
    return result


class StepRunner:
    """Runs steps of capacity tests against one cluster."""

    def __init__(
        self,
        cluster: Cluster,
        run_id: str,
        client: str,
        workers: int | None = None,
        clock_correction: bool = True,
        prime_s: float | None = None,
    ) -> None:
        self.cluster = cluster
        self.run_id = run_id
        self.client = client
        self.workers = workers or os.cpu_count() or 1
        self.clock_correction = clock_correction
        self._steps = 0
        #: what this step's agents and topic are named after: step<N>, or prime
        self._label = "step0"
        self._priming = False
        #: seconds of unmeasured load before the cluster's first measured step (see
        #: _prime): None for a runner that leaves that to its owner (bench, tests), 0 for
        #: a session asked not to prime, whose first step then says so
        self._prime_s = prime_s
        self._primed = not prime_s

    def run(
        self,
        test: str,
        plan: StepPlan,
        producers: int,
        progress: ProgressFn | None = None,
        faults: Sequence[FaultEvent] = (),
    ) -> StepResult:
        primer: StepResult | None = None
        # a first step with planned faults is never primed, whatever the setting
        unprimed = self._prime_s == 0 and self._steps == 0 and not self._priming and not faults
        if not self._primed:  # the cluster's first step, and only that one
            self._primed = True
            if not faults:  # a fault's step measures its fault, not a warm broker
                primer = self._prime(test, plan, producers, progress)
        if self._priming:  # numbered steps are measured ones (logs, topics)
            self._label = "prime"
        else:
            self._steps += 1
            self._label = f"step{self._steps}"
        window = measured_window(plan.slo, producers, plan.rate, plan.duration, plan.max_duration)
        planned_duration = plan.duration
        plan = replace(plan, duration=window.duration_s)
        result = _new_result(test, plan, producers, window)
        if window.lengthened:
            result.samples["planned_duration_s"] = planned_duration
        earlier_loss = self._note_priming(result, primer, unprimed)
        topic = re.sub(r"[^a-zA-Z0-9._-]", "-", f"frida-{self.run_id}-{self._label}")
        agents: list[AgentHandle] = []
        facts = Facts(earlier_loss=earlier_loss)
        interrupted = False
        try:
            # a cluster already gone fails here, not after the admin client's timeouts
            gone = self.cluster.health()
            if gone is not None:
                raise ClusterGone(gone)
            self.create_topic(topic, plan.partitions)
            self._measure(result, plan, producers, topic, agents, progress, faults, facts)
        except ClusterGone:
            pass  # said below, once
        except Exception as exc:  # any failure to measure (client errors included) is
            # this step's result; what it means is the verdict's business
            facts.harness_error = f"{type(exc).__name__}: {exc}"
            result.error = str(exc)
            result.partial_counts = self._partial_counts(agents)
        except BaseException:  # Ctrl-C, SIGTERM: out of here fast, teardown does the rest
            interrupted = True
            raise
        finally:
            problem = None if interrupted else self.cluster.health()
            if problem is not None:
                facts.cluster_down = result.cluster_down = problem
                result.error = f"the cluster stopped answering during the step: {problem}" + (
                    f"; {result.error}" if result.error else ""
                )
            stop_agents(agents)
            if not interrupted and problem is None:
                # a cluster that does not answer (or is going away) takes its topics along;
                # asking it would only wait for the client's timeouts
                topics.delete_topic(self.cluster.bootstrap, topic)
            result.ended_at = utc_now()
            if not interrupted:
                judge_step(result, plan, faults, facts)
                attribute_step(result, self.cluster.broker_cores, self.cluster.shared_nodes)
        return result

    def _note_priming(
        self, result: StepResult, primer: StepResult | None, unprimed: bool
    ) -> str | None:
        """Say on the cluster's first step how it was primed; what the priming run lost,
        which fails this step (StepFacts.earlier_loss)."""
        if primer is not None or unprimed:
            result.primed_s = self._prime_s
        if unprimed:
            result.notes.append(
                "the cluster's first step: not primed (prime 0 s), so its"
                " first seconds may have met a broker still cold"
            )
        if primer is None:
            return None
        result.notes.append(
            f"the cluster's first step: primed by an unmeasured {self._prime_s:g}s run at"
            f" this load first (p99 {primer.latency.get('p99')} ms, verdict"
            f" {primer.verdict})"
        )
        if not primer.definitive:
            return None
        return (
            "the unmeasured priming run just before this step counted messages that did"
            " not get through: " + "; ".join(v.describe() for v in primer.verdicts if not v.passed)
        )

    def _prime(
        self, test: str, plan: StepPlan, producers: int, progress: ProgressFn | None
    ) -> StepResult:
        """Before the cluster's first measured step: the same load, unmeasured, for
        `prime_s`. A broker just started runs its first seconds interpreted and with cold
        caches, and its first step measured that rather than the load. Its latency is
        thrown away; messages it lost fail the step after it (StepFacts.earlier_loss)."""
        seconds = self._prime_s or 0.0
        primer = replace(plan, duration=seconds, warmup=0.0, max_duration=seconds)
        self._priming = True
        try:
            return self.run(test, primer, producers, progress)
        finally:
            self._priming = False

    def _measure(
        self,
        result: StepResult,
        plan: StepPlan,
        producers: int,
        topic: str,
        agents: list[AgentHandle],
        progress: ProgressFn | None,
        faults: Sequence[FaultEvent],
        facts: Facts,
    ) -> None:
        launcher = self.cluster.launcher
        # every agent starts at once (starting is the slow part) and is waited for after
        shares = consumer_partitions(
            consumer_count(plan.consumers, producers * plan.rate, plan.partitions), plan.partitions
        )
        consumers = []
        for i, partitions in enumerate(shares):
            consumer = launcher.launch(
                f"{self._label}-consumer-{i}",
                {
                    "bootstrap": self.cluster.bootstrap,
                    "topic": topic,
                    "client": self.client,
                    "warmup": plan.warmup,
                    "duration": plan.duration,
                    "role": "consumer",
                    "partitions": partitions,
                    "total_partitions": plan.partitions,
                    "consumer_index": i,
                    "consumers": len(shares),
                },
                slot=i,
            )
            agents.append(consumer)
            consumers.append(consumer)
        producer_agents = []
        split = launcher.plan_producers(producers, self.workers)
        if launcher.placement_note:
            result.notes.append(launcher.placement_note)
        consumer_host = launcher.host_of("consumer")
        producer_hosts = [launcher.host_of("producer", i) for i in range(len(split))]
        clock_agents: list[AgentHandle] = []
        if launcher.remote_clocks:  # stopped with the others, by run()
            clock_agents = launch_clock_agents(
                launcher, self._label, {consumer_host, *producer_hosts}
            )
            agents.extend(clock_agents)
        for i, (first, count) in enumerate(split):
            agent = launcher.launch(
                f"{self._label}-producers-{i}",
                {
                    "bootstrap": self.cluster.bootstrap,
                    "topic": topic,
                    "client": self.client,
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
                },
                slot=i,
            )
            agents.append(agent)
            producer_agents.append(agent)
        for agent in agents:
            agent.wait_for("ready", READY_TIMEOUT_S)
        # probed once everything is up and idle: no start-up load in the round trips
        clocks_before = probe_clocks(clock_agents)
        self._run_load(
            result,
            plan,
            faults,
            consumers,
            producer_agents,
            split,
            consumer_host,
            producer_hosts,
            clocks_before,
            progress,
            facts,
        )
        if clocks_before:
            clocks_after = probe_clocks(clock_agents)
            record_clocks(
                result,
                plan,
                consumer_host,
                producer_hosts,
                clocks_before,
                clocks_after,
                self.clock_correction,
                facts,
            )

    def _run_load(
        self,
        result: StepResult,
        plan: StepPlan,
        faults: Sequence[FaultEvent],
        consumers: list[AgentHandle],
        producer_agents: list[AgentHandle],
        split: list[tuple[int, int]],
        consumer_host: str,
        producer_hosts: list[str],
        clocks_before: dict[str, ClockOffset],
        progress: ProgressFn | None,
        facts: Facts,
    ) -> None:
        """Start every agent at one instant, wait for the producers, drain, merge."""
        t0_ns = time.time_ns() + int(START_LEAD_S * 1e9)
        shifts = (
            corrections(clocks_before, consumer_host, producer_hosts, split)
            if clocks_before and self.clock_correction
            else []
        )
        monitor = self.cluster.monitor
        sampler = ResourceSampler(monitor.read) if monitor is not None else None
        if monitor is None:
            result.resources = {"sources": {}, "missing": [self.cluster.monitor_note]}
        try:
            if monitor is not None and sampler is not None:
                monitor.take_problems()  # what an earlier step could not read is its own
                sampler.start()
            for agent in consumers:
                agent.send({"cmd": "start", "t0_ns": t0_ns, "corrections": shifts})
            for agent in producer_agents:
                agent.send({"cmd": "start", "t0_ns": t0_ns})
            killed: set[str] = set()
            timers = schedule_faults(
                result,
                faults,
                t0_ns,
                self.cluster.faults,
                self.cluster.site,
                producer_agents,
                killed,
            )
            produced = self._wait_produced(
                producer_agents, consumers, killed, t0_ns, plan, progress
            )
            for timer in timers:  # a fault planned after the producers finished never fires
                timer.cancel()
        finally:
            if monitor is not None and sampler is not None:
                start = t0_ns / 1e9 + plan.warmup
                result.resources = resource_figures(
                    sampler.stop(),
                    start,
                    start + plan.duration,
                    monitor.take_problems((start, start + plan.duration)),
                    sampler.error,
                )
                # the ceiling of a broker's CPU where it shares this host with the harness
                # (with a core split this process holds the harness's cores only)
                result.resources["host_cores"] = (
                    usable_core_count() + (self.cluster.broker_cores or 0)
                    if self.cluster.site in SINGLE_HOST_SITES
                    else None
                )
        reports = producer_reports(produced)
        expected: dict[int, ExpectedSends] = {
            pid: {"sent": rep.sent, "not_acked": sorted(rep.not_acked)}
            for pid, rep in reports.items()
        }
        cap = drain_cap_s(plan)
        for agent in consumers:
            agent.send(
                {"cmd": "drain", "expected": expected, "stall_timeout": DRAIN_STALL_S, "cap": cap}
            )
        consumed = [
            self._wait_drained(agent, cap, producer_agents, consumers, t0_ns, plan, progress)
            for agent in consumers
        ]
        if killed:
            result.killed_agents = len(killed)
            result.notes.append(
                f"{len(killed)} of {len(producer_agents)} producer agents killed on purpose:"
                " their producers' messages count as received only (their acks died with"
                " them), and the achieved rate no longer says whether the schedule was kept"
            )
        window = Window.of(t0_ns, plan.warmup, plan.duration)
        merge(result, plan, produced, consumed, reports, window, facts)

    def _wait_produced(
        self,
        producer_agents: list[AgentHandle],
        consumers: list[AgentHandle],
        killed: set[str],
        t0_ns: int,
        plan: StepPlan,
        progress: ProgressFn | None,
    ) -> list[ProducerResult]:
        """Every producer agent's result (but those killed on purpose), in order."""
        budget = START_LEAD_S + plan.warmup + plan.duration + FLUSH_CAP_S + 60.0
        deadline = time.monotonic() + budget
        produced: list[ProducerResult] = []
        for agent in producer_agents:
            while agent.name not in killed:
                try:
                    res = producer_result(agent.wait_for("result", 1.0))
                    produced.append({**res, "agent": agent.name, "agent_host": agent.host})
                    break
                except AgentTimeout:
                    if time.monotonic() > deadline:
                        raise
                    if progress is not None:
                        progress(self._progress_line(producer_agents, consumers, t0_ns, plan))
                except AgentError:
                    if agent.name not in killed:
                        raise
        return produced

    def _wait_drained(
        self,
        agent: AgentHandle,
        cap_s: float,
        producer_agents: list[AgentHandle],
        consumers: list[AgentHandle],
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
                    progress(self._progress_line(producer_agents, consumers, t0_ns, plan))

    @staticmethod
    def _partial_counts(agents: list[AgentHandle]) -> dict[str, int]:
        """What the agents had reported when the step broke off (their last progress)."""
        return {
            "sent": sum(int(a.last_progress.get("sent", 0)) for a in agents),
            "acked": sum(int(a.last_progress.get("acked", 0)) for a in agents),
            "received": sum(int(a.last_progress.get("received", 0)) for a in agents),
        }

    @staticmethod
    def _progress_line(
        agents: list[AgentHandle], consumers: list[AgentHandle], t0_ns: int, plan: StepPlan
    ) -> str:
        elapsed = max(0.0, (time.time_ns() - t0_ns) / 1e9)
        sent = sum(int(a.last_progress.get("sent", 0)) for a in agents)
        received = sum(int(c.last_progress.get("received", 0)) for c in consumers)
        p99s = [float(p) for c in consumers if (p := c.last_progress.get("p99_ms")) is not None]
        p99_text = f"{max(p99s):.1f}ms" if p99s else "-"
        return (
            f"{elapsed:5.1f}/{plan.warmup + plan.duration:g}s sent={sent}"
            f" received={received} p99={p99_text}"
        )

    def create_topic(self, topic: str, partitions: int) -> None:
        """A topic on this runner's cluster, as a step makes it (controller.topics)."""
        topics.create_topic(self.cluster.bootstrap, topic, partitions, len(self.cluster.brokers))
