"""The controller side of one step: topic, agents, schedule start, drain, merged result."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pytest_frida.config import StepPlan
from pytest_frida.faults import PRODUCER_ACTIONS, FaultEvent
from pytest_frida.measure.accounting import ProducerReport, SequenceTracker, account
from pytest_frida.measure.attribution import attribute, usages
from pytest_frida.measure.clocks import TRUST_SHARE, ClockOffset
from pytest_frida.measure.clocks import judge as judge_clocks
from pytest_frida.measure.clocks import probe as clock_probe
from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.measure.host_speed import SINGLE_HOST_SITES
from pytest_frida.measure.recovery import latency_bound_ms, recovered_after_s
from pytest_frida.measure.resources import resource_figures
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.sampler import ResourceSampler
from pytest_frida.measure.samples import measured_window
from pytest_frida.measure.steady import steady_state, trend_note
from pytest_frida.measure.verdict import ConsumerFacts, GeneratorFacts, StepFacts, judge
from pytest_frida.runtimes.agents import AgentError, AgentHandle, AgentTimeout, stop_agents
from pytest_frida.sites.base import Cluster
from pytest_frida.workload.consumer_shards import consumer_count, consumer_partitions
from pytest_frida.workload.schedule import LATE_LIMIT_S, Schedule, Window

READY_TIMEOUT_S = 120.0
START_LEAD_S = 1.0
#: producers stop waiting for acks this long after their last send (the agents'
#: `flush_timeout`); the client's own delivery timeout is usually longer, and the step's
#: `ack_wait` says when the cap cut the wait short
FLUSH_CAP_S = 30.0
#: a drain that received nothing new for this long, with acknowledged messages missing,
#: stops: those messages are lost
DRAIN_STALL_S = 15.0


def host_cores() -> int:
    """The cores this process may run on (its affinity), which bound a shared host."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def drain_cap_s(plan: StepPlan) -> float:
    """The longest a drain may go on while it still receives: a backlog four times the
    step's length (consumers four times slower than the load) still drains."""
    return max(120.0, 4.0 * (plan.warmup + plan.duration))


ProgressFn = Callable[[str], None]


class ClusterGone(RuntimeError):
    """The cluster did not answer before the step began."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class _Facts:
    """What a step gathered for its verdict, as it went."""

    generators: list[GeneratorFacts] = field(default_factory=list)
    consumers: list[ConsumerFacts] = field(default_factory=list)
    clocks_trusted: bool | None = None
    clock_detail: str = ""
    cluster_down: str | None = None
    harness_error: str | None = None
    drain_stop: str = "complete"
    undrained: int = 0
    earlier_loss: str | None = None


def _generator_facts(res: dict[str, Any]) -> GeneratorFacts:
    delay_p99 = LatencyHistogram.decode(res["publish_delay"]).percentile_ms(99) or 0.0
    if res.get("unsent"):  # the messages it never sent were as late as that at least
        unsent_p99 = LatencyHistogram.decode(res["unsent_delay"]).percentile_ms(99) or 0.0
        delay_p99 = max(delay_p99, unsent_p99)
    return GeneratorFacts(
        name=str(res.get("agent", "producer agent")),
        busy=float(res.get("scheduler_busy", 0.0)),
        intended=int(res.get("intended_in_window", 0)),
        sent=int(res.get("sends_in_window", 0)),
        publish_delay_p99_ms=delay_p99,
        final_publish_delay_ms=float(res.get("final_publish_delay_ms", 0.0)))


def _consumer_facts(res: dict[str, Any], plan: StepPlan, producers: int) -> ConsumerFacts:
    """Its figures, and the lag past which it delayed messages beyond the latency bound by
    itself: what reaches its share of the partitions within that bound. Lag figures without
    a sample at the window's end give no limit: the lag is unknown, and an unknown lag never
    clears a saturated consumer (measure.verdict)."""
    bound_ms = plan.slo.latency_bound_ms
    lag_limit = None
    # failed queries are counted over the agent's life (a topic without a leader yet at
    # its start fails some): the end sample is what must be there
    complete = int(res.get("lag_samples", 1)) > 0 and bool(res.get("lag_end_sampled", True))
    if bound_ms is not None and complete:
        share = len(res.get("partitions", [])) / plan.partitions if plan.partitions else 1.0
        lag_limit = max(1, round(producers * plan.rate * share * bound_ms / 1000.0))
    return ConsumerFacts(
        name=str(res.get("agent", "consumer")), busy=float(res.get("busy", 0.0)),
        cpu_share=float(res.get("cpu_share", 0.0)), lag_max=int(res.get("lag_max", 0)),
        lag_end=int(res.get("lag_end", 0)), throttled=float(res.get("throttled", 0.0)),
        lag_limit=lag_limit)


def _merge_timelines(timelines: Iterable[list[list[int]]]) -> list[list[int]]:
    """Per-second [second, received, worst latency us, latency sum us] rows of several
    consumers as one. A consumer without sums (an agent image built before them) leaves
    every row without its sum: a partial sum would give a wrong mean."""
    seconds: dict[int, list[int]] = {}
    sums = True
    for timeline in timelines:
        for second, count, worst, *total in timeline:
            row = seconds.setdefault(int(second), [0, 0, 0])
            row[0] += int(count)
            row[1] = max(row[1], int(worst))
            row[2] += int(total[0]) if total else 0
            sums = sums and bool(total)
    return [[sec, *(row if sums else row[:2])] for sec, row in sorted(seconds.items())]


def _sum_counts(parts: Iterable[dict[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            total[str(key)] = total.get(str(key), 0) + int(value)
    return dict(sorted(total.items(), key=lambda kv: int(kv[0])))


class StepRunner:
    """Runs steps of capacity tests against one cluster."""

    def __init__(self, cluster: Cluster, run_id: str, client: str,
                 workers: int | None = None, clock_correction: bool = True,
                 prime_s: float | None = None) -> None:
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

    def run(self, test: str, plan: StepPlan, producers: int,
            progress: ProgressFn | None = None,
            faults: Sequence[FaultEvent] = ()) -> StepResult:
        primer: StepResult | None = None
        # a first step with planned faults is never primed, whatever the setting
        unprimed = (self._prime_s == 0 and self._steps == 0 and not self._priming
                    and not faults)
        if not self._primed:  # the cluster's first step, and only that one
            self._primed = True
            if not faults:  # a fault's step measures its fault, not a warm broker
                primer = self._prime(test, plan, producers, progress)
        if self._priming:  # numbered steps are measured ones (logs, topics)
            self._label = "prime"
        else:
            self._steps += 1
            self._label = f"step{self._steps}"
        window = measured_window(plan.slo, producers, plan.rate, plan.duration,
                                 plan.max_duration)
        planned_duration = plan.duration
        plan = replace(plan, duration=window.duration_s)
        result = StepResult(
            test=test, producers=producers, rate_per_producer=plan.rate,
            duration_s=plan.duration, warmup_s=plan.warmup, message_size=plan.message_size,
            partitions=plan.partitions, slo=str(plan.slo),
            producer_config=dict(plan.producer_config),
            consumer_setting="auto" if plan.consumers is None else str(plan.consumers),
            started_at=_now(),
            samples={"required": window.required_samples, "planned": window.planned_samples},
        )
        if window.lengthened:
            result.samples["planned_duration_s"] = planned_duration
        if window.describe():
            result.notes.append(window.describe())
        if primer is not None or unprimed:
            result.primed_s = self._prime_s
        if unprimed:
            result.notes.append("the cluster's first step: not primed (prime 0 s), so its"
                                " first seconds may have met a broker still cold")
        if primer is not None:
            result.notes.append(
                f"the cluster's first step: primed by an unmeasured {self._prime_s:g}s run at"
                f" this load first (p99 {primer.latency.get('p99')} ms, verdict"
                f" {primer.verdict})")
        earlier_loss = None
        if primer is not None and primer.definitive:
            earlier_loss = ("the unmeasured priming run just before this step"
                            " counted messages that did not get through: "
                            + "; ".join(v.describe() for v in primer.verdicts if not v.passed))
        topic = re.sub(r"[^a-zA-Z0-9._-]", "-", f"frida-{self.run_id}-{self._label}")
        agents: list[AgentHandle] = []
        facts = _Facts(earlier_loss=earlier_loss)
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
                    f"; {result.error}" if result.error else "")
            stop_agents(agents)
            if not interrupted and problem is None:
                # a cluster that does not answer (or is going away) takes its topics along;
                # asking it would only wait for the client's timeouts
                self._delete_topic(topic)
            result.ended_at = _now()
            if not interrupted:
                self._judge(result, plan, faults, facts)
                self._attribute(result)
        return result

    def _attribute(self, result: StepResult) -> None:
        """What saturated, from the step's resources and its agents (measure.attribution)."""
        if not result.resources.get("sources"):
            return
        cores = result.resources.get("host_cores")
        own = self.cluster.broker_cores  # brokers on cores of their own: nothing shared
        # agents that never reported (the step broke off) leave the harness unmeasured:
        # unknown, not idle
        measured = bool(result.generators) and bool(result.consumers)
        found = usages(
            result.resources["sources"], cores, cores is not None and not own,
            result.generator_busy if measured else None,
            max((float(c.get("busy", 0.0)) for c in result.consumers), default=None)
            if measured else None,
            (sum(float(g.get("cpu_share", 0.0)) for g in result.generators),
             sum(float(c.get("cpu_share", 0.0)) for c in result.consumers))
            if measured else None, own, self.cluster.shared_nodes)
        result.attribution = attribute(
            found, result.verdict in ("generator_bound", "consumer_bound"), measured)

    def _prime(self, test: str, plan: StepPlan, producers: int,
               progress: ProgressFn | None) -> StepResult:
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

    def _measure(self, result: StepResult, plan: StepPlan, producers: int, topic: str,
                 agents: list[AgentHandle], progress: ProgressFn | None,
                 faults: Sequence[FaultEvent], facts: _Facts) -> None:
        launcher = self.cluster.launcher
        common: dict[str, Any] = {
            "bootstrap": self.cluster.bootstrap, "topic": topic, "client": self.client,
            "warmup": plan.warmup, "duration": plan.duration,
        }
        # every agent starts at once (starting is the slow part) and is waited for after
        shares = consumer_partitions(
            consumer_count(plan.consumers, producers * plan.rate, plan.partitions),
            plan.partitions)
        consumers = []
        for i, partitions in enumerate(shares):
            consumer = launcher.launch(f"{self._label}-consumer-{i}", {
                **common, "role": "consumer", "partitions": partitions,
                "total_partitions": plan.partitions, "consumer_index": i,
                "consumers": len(shares)}, slot=i)
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
            clock_agents = self._launch_clock_agents({consumer_host, *producer_hosts})
            agents.extend(clock_agents)
        for i, (first, count) in enumerate(split):
            agent = launcher.launch(f"{self._label}-producers-{i}", {
                **common, "role": "producer", "first_producer": first, "producer_count": count,
                "total_producers": producers, "rate": plan.rate,
                "message_size": plan.message_size, "producer_settings": plan.producer_config,
                "partitions": plan.partitions,
            }, slot=i)
            agents.append(agent)
            producer_agents.append(agent)
        for agent in agents:
            agent.wait_for("ready", READY_TIMEOUT_S)
        # probed once everything is up and idle: no start-up load in the round trips
        clocks_before = self._probe_clocks(clock_agents)
        self._run_load(result, plan, faults, consumers, producer_agents, split, consumer_host,
                       producer_hosts, clocks_before, progress, facts)
        if clocks_before:
            clocks_after = self._probe_clocks(clock_agents)
            self._judge_clocks(result, plan, consumer_host, producer_hosts, clocks_before,
                               clocks_after, facts)

    def _run_load(self, result: StepResult, plan: StepPlan, faults: Sequence[FaultEvent],
                  consumers: list[AgentHandle], producer_agents: list[AgentHandle],
                  split: list[tuple[int, int]], consumer_host: str, producer_hosts: list[str],
                  clocks_before: dict[str, ClockOffset], progress: ProgressFn | None,
                  facts: _Facts) -> None:
        """Start every agent at one instant, wait for the producers, drain, merge."""
        t0_ns = time.time_ns() + int(START_LEAD_S * 1e9)
        corrections = []
        if clocks_before and self.clock_correction:
            own = clocks_before[consumer_host].offset_ms
            corrections = [[first, count, round((own - clocks_before[producer_hosts[i]]
                                                 .offset_ms) * 1e6)]
                           for i, (first, count) in enumerate(split)]
        monitor = self.cluster.monitor
        sampler = ResourceSampler(monitor.read) if monitor is not None else None
        if monitor is None:
            result.resources = {"sources": {}, "missing": [self.cluster.monitor_note]}
        try:
            if monitor is not None and sampler is not None:
                monitor.take_problems()  # what an earlier step could not read is its own
                sampler.start()
            for agent in consumers:
                agent.send({"cmd": "start", "t0_ns": t0_ns, "corrections": corrections})
            for agent in producer_agents:
                agent.send({"cmd": "start", "t0_ns": t0_ns})
            killed: set[str] = set()
            timers = self._schedule_faults(result, faults, t0_ns, producer_agents, killed)
            produced = self._wait_produced(producer_agents, consumers, killed, t0_ns, plan,
                                           progress)
            for timer in timers:  # a fault planned after the producers finished never fires
                timer.cancel()
        finally:
            if monitor is not None and sampler is not None:
                start = t0_ns / 1e9 + plan.warmup
                result.resources = resource_figures(
                    sampler.stop(), start, start + plan.duration,
                    monitor.take_problems((start, start + plan.duration)),
                    sampler.error)
                # the ceiling of a broker's CPU where it shares this host with the harness
                # (with a core split this process holds the harness's cores only)
                result.resources["host_cores"] = (
                    host_cores() + (self.cluster.broker_cores or 0)
                    if self.cluster.site in SINGLE_HOST_SITES else None)
        reports = {int(pid): ProducerReport(int(r["sent"]), list(r.get("failed", [])),
                                            list(r.get("unacked", [])))
                   for res in produced for pid, r in res["producers"].items()}
        expected = {pid: {"sent": rep.sent, "not_acked": sorted(rep.not_acked)}
                    for pid, rep in reports.items()}
        cap = drain_cap_s(plan)
        for agent in consumers:
            agent.send({"cmd": "drain", "expected": expected, "stall_timeout": DRAIN_STALL_S,
                        "cap": cap})
        consumed = [self._wait_drained(agent, cap, producer_agents, consumers, t0_ns, plan,
                                       progress) for agent in consumers]
        if killed:
            result.killed_agents = len(killed)
            result.notes.append(
                f"{len(killed)} of {len(producer_agents)} producer agents killed on purpose:"
                " their producers' messages count as received only (their acks died with"
                " them), and the achieved rate no longer says whether the schedule was kept")
        window = Window.of(t0_ns, plan.warmup, plan.duration)
        self._merge(result, plan, produced, consumed, reports, window, facts)

    def _wait_produced(self, producer_agents: list[AgentHandle],
                       consumers: list[AgentHandle], killed: set[str], t0_ns: int,
                       plan: StepPlan, progress: ProgressFn | None) -> list[dict[str, Any]]:
        """Every producer agent's result (but those killed on purpose), in order."""
        budget = START_LEAD_S + plan.warmup + plan.duration + FLUSH_CAP_S + 60.0
        deadline = time.monotonic() + budget
        produced = []
        for agent in producer_agents:
            while agent.name not in killed:
                try:
                    produced.append({**agent.wait_for("result", 1.0), "agent": agent.name,
                                     "agent_host": agent.host})
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

    def _wait_drained(self, agent: AgentHandle, cap_s: float,
                      producer_agents: list[AgentHandle], consumers: list[AgentHandle],
                      t0_ns: int, plan: StepPlan, progress: ProgressFn | None
                      ) -> dict[str, Any]:
        """A consumer's result; its drain ends by itself (complete, stalled or capped)."""
        deadline = time.monotonic() + cap_s + 30.0
        while True:
            try:
                return {**agent.wait_for("result", 1.0), "agent": agent.name}
            except AgentTimeout:
                if time.monotonic() > deadline:
                    raise
                if progress is not None:
                    progress(self._progress_line(producer_agents, consumers, t0_ns, plan))

    def _launch_clock_agents(self, hosts: set[str]) -> list[AgentHandle]:
        """A clock agent on each host; the same ones answer before and after the load."""
        return [self.cluster.launcher.launch(f"{self._label}-clock-{host}",
                                             {"role": "clock", "host": host})
                for host in sorted(hosts)]

    @staticmethod
    def _probe_clocks(agents: list[AgentHandle]) -> dict[str, ClockOffset]:
        """Each agent host's clock offset against this controller. The pings go one host at
        a time, so no round trip waits behind another host's."""
        offsets = {}
        for agent in agents:
            def ping(i: int, agent: AgentHandle = agent) -> int:
                agent.send({"id": i})
                return int(agent.wait_for("pong", 10.0)["t_ns"])

            offsets[agent.host] = clock_probe(agent.host, ping)
        return offsets

    def _judge_clocks(self, result: StepResult, plan: StepPlan, consumer_host: str,
                      producer_hosts: list[str], before: dict[str, ClockOffset],
                      after: dict[str, ClockOffset], facts: _Facts) -> None:
        verdict = judge_clocks(consumer_host, producer_hosts, before, after,
                               self.clock_correction and bool(before),
                               plan.slo.latency_bound_ms)
        result.clocks = {
            "consumer_host": consumer_host, "corrected": verdict.corrected,
            "error_ms": verdict.error_ms, "trusted": verdict.trusted,
            "before": {h: o.to_dict() for h, o in before.items()},
            "after": {h: o.to_dict() for h, o in after.items()},
        }
        facts.clocks_trusted = verdict.trusted
        facts.clock_detail = (
            f"a cross-host latency may be off by {verdict.error_ms:.1f}ms, over"
            f" {TRUST_SHARE:.0%} of the {verdict.bound_ms:g}ms latency bound"
            f" ({verdict.detail})")

    def _schedule_faults(self, result: StepResult, faults: Sequence[FaultEvent],
                         t0_ns: int, producer_agents: list[AgentHandle],
                         killed: set[str]) -> list[threading.Timer]:
        broker_faults = [e for e in faults if e.action not in PRODUCER_ACTIONS]
        if broker_faults and self.cluster.faults is None:
            raise RuntimeError(f"the {self.cluster.site} site cannot inject faults")
        injector = self.cluster.faults
        timers = []
        for event in faults:
            def fire(event: FaultEvent = event) -> None:
                at = (time.time_ns() - t0_ns) / 1e9
                try:
                    if event.action in PRODUCER_ACTIONS:
                        self._kill_producers(producer_agents, float(event.value or 0), killed)
                    else:
                        assert injector is not None
                        injector.apply(event.action, event.broker, event.value)
                    outcome = "done"
                except Exception as exc:  # recorded, and the step goes on
                    outcome = f"failed: {exc}"
                result.faults.append({"planned_s": event.at_s, "at_s": round(at, 3),
                                      "action": event.action, "broker": event.broker,
                                      "value": event.value, "outcome": outcome})
                result.notes.append(f"fault at +{at:.1f}s: {event.describe()} ({outcome})")

            delay = max(0.0, (t0_ns - time.time_ns()) / 1e9 + event.at_s)
            timer = threading.Timer(delay, fire)
            timer.daemon = True
            timer.start()
            timers.append(timer)
        return timers

    @staticmethod
    def _kill_producers(agents: list[AgentHandle], share: float, killed: set[str]) -> None:
        """SIGKILL the first ceil(share x agents) producer agents: their producers stop
        mid-schedule, their unacknowledged messages die with them."""
        count = max(1, math.ceil(share * len(agents)))
        for agent in agents[:count]:
            killed.add(agent.name)
            agent.process.send_signal(signal.SIGKILL)

    @staticmethod
    def _partial_counts(agents: list[AgentHandle]) -> dict[str, int]:
        """What the agents had reported when the step broke off (their last progress)."""
        counts = {"sent": 0, "acked": 0, "received": 0}
        for agent in agents:
            for key in counts:
                counts[key] += int(agent.last_progress.get(key, 0))
        return counts

    @staticmethod
    def _progress_line(agents: list[AgentHandle], consumers: list[AgentHandle], t0_ns: int,
                       plan: StepPlan) -> str:
        elapsed = max(0.0, (time.time_ns() - t0_ns) / 1e9)
        sent = sum(int(a.last_progress.get("sent", 0)) for a in agents)
        received = sum(int(c.last_progress.get("received", 0)) for c in consumers)
        p99s = [float(p) for c in consumers if (p := c.last_progress.get("p99_ms")) is not None]
        p99_text = f"{max(p99s):.1f}ms" if p99s else "-"
        return (f"{elapsed:5.1f}/{plan.warmup + plan.duration:g}s sent={sent}"
                f" received={received} p99={p99_text}")

    def _merge(self, result: StepResult, plan: StepPlan, produced: list[dict[str, Any]],
               consumed: list[dict[str, Any]], reports: dict[int, ProducerReport],
               window: Window, facts: _Facts) -> None:
        publish_delay, publish_latency = LatencyHistogram(), LatencyHistogram()
        for res in produced:
            publish_delay.add_encoded(res["publish_delay"])
            publish_latency.add_encoded(res["publish_latency"])
        e2e, e2e_send = LatencyHistogram(), LatencyHistogram()
        trackers: dict[int, SequenceTracker] = {}
        for res in consumed:
            e2e.add_encoded(res["e2e"])
            e2e_send.add_encoded(res["e2e_from_send"])
            for pid, data in res["trackers"].items():
                tracker = SequenceTracker.from_dict(data)
                if int(pid) in trackers:
                    trackers[int(pid)].merge(tracker)
                else:
                    trackers[int(pid)] = tracker
        unsent = sum(int(r.get("unsent", 0)) for r in produced)
        for res in produced:  # never sent, never received: their delay so far, a lower bound
            if res.get("unsent"):
                e2e.add_encoded(res["unsent_delay"])
                publish_delay.add_encoded(res["unsent_delay"])
        unanswered = self._unanswered_ages(plan, result.producers, produced, trackers, window)
        e2e.record_batch_us(unanswered)
        result.counts = account(trackers, reports)
        result.achieved_rate = sum(int(r.get("acks_in_window", 0)) for r in produced) \
            / plan.duration
        result.delivered_rate = sum(int(c.get("received_in_window", 0)) for c in consumed) \
            / plan.duration
        result.latency = e2e.summary_ms()
        result.samples["measured"] = e2e.count
        result.latency_from_send = e2e_send.summary_ms()
        result.publish_latency = publish_latency.summary_ms()
        result.publish_latency_error_ms = max(
            (float(r.get("publish_latency_error_ms", 0.0)) for r in produced), default=None)
        result.publish_delay = publish_delay.summary_ms()
        result.latency_curve = e2e.percentile_curve()
        result.timeline = _merge_timelines(c.get("timeline", []) for c in consumed)
        result.steady = steady_state(result.timeline, plan.warmup, plan.duration).to_dict()
        result.notes += trend_note(result.steady, plan.warmup)
        self._recovery(result, plan)
        result.histograms = {"e2e": e2e.encode(), "publish_delay": publish_delay.encode()}
        facts.generators = [_generator_facts(r) for r in produced]
        facts.consumers = [_consumer_facts(c, plan, result.producers) for c in consumed]
        result.generators = [{**asdict(g), "behind": g.behind, "saturated": g.saturated,
                              "cpu_share": float(r.get("cpu_share", 0.0)),
                              "rss_mib": float(r.get("rss_mib", 0.0))}
                             for g, r in zip(facts.generators, produced, strict=True)]
        result.consumers = [{**asdict(f), "saturated": f.saturated,
                             "held_back": f.held_back, "host": c.get("host"),
                             "partitions": c.get("partitions", []),
                             "received_in_window": c.get("received_in_window", 0),
                             "drain_stop": c.get("drain_stop"),
                             **{k: c[k] for k in ("loop_busy", "cpu_wait", "throttled",
                                                  "lag_samples", "lag_failed", "drain_missing")
                                        if k in c}}
                            for f, c in zip(facts.consumers, consumed, strict=True)]
        result.generator_cpu = max((float(r["cpu_share"]) for r in produced), default=0.0)
        result.generator_busy = max((g.busy for g in facts.generators), default=0.0)
        result.final_publish_delay_ms = max(
            (float(r.get("final_publish_delay_ms", 0.0)) for r in produced), default=0.0)
        result.generator_rss_mib = sum(float(r.get("rss_mib", 0.0)) for r in produced)
        result.partition_counts = {
            "sent": _sum_counts(r.get("partition_sent", {}) for r in produced),
            "received": _sum_counts(c.get("partition_received", {}) for c in consumed)}
        self._ack_wait(result, produced)
        stops = {str(c.get("drain_stop", "complete" if c.get("drained", True) else "stalled"))
                 for c in consumed}
        facts.drain_stop = next((s for s in ("cap", "stalled") if s in stops), "complete")
        facts.undrained = sum(int(c.get("drain_missing", 0)) for c in consumed
                              if c.get("drain_stop") == "cap")
        result.drain_stop = facts.drain_stop
        hosts = sorted({str(c.get("host")) for c in consumed if c.get("host")})
        result.notes.append(f"{len(consumed)} consumer(s) on {', '.join(hosts) or 'one host'},"
                            f" partitions {[c.get('partitions') for c in consumed]}")
        queue_full = sum(int(r.get("queue_full", 0)) for r in produced)
        if queue_full:
            result.notes.append(f"client send queues were full {queue_full} times")
        if unsent:
            result.notes.append(
                f"producers were still over {LATE_LIMIT_S:g}s behind schedule when the step"
                f" ended: {unsent} scheduled messages were never sent; those due in the"
                " measured window count in latency and publish delay at the delay reached")
        if unanswered:
            result.notes.append(
                f"{len(unanswered)} measured messages had no successful ack and never arrived:"
                " they count in latency at the age they had reached when the step stopped"
                " waiting (a lower bound)")
        if facts.drain_stop == "stalled":
            result.notes.append(
                f"the consumers received nothing new for {DRAIN_STALL_S:g}s while acknowledged"
                " messages were missing: those are counted as lost")
        elif facts.drain_stop == "cap":
            result.notes.append(
                "the consumers were still receiving when the drain ended after"
                f" {drain_cap_s(plan):g}s")

    @staticmethod
    def _unanswered_ages(plan: StepPlan, producers: int, produced: list[dict[str, Any]],
                         trackers: dict[int, SequenceTracker], window: Window) -> list[int]:
        """Latency (us) of measured messages without a successful ack (unanswered, or
        refused) that never arrived: their age when their agent stopped waiting, a lower
        bound on the latency they would have had."""
        if plan.rate <= 0:  # a throughput probe has no intended send times
            return []
        schedule = Schedule(plan.rate, producers, window)
        ages = []
        for res in produced:
            gave_up_ns = int(res.get("gave_up_ns", 0))
            for pid, rep in res["producers"].items():
                tracker = trackers.get(int(pid))
                for seq in [*rep.get("unacked", []), *rep.get("failed", [])]:
                    if tracker is not None and tracker.has(int(seq)):
                        continue
                    intended = schedule.intended_ns(int(pid), int(seq))
                    if window.measured(intended):
                        ages.append(max(0, gave_up_ns - intended) // 1000)
        return ages

    @staticmethod
    def _ack_wait(result: StepResult, produced: list[dict[str, Any]]) -> None:
        """How the wait for acks ended, against the client's own delivery timeout."""
        timeouts = [float(r["delivery_timeout_s"]) for r in produced
                    if r.get("delivery_timeout_s") is not None]
        early = any(bool(r.get("gave_up_early")) for r in produced)
        result.ack_wait = {"delivery_timeout_s": max(timeouts, default=None),
                           "flush_cap_s": FLUSH_CAP_S, "gave_up_early": early}
        if early:
            result.notes.append(
                f"the step stopped waiting for acks after {FLUSH_CAP_S:g}s, before the"
                f" client's delivery timeout of {max(timeouts, default=0):g}s: messages still"
                " pending then are counted unacked")

    @staticmethod
    def _recovery(result: StepResult, plan: StepPlan) -> None:
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
                f"{fault['action']} at +{fault['at_s']:.1f}s: " + (
                    f"latency back within {bound:g}ms after {after:.1f}s" if after is not None
                    else f"latency not back within {bound:g}ms before the step ended"))

    @staticmethod
    def _judge(result: StepResult, plan: StepPlan, faults: Sequence[FaultEvent],
               facts: _Facts) -> None:
        """The verdict, made by measure.verdict from the facts gathered above."""
        verdict = judge(StepFacts(
            slo=plan.slo, metrics=result.slo_metrics(), generators=facts.generators,
            consumers=facts.consumers, clocks_trusted=facts.clocks_trusted,
            clock_detail=facts.clock_detail, cluster_down=facts.cluster_down,
            planned_broker_fault=any(e.action not in PRODUCER_ACTIONS for e in faults),
            harness_error=facts.harness_error, drain_stop=facts.drain_stop,
            undrained=facts.undrained, samples=result.samples.get("planned"),
            required_samples=int(result.samples.get("required", 0)),
            earlier_loss=facts.earlier_loss))
        result.verdict = verdict.verdict
        result.verdicts = list(verdict.clauses)
        result.withheld = list(verdict.withheld)
        result.generator_bound = any(g.bound for g in facts.generators)
        result.reasons = list(verdict.reasons)

    def _admin(self) -> Any:
        from kafka import KafkaAdminClient

        return KafkaAdminClient(bootstrap_servers=self.cluster.bootstrap,
                                client_id="frida-controller", request_timeout_ms=30_000)

    def create_topic(self, topic: str, partitions: int) -> None:
        from kafka.admin import NewTopic

        admin = self._admin()
        try:
            rf = min(3, len(self.cluster.brokers))
            admin.create_topics([NewTopic(topic, partitions, rf)], timeout_ms=30_000)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # wait until every partition has a leader
                meta = admin.describe_topics([topic])
                parts = meta[0].get("partitions", []) if meta else []
                if len(parts) == partitions and all(p.get("leader_id", -1) >= 0 for p in parts):
                    return
                time.sleep(0.2)
            raise RuntimeError(f"topic {topic} got no leaders within 30s")
        finally:
            admin.close()

    def _delete_topic(self, topic: str) -> None:
        try:
            admin = self._admin()
        except Exception:
            return
        try:
            admin.delete_topics([topic], timeout_ms=10_000)
        except Exception:
            pass
        finally:
            admin.close()
