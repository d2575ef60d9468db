"""The outcome of one step: what was asked, what was measured, and the verdict."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_frida.measure.accounting import DeliveryCounts
from pytest_frida.measure.slo import COUNT_METRICS, RATIO_METRICS, ClauseVerdict
from pytest_frida.measure.verdict import DECIDING, VERDICTS

__all__ = ["VERDICTS", "StepResult", "step_from_dict", "utc_now"]


def utc_now() -> str:
    """A report's timestamps: UTC, to the second, ISO 8601."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class StepResult:
    """One producer count of one capacity test. Latencies in ms, rates in msg/s."""

    test: str
    producers: int
    rate_per_producer: float
    duration_s: float
    warmup_s: float
    message_size: int
    partitions: int
    slo: str
    #: the Kafka producer properties the agents were given
    producer_config: dict[str, str] = field(default_factory=dict)
    #: consumer agents as planned: "auto" (one per 10k msg/s) or a count
    consumer_setting: str = "auto"
    #: the market-data workload (workload.market.workload_figures): instruments, popularity,
    #: arrivals, mean and peak rate (msg/s), the top instrument's share, in words ("text")
    workload: dict[str, Any] = field(default_factory=dict)
    #: the sample rule (measure.samples): latencies the SLO needs ("required"), planned in
    #: the window ("planned"), measured ("measured"), and the window as planned
    #: ("planned_duration_s") when it was lengthened to reach them
    samples: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    ended_at: str = ""
    #: successful acks, and distinct messages received, whose arrival fell inside the
    #: measured window, per second of it
    achieved_rate: float = 0.0
    delivered_rate: float = 0.0
    counts: DeliveryCounts | None = None
    #: when a step broke off: the counts the agents had reported so far
    partial_counts: dict[str, int] = field(default_factory=dict)
    latency: dict[str, float | None] = field(default_factory=dict)
    latency_from_send: dict[str, float | None] = field(default_factory=dict)
    #: actual send -> ack, timed where the delivery report is served; its timestamps are
    #: late by at most `publish_latency_error_ms`
    publish_latency: dict[str, float | None] = field(default_factory=dict)
    publish_latency_error_ms: float | None = None
    publish_delay: dict[str, float | None] = field(default_factory=dict)
    latency_curve: list[tuple[float, float]] = field(default_factory=list)
    histograms: dict[str, str] = field(default_factory=dict)
    #: CPU of the busiest producer agent, in cores (client threads included)
    generator_cpu: float = 0.0
    #: share of time the busiest agent's scheduler thread ran or waited for a CPU
    generator_busy: float = 0.0
    #: how late the last measured send went out: a delay that grows to the end of the step
    #: means the generator never caught up
    final_publish_delay_ms: float = 0.0
    generator_rss_mib: float = 0.0
    generator_bound: bool = False
    #: per producer agent: busy, scheduled and sent in the window, publish delay, CPU
    generators: list[dict[str, Any]] = field(default_factory=list)
    #: per consumer agent: host, partitions, busy, CPU, lag, what it received
    consumers: list[dict[str, Any]] = field(default_factory=list)
    #: messages sent and received per partition ({"sent": {p: n}, "received": {p: n}})
    partition_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: how the wait for acks ended: the client's delivery timeout and whether the step
    #: stopped waiting before it
    ack_wait: dict[str, Any] = field(default_factory=dict)
    #: how the consumers' drain ended: complete, stalled or cap
    drain_stop: str = ""
    #: the consumers' lag over the measured window (measure.lag): `time_ms`, `msgs`
    #: (None: unknown) and `detail` (why unknown); what `lag` clauses are judged against
    lag: dict[str, Any] = field(default_factory=dict)
    #: a drain step's figures (measure.drain.drain_figures): rate overall and per
    #: consumer, time to drain, whether the consumers set the rate, the lag over time;
    #: empty on a step that is no drain
    drain: dict[str, Any] = field(default_factory=dict)
    #: latency clauses measured but not allowed to judge (generator, consumers, clocks)
    withheld: list[str] = field(default_factory=list)
    #: why the verdict is what it is, in words (measure.verdict)
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: faults injected during the step: planned and actual time, action, broker, outcome,
    #: and `recovered_after_s` (None: latency was not back within bound when the step ended)
    faults: list[dict[str, Any]] = field(default_factory=list)
    #: agent hosts' clock offsets before and after the step, the worst cross-host error and
    #: whether latency could be trusted (only where agents run on several hosts)
    clocks: dict[str, Any] = field(default_factory=dict)
    #: producer agents killed on purpose during the step (kill-producers)
    killed_agents: int = 0
    #: per second of intended send time since the step's start (warm-up included):
    #: [second, messages received, worst latency in us, sum of latencies in us] (no sum
    #: where an agent image predates it)
    timeline: list[list[int]] = field(default_factory=list)
    #: the trend of per-second mean latency over the measured window (measure.steady):
    #: verdict steady, trend or unknown, slope, rise, p-value; empty when not analysed
    steady: dict[str, Any] = field(default_factory=dict)
    #: what the brokers and their hosts used during the measured window (runtimes.monitor):
    #: `sources` maps a source (broker-0, disk, host) to its figures' mean and maximum and
    #: their per-second series; `missing` says, one line each, what could not be read;
    #: `window` is the measured window (epoch seconds) and `host_cores` the ceiling of a
    #: broker's CPU on a host it shares with the harness (None elsewhere)
    resources: dict[str, Any] = field(default_factory=dict)
    #: the most saturated resource of the step and how close to its ceiling, in words and
    #: figures (measure.attribution); empty when nothing was measured
    attribution: dict[str, Any] = field(default_factory=dict)
    verdicts: list[ClauseVerdict] = field(default_factory=list)
    verdict: str = "error"
    error: str | None = None
    #: what the health check said when the cluster stopped answering during the step
    cluster_down: str | None = None
    #: on the cluster's first measured step only: seconds of unmeasured priming run just
    #: before it (0.0: priming turned off); None on every other step, and on a first step
    #: with planned faults, which is never primed
    primed_s: float | None = None
    #: the cluster shape the step ran on, resolved (config.shapes.ResolvedShape: brokers,
    #: partitions, replication, min_insync, broker_config, kafka_version); empty when the
    #: test has no shapes and ran on the session's cluster
    shape: dict[str, Any] = field(default_factory=dict)
    #: the shape's readable id, as in the test's node id (`3b-12p`); "" without shapes
    shape_label: str = ""

    @property
    def target_rate(self) -> float:
        return self.producers * self.rate_per_producer

    @property
    def rate_ratio(self) -> float:
        return self.achieved_rate / self.target_rate if self.target_rate else 0.0

    @property
    def definitive(self) -> bool:
        """A failure no later pass outvotes: a count clause failed (messages did not get
        through) or the cluster stopped answering (measure.trials)."""
        return self.verdict == "fail" and (
            self.cluster_down is not None
            or any(
                not v.passed
                for v in self.verdicts
                if v.clause.metric in (*COUNT_METRICS, *RATIO_METRICS)
            )
        )

    def trial(self) -> tuple[int, str, bool]:
        """This step as one trial of its count (measure.trials)."""
        return self.producers, self.verdict, self.definitive

    @property
    def decides(self) -> str | None:
        """Which way this step moves the capacity limit: pass, fail, or None."""
        return self.verdict if self.verdict in DECIDING else None

    def slo_metrics(self) -> dict[str, float | None]:
        """The values SLO clauses are evaluated against."""
        metrics: dict[str, float | None] = dict(self.latency)
        if self.counts is not None:
            metrics.update(
                loss=self.counts.lost,
                unacked=self.counts.unacked,
                failed=self.counts.failed,
                duplicates=self.counts.duplicated,
                out_of_order=self.counts.out_of_order,
                delivered=self.counts.delivered_ratio,
            )
        if self.lag:
            metrics.update(lag=self.lag.get("time_ms"), lag_msgs=self.lag.get("msgs"))
        return metrics

    def failure_message(self) -> str:
        """Measured against required, one line per SLO clause."""
        lines = [
            f"SLO violated at {self.producers} producers x {self.rate_per_producer:g} msg/s"
            f" ({self.slo}):"
        ]
        lines += [
            f"  {v.describe()}" + (" (withheld)" if v.clause.text in self.withheld else "")
            for v in self.verdicts
        ]
        lines += [f"  {reason}" for reason in self.reasons]
        return "\n".join(lines)

    def junit_properties(self) -> dict[str, str]:
        """This step's figures as JUnit XML properties (prefixed by the producer count, so
        the steps of a search stay apart)."""
        prefix = f"frida_{self.producers}p_"
        props = {
            "verdict": self.verdict,
            "target_rate": f"{self.target_rate:g}",
            "achieved_rate": f"{self.achieved_rate:.1f}",
        }
        for key in ("p50", "p99", "max"):
            value = self.latency.get(key)
            if value is not None:
                props[f"{key}_ms"] = f"{value:.3f}"
        if self.counts is not None:
            props["lost"] = str(self.counts.lost)
            props["unacked"] = str(self.counts.unacked)
            props["failed"] = str(self.counts.failed)
        return {prefix + k: v for k, v in props.items()}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_rate"] = self.target_rate
        data["verdicts"] = [
            {"clause": v.clause.text, "measured": v.measured, "passed": v.passed}
            for v in self.verdicts
        ]
        data["counts"] = (
            {**asdict(self.counts), "delivered_ratio": self.counts.delivered_ratio}
            if self.counts
            else None
        )
        data["decides"] = self.decides
        return data


def step_from_dict(data: dict[str, Any]) -> StepResult:
    """Rebuild a StepResult from its report.json form (verdicts re-evaluated from the SLO)."""
    from dataclasses import fields

    from pytest_frida.measure.slo import SloError, parse_slo

    names = {f.name for f in fields(StepResult)} - {"counts", "verdicts"}
    step = StepResult(**{k: v for k, v in data.items() if k in names})
    if data.get("counts"):
        counts = {f.name for f in fields(DeliveryCounts)}
        step.counts = DeliveryCounts(**{k: v for k, v in data["counts"].items() if k in counts})
    step.latency_curve = [tuple(p) for p in step.latency_curve]  # type: ignore[misc]
    try:
        step.verdicts = parse_slo(step.slo).evaluate(step.slo_metrics())
    except SloError:
        step.verdicts = []
    return step
