"""The controller side of one step: topic, agents, schedule start, drain, merged result."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pytest_frida.config import StepPlan
from pytest_frida.faults import PRODUCER_ACTIONS, FaultEvent
from pytest_frida.measure.accounting import ProducerReport, SequenceTracker, account
from pytest_frida.measure.clocks import TRUST_SHARE, ClockOffset
from pytest_frida.measure.clocks import judge as judge_clocks
from pytest_frida.measure.clocks import probe as clock_probe
from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.measure.recovery import latency_bound_ms, recovered_after_s
from pytest_frida.measure.result import StepResult
from pytest_frida.runtimes.agents import AgentError, AgentHandle, AgentTimeout, stop_agents
from pytest_frida.sites.base import Cluster
from pytest_frida.workload.schedule import LATE_LIMIT_S

#: a step is behind schedule when it achieves less than this share of the target rate
RATE_TOLERANCE = 0.95
#: ... or when the p99 gap between intended and actual send exceeds this (ms)
PUBLISH_DELAY_LIMIT_MS = 50.0
#: a producer agent whose scheduler thread runs or waits for a CPU this share of the time is
#: saturated (by its own work under the GIL, or by a host too busy to give it a core)
SATURATED = 0.85
READY_TIMEOUT_S = 120.0
START_LEAD_S = 1.0

ProgressFn = Callable[[str], None]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class StepRunner:
    """Runs steps of capacity tests against one cluster."""

    def __init__(self, cluster: Cluster, run_id: str, client: str,
                 workers: int | None = None, clock_correction: bool = True) -> None:
        self.cluster = cluster
        self.run_id = run_id
        self.client = client
        self.workers = workers or os.cpu_count() or 1
        self.clock_correction = clock_correction
        self._steps = 0

    def run(self, test: str, plan: StepPlan, producers: int,
            progress: ProgressFn | None = None,
            faults: Sequence[FaultEvent] = ()) -> StepResult:
        self._steps += 1
        result = StepResult(
            test=test, producers=producers, rate_per_producer=plan.rate,
            duration_s=plan.duration, warmup_s=plan.warmup, message_size=plan.message_size,
            partitions=plan.partitions, slo=str(plan.slo), started_at=_now(),
        )
        topic = re.sub(r"[^a-zA-Z0-9._-]", "-", f"frida-{self.run_id}-{self._steps}")
        agents: list[AgentHandle] = []
        interrupted = False
        try:
            self.create_topic(topic, plan.partitions)
            self._measure(result, plan, producers, topic, agents, progress, faults)
        except (AgentError, RuntimeError, OSError) as exc:
            result.verdict = "error"
            result.error = str(exc)
            result.partial_counts = self._partial_counts(agents)
        except BaseException:  # Ctrl-C, SIGTERM: out of here fast, teardown does the rest
            interrupted = True
            raise
        finally:
            problem = None if interrupted else self.cluster.health()
            if problem is not None:
                result.verdict = "error"
                result.error = f"the cluster stopped answering during the step: {problem}" + (
                    f"; {result.error}" if result.error else "")
            stop_agents(agents)
            if not interrupted and problem is None:
                # a cluster that does not answer (or is going away) takes its topics along;
                # asking it would only wait for the client's timeouts
                self._delete_topic(topic)
            result.ended_at = _now()
        return result

    def _measure(self, result: StepResult, plan: StepPlan, producers: int, topic: str,
                 agents: list[AgentHandle], progress: ProgressFn | None,
                 faults: Sequence[FaultEvent] = ()) -> None:
        launcher = self.cluster.launcher
        common: dict[str, Any] = {
            "bootstrap": self.cluster.bootstrap, "topic": topic, "client": self.client,
            "warmup": plan.warmup, "duration": plan.duration,
        }
        # every agent starts at once (starting is the slow part) and is waited for after
        consumer = launcher.launch(f"step{self._steps}-consumer",
                                   {**common, "role": "consumer"})
        agents.append(consumer)
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
            agent = launcher.launch(f"step{self._steps}-producers-{i}", {
                **common, "role": "producer", "first_producer": first, "producer_count": count,
                "total_producers": producers, "rate": plan.rate,
                "message_size": plan.message_size, "producer_settings": plan.producer_config,
            }, slot=i)
            agents.append(agent)
            producer_agents.append(agent)
        for agent in agents:
            agent.wait_for("ready", READY_TIMEOUT_S)
        # probed once everything is up and idle: no start-up load in the round trips
        clocks_before = self._probe_clocks(clock_agents)
        self._run_load(result, plan, faults, consumer, producer_agents, split, consumer_host,
                       producer_hosts, clocks_before, progress)
        if clocks_before:
            clocks_after = self._probe_clocks(clock_agents)
            self._judge_clocks(result, plan, consumer_host, producer_hosts, clocks_before,
                               clocks_after)

    def _run_load(self, result: StepResult, plan: StepPlan, faults: Sequence[FaultEvent],
                  consumer: AgentHandle, producer_agents: list[AgentHandle],
                  split: list[tuple[int, int]], consumer_host: str, producer_hosts: list[str],
                  clocks_before: dict[str, ClockOffset], progress: ProgressFn | None) -> None:
        """Start every agent at one instant, wait for the producers, drain, merge."""
        t0_ns = time.time_ns() + int(START_LEAD_S * 1e9)
        corrections = []
        if clocks_before and self.clock_correction:
            own = clocks_before[consumer_host].offset_ms
            corrections = [[first, count, round((own - clocks_before[producer_hosts[i]]
                                                 .offset_ms) * 1e6)]
                           for i, (first, count) in enumerate(split)]
        for agent in [consumer, *producer_agents]:
            agent.send({"cmd": "start", "t0_ns": t0_ns,
                        **({"corrections": corrections} if agent is consumer else {})})
        killed: set[str] = set()
        timers = self._schedule_faults(result, faults, t0_ns, producer_agents, killed)
        budget = START_LEAD_S + plan.warmup + plan.duration + 60.0
        deadline = time.monotonic() + budget
        produced = []
        for agent in producer_agents:
            while agent.name not in killed:
                try:
                    produced.append(agent.wait_for("result", 1.0))
                    break
                except AgentTimeout:
                    if time.monotonic() > deadline:
                        raise
                    if progress is not None:
                        progress(self._progress_line(producer_agents, consumer, t0_ns, plan))
                except AgentError:
                    if agent.name not in killed:
                        raise
        for timer in timers:  # a fault planned after the producers finished never fires
            timer.cancel()
        reports = {int(pid): ProducerReport(r["sent"], r["not_acked"])
                   for res in produced for pid, r in res["producers"].items()}
        expected = {pid: rep.sent - len(rep.not_acked) for pid, rep in reports.items()}
        consumer.send({"cmd": "drain", "expected": expected, "timeout": 15})
        consumed = consumer.wait_for("result", 30.0)
        if killed:
            result.killed_agents = len(killed)
            result.notes.append(
                f"{len(killed)} of {len(producer_agents)} producer agents killed on purpose:"
                " their producers' messages count as received only (their acks died with"
                " them), and the achieved rate no longer says whether the schedule was kept")
        self._merge(result, plan, produced, consumed, reports)

    def _launch_clock_agents(self, hosts: set[str]) -> list[AgentHandle]:
        """A clock agent on each host; the same ones answer before and after the load."""
        return [self.cluster.launcher.launch(f"step{self._steps}-clock-{host}",
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
                      after: dict[str, ClockOffset]) -> None:
        verdict = judge_clocks(consumer_host, producer_hosts, before, after,
                               self.clock_correction and bool(before),
                               plan.slo.latency_bound_ms)
        result.clocks = {
            "consumer_host": consumer_host, "corrected": verdict.corrected,
            "error_ms": verdict.error_ms, "trusted": verdict.trusted,
            "before": {h: o.to_dict() for h, o in before.items()},
            "after": {h: o.to_dict() for h, o in after.items()},
        }
        if not verdict.trusted and result.verdict in ("pass", "fail"):
            result.verdict = "clock_untrusted"
            result.notes.append(
                f"clocks untrusted: a cross-host latency may be off by {verdict.error_ms:.1f}ms,"
                f" over {TRUST_SHARE:.0%} of the {verdict.bound_ms:g}ms latency bound"
                f" ({verdict.detail}): the latency verdict is withheld")

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
    def _progress_line(agents: list[AgentHandle], consumer: AgentHandle, t0_ns: int,
                       plan: StepPlan) -> str:
        elapsed = max(0.0, (time.time_ns() - t0_ns) / 1e9)
        sent = sum(int(a.last_progress.get("sent", 0)) for a in agents)
        p99 = consumer.last_progress.get("p99_ms")
        p99_text = "-" if p99 is None else f"{p99:.1f}ms"
        return (f"{elapsed:5.1f}/{plan.warmup + plan.duration:g}s sent={sent}"
                f" received={consumer.last_progress.get('received', 0)} p99={p99_text}")

    def _merge(self, result: StepResult, plan: StepPlan, produced: list[dict[str, Any]],
               consumed: dict[str, Any], reports: dict[int, ProducerReport]) -> None:
        publish_delay, publish_latency = LatencyHistogram(), LatencyHistogram()
        for res in produced:
            publish_delay.add_encoded(res["publish_delay"])
            publish_latency.add_encoded(res["publish_latency"])
        e2e = LatencyHistogram.decode(consumed["e2e"])
        unsent = sum(int(r.get("unsent", 0)) for r in produced)
        for res in produced:  # never sent, never received: their delay so far, a lower bound
            if res.get("unsent"):
                e2e.add_encoded(res["unsent_delay"])
                publish_delay.add_encoded(res["unsent_delay"])
        e2e_send = LatencyHistogram.decode(consumed["e2e_from_send"])
        trackers = {int(pid): SequenceTracker.from_dict(t)
                    for pid, t in consumed["trackers"].items()}
        result.counts = account(trackers, reports)
        result.achieved_rate = sum(r["acked_in_window"] for r in produced) / plan.duration
        result.delivered_rate = consumed["received_in_window"] / plan.duration
        result.latency = e2e.summary_ms()
        result.latency_from_send = e2e_send.summary_ms()
        result.publish_latency = publish_latency.summary_ms()
        result.publish_delay = publish_delay.summary_ms()
        result.latency_curve = e2e.percentile_curve()
        result.timeline = [list(map(int, row)) for row in consumed.get("timeline", [])]
        self._recovery(result, plan)
        result.histograms = {"e2e": e2e.encode(), "publish_delay": publish_delay.encode()}
        result.generator_cpu = max((float(r["cpu_share"]) for r in produced), default=0.0)
        result.generator_busy = max((float(r.get("scheduler_busy", 0.0)) for r in produced),
                                    default=0.0)
        result.final_publish_delay_ms = max(
            (float(r.get("final_publish_delay_ms", 0.0)) for r in produced), default=0.0)
        result.generator_rss_mib = sum(float(r.get("rss_mib", 0.0)) for r in produced)
        queue_full = sum(int(r.get("queue_full", 0)) for r in produced)
        if queue_full:
            result.notes.append(f"client send queues were full {queue_full} times")
        if unsent:
            result.notes.append(
                f"producers were still over {LATE_LIMIT_S:g}s behind schedule when the step"
                f" ended: {unsent} scheduled messages were never sent; those due in the"
                " measured window count in latency and publish delay at the delay reached")
        if not consumed.get("drained", True):
            result.notes.append("consumer gave up waiting for all acknowledged messages")
        self._judge(result, plan)

    @staticmethod
    def _recovery(result: StepResult, plan: StepPlan) -> None:
        """When latency was back within bound after each fault (see measure.recovery)."""
        if not result.faults:
            return
        timeline = [(int(s), int(n), int(w)) for s, n, w in result.timeline]
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
    def _judge(result: StepResult, plan: StepPlan) -> None:
        delay_p99 = result.publish_delay.get("p99") or 0.0
        short = result.rate_ratio < RATE_TOLERANCE and not result.killed_agents
        behind = (short or delay_p99 > PUBLISH_DELAY_LIMIT_MS
                  or result.final_publish_delay_ms > PUBLISH_DELAY_LIMIT_MS)
        if behind and result.generator_busy >= SATURATED:
            result.generator_bound = True
            result.verdict = "generator_bound"
            result.notes.append(
                f"load generator saturated (scheduler busy {result.generator_busy:.0%} of the"
                f" time, agent CPU {result.generator_cpu:.0%} of a core) and behind"
                f" schedule (achieved {result.rate_ratio:.0%} of target, publish delay p99"
                f" {delay_p99:.1f}ms): this step says nothing about the broker"
            )
            result.verdicts = plan.slo.evaluate(result.slo_metrics())
            return
        if behind:
            result.notes.append(
                f"producers fell behind schedule (achieved {result.rate_ratio:.0%} of target,"
                f" publish delay p99 {delay_p99:.1f}ms) while the generator was not saturated"
                f" (scheduler busy {result.generator_busy:.0%}): back-pressure from the broker"
            )
        result.verdicts = plan.slo.evaluate(result.slo_metrics())
        result.verdict = "pass" if all(v.passed for v in result.verdicts) else "fail"

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
