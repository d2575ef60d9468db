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
from collections.abc import Sequence
from dataclasses import replace

from pytest_frida.config import StepPlan
from pytest_frida.controller import topics
from pytest_frida.controller.clocks import corrections, probe_clocks, record_clocks
from pytest_frida.controller.fault_timers import schedule_faults
from pytest_frida.controller.fleet import (
    START_LEAD_S,
    Fleet,
    StepTarget,
    launch_fleet,
    partial_counts,
    wait_drained,
    wait_produced,
)
from pytest_frida.controller.merge import DRAIN_STALL_S, drain_cap_s, merge, producer_reports
from pytest_frida.controller.verdicts import Facts, attribute_step, judge_step
from pytest_frida.faults import FaultEvent
from pytest_frida.measure import priming
from pytest_frida.measure.clocks import ClockOffset
from pytest_frida.measure.host_speed import SINGLE_HOST_SITES, usable_core_count
from pytest_frida.measure.resources import resource_figures
from pytest_frida.measure.result import StepResult, utc_now
from pytest_frida.measure.sampler import ResourceSampler
from pytest_frida.measure.samples import MeasuredWindow, measured_window
from pytest_frida.progress import ProgressFn
from pytest_frida.runtimes.agents import AgentHandle, stop_agents
from pytest_frida.sites.base import Cluster
from pytest_frida.workload.market import workload_figures
from pytest_frida.workload.protocol import ExpectedSends
from pytest_frida.workload.schedule import Window


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
        workload=workload_figures(plan.market, producers, plan.rate),
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
        #: what this step's agents and topic are named after: step<N>, or prime<N>
        self._label = "step0"
        self._priming = False
        self._primes = 0
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
        primers: list[StepResult] = []
        # a first step with planned faults is never primed, whatever the setting
        unprimed = self._prime_s == 0 and self._steps == 0 and not self._priming and not faults
        if not self._primed:  # the cluster's first step, and only that one
            self._primed = True
            if not faults:  # a fault's step measures its fault, not a warm broker
                primers = self._prime(test, plan, producers, progress)
        if self._priming:  # numbered steps are measured ones (logs, topics)
            # a topic of its own per priming run: Kafka deletes the last one in the
            # background, and a name still taken would make the run an error
            self._primes += 1
            self._label = f"prime{self._primes}"
        else:
            self._steps += 1
            self._label = f"step{self._steps}"
        window = measured_window(plan.slo, producers, plan.rate, plan.duration, plan.max_duration)
        planned_duration = plan.duration
        plan = replace(plan, duration=window.duration_s)
        result = _new_result(test, plan, producers, window)
        if window.lengthened:
            result.samples["planned_duration_s"] = planned_duration
        earlier_loss, earlier_unknown = self._note_priming(result, primers, unprimed)
        topic = re.sub(r"[^a-zA-Z0-9._-]", "-", f"frida-{self.run_id}-{self._label}")
        agents: list[AgentHandle] = []
        facts = Facts(earlier_loss=earlier_loss, earlier_unknown=earlier_unknown)
        interrupted = False
        try:
            # a cluster already gone fails here, not after the admin client's timeouts
            gone = self.cluster.health()
            if gone is not None:
                raise ClusterGone(gone)
            self.create_topic(topic, plan.partitions, plan.replication, plan.min_insync)
            self._measure(result, plan, producers, topic, agents, progress, faults, facts)
        except ClusterGone:
            pass  # said below, once
        except Exception as exc:  # any failure to measure (client errors included) is
            # this step's result; what it means is the verdict's business
            facts.harness_error = f"{type(exc).__name__}: {exc}"
            result.error = str(exc)
            result.partial_counts = partial_counts(agents)
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
        self, result: StepResult, primers: list[StepResult], unprimed: bool
    ) -> tuple[str | None, str | None]:
        """Say on the cluster's first step how it was primed; what a priming run lost,
        which fails this step (StepFacts.earlier_loss), and what it left unknown, which
        keeps this step from passing (StepFacts.earlier_unknown)."""
        if primers or unprimed:
            result.primed_s = self._prime_s
        if unprimed:
            result.notes.append(
                "the cluster's first step: not primed (prime 0 s), so its"
                " first seconds may have met a broker still cold"
            )
        if not primers:
            return None, None
        result.notes.append(priming.describe(_rounds(primers), self._prime_s or 0.0))
        return priming.carried_over(primers)

    def _prime(
        self, test: str, plan: StepPlan, producers: int, progress: ProgressFn | None
    ) -> list[StepResult]:
        """Before the cluster's first measured step: the same load, unmeasured, for
        `prime_s`, again until the cluster has settled (measure.priming). A broker just
        started runs its first seconds interpreted and with cold caches, and its first
        step measured that rather than the load. Their latency is thrown away; messages
        they lost fail the step after them (StepFacts.earlier_loss)."""
        seconds = self._prime_s or 0.0
        primer = replace(plan, duration=seconds, warmup=0.0, max_duration=seconds)
        primers: list[StepResult] = []
        self._priming = True
        try:
            while not priming.primed_enough(_rounds(primers)):
                primers.append(self.run(test, primer, producers, progress))
                if primers[-1].cluster_down is not None:
                    break
        finally:
            self._priming = False
        return primers

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
        target = StepTarget(self.cluster.bootstrap, topic, self.client)
        fleet = launch_fleet(
            launcher, self._label, target, plan, producers, self.workers, agents, result.notes
        )
        # probed once everything is up and idle: no start-up load in the round trips
        clocks_before = probe_clocks(fleet.clocks)
        self._run_load(result, plan, faults, fleet, clocks_before, progress, facts)
        if clocks_before:
            clocks_after = probe_clocks(fleet.clocks)
            record_clocks(
                result,
                plan,
                fleet.consumer_host,
                fleet.producer_hosts,
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
        fleet: Fleet,
        clocks_before: dict[str, ClockOffset],
        progress: ProgressFn | None,
        facts: Facts,
    ) -> None:
        """Start every agent at one instant, wait for the producers, drain, merge."""
        t0_ns = time.time_ns() + int(START_LEAD_S * 1e9)
        shifts = (
            corrections(clocks_before, fleet.consumer_host, fleet.producer_hosts, fleet.split)
            if clocks_before and self.clock_correction
            else []
        )
        monitor = self.cluster.monitor
        sampler = ResourceSampler(monitor.read) if monitor is not None else None
        if monitor is None:
            result.resources = {"sources": {}, "missing": [self.cluster.monitor_note]}
        # this process's CPU over the sampling (its threads: the sampler, the agents'
        # event readers): the run's own, where other work on the host is worked out
        cpu_start, wall_start = time.process_time(), time.monotonic()
        try:
            if monitor is not None and sampler is not None:
                monitor.take_problems()  # what an earlier step could not read is its own
                sampler.start()
            for agent in fleet.consumers:
                agent.send({"cmd": "start", "t0_ns": t0_ns, "corrections": shifts})
            for agent in fleet.producers:
                agent.send({"cmd": "start", "t0_ns": t0_ns})
            killed: set[str] = set()
            timers = schedule_faults(
                result,
                faults,
                t0_ns,
                self.cluster.faults,
                self.cluster.site,
                fleet.producers,
                killed,
            )
            produced = wait_produced(fleet, killed, t0_ns, plan, progress)
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
                wall = time.monotonic() - wall_start
                if wall > 0:
                    result.resources["controller_cores"] = round(
                        (time.process_time() - cpu_start) / wall, 4
                    )
        reports = producer_reports(produced)
        expected: dict[int, ExpectedSends] = {
            pid: {"sent": rep.sent, "not_acked": sorted(rep.not_acked)}
            for pid, rep in reports.items()
        }
        cap = drain_cap_s(plan)
        for agent in fleet.consumers:
            agent.send(
                {"cmd": "drain", "expected": expected, "stall_timeout": DRAIN_STALL_S, "cap": cap}
            )
        consumed = [
            wait_drained(fleet, agent, cap, t0_ns, plan, progress) for agent in fleet.consumers
        ]
        if killed:
            result.killed_agents = len(killed)
            result.notes.append(
                f"{len(killed)} of {len(fleet.producers)} producer agents killed on purpose:"
                " their producers' messages count as received only (their acks died with"
                " them), and the achieved rate no longer says whether the schedule was kept"
            )
        window = Window.of(t0_ns, plan.warmup, plan.duration)
        merge(result, plan, produced, consumed, reports, window, facts)

    def create_topic(
        self,
        topic: str,
        partitions: int,
        replication: int | None = None,
        min_insync: int | None = None,
    ) -> None:
        """A topic on this runner's cluster, as a step makes it (controller.topics)."""
        topics.create_topic(
            self.cluster.bootstrap,
            topic,
            partitions,
            len(self.cluster.brokers),
            replication,
            min_insync,
        )


def _rounds(primers: Sequence[StepResult]) -> list[tuple[str, float | None, bool]]:
    return [(p.verdict, p.latency.get("p99"), p.definitive) for p in primers]
