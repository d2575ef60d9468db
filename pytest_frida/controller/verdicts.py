"""What a step hands to the verdict and to the attribution: facts, never judgements.

The runner fills a `Facts` as the step goes (clocks, cluster, harness errors, drain); the
agents' results become `GeneratorFacts` and `ConsumerFacts` here. `measure.verdict.judge`
and `measure.attribution` decide; nothing in this module does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_frida.config import StepPlan
from pytest_frida.faults import PRODUCER_ACTIONS, FaultEvent
from pytest_frida.kafka.server_config import topic_replication
from pytest_frida.measure import outside
from pytest_frida.measure.attribution import attribute, usages
from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.verdict import ConsumerFacts, GeneratorFacts, StepFacts, judge
from pytest_frida.workload.protocol import ConsumerResult, ProducerResult


@dataclass
class Facts:
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
    earlier_unknown: str | None = None
    lag_detail: str = ""


def generator_facts(res: ProducerResult) -> GeneratorFacts:
    """A producer agent's result as the verdict reads it."""
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
        final_publish_delay_ms=float(res.get("final_publish_delay_ms", 0.0)),
    )


def consumer_facts(res: ConsumerResult, plan: StepPlan, producers: int) -> ConsumerFacts:
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
        name=str(res.get("agent", "consumer")),
        busy=float(res.get("busy", 0.0)),
        cpu_share=float(res.get("cpu_share", 0.0)),
        lag_max=int(res.get("lag_max", 0)),
        lag_end=int(res.get("lag_end", 0)),
        throttled=float(res.get("throttled", 0.0)),
        lag_limit=lag_limit,
    )


def judge_step(
    result: StepResult, plan: StepPlan, faults: Sequence[FaultEvent], facts: Facts
) -> None:
    """The verdict, made by measure.verdict from the facts gathered, written on `result`."""
    verdict = judge(
        StepFacts(
            slo=plan.slo,
            metrics=result.slo_metrics(),
            generators=facts.generators,
            consumers=facts.consumers,
            clocks_trusted=facts.clocks_trusted,
            clock_detail=facts.clock_detail,
            cluster_down=facts.cluster_down,
            planned_broker_fault=any(e.action not in PRODUCER_ACTIONS for e in faults),
            harness_error=facts.harness_error,
            drain_stop=facts.drain_stop,
            undrained=facts.undrained,
            samples=result.samples.get("planned"),
            required_samples=int(result.samples.get("required", 0)),
            earlier_loss=facts.earlier_loss,
            earlier_unknown=facts.earlier_unknown,
            drain=plan.drain,
            lag_detail=facts.lag_detail,
        )
    )
    result.verdict = verdict.verdict
    result.verdicts = list(verdict.clauses)
    result.withheld = list(verdict.withheld)
    result.generator_bound = any(g.bound for g in facts.generators)
    result.reasons = list(verdict.reasons)


def attribute_step(
    result: StepResult, broker_cores: int | None, shared_nodes: frozenset[str]
) -> None:
    """What saturated, from the step's resources and its agents (measure.attribution).

    `broker_cores`: the brokers run on cores of their own (nothing shared with the
    harness); `shared_nodes`: the nodes the harness shares with a broker."""
    if not result.resources.get("sources"):
        return
    cores = result.resources.get("host_cores")
    # agents that never reported (the step broke off) leave the harness unmeasured:
    # unknown, not idle
    measured = bool(result.generators) and bool(result.consumers)
    # a drain step's consumers were held through the window (their figures are the
    # drain's): idle in it
    consumers = [] if result.drain else result.consumers
    harness = (
        (
            sum(float(g.get("cpu_share", 0.0)) for g in result.generators),
            sum(float(c.get("cpu_share", 0.0)) for c in consumers),
        )
        if measured
        else None
    )
    _record_outside(result, harness)
    found = usages(
        result.resources["sources"],
        cores,
        cores is not None and not broker_cores,
        result.generator_busy if measured else None,
        max((float(c.get("busy", 0.0)) for c in consumers), default=0.0) if measured else None,
        harness,
        broker_cores,
        shared_nodes,
        _partition_logs(result),
    )
    host = result.resources["sources"].get("host", {}).get("figures", {})
    result.attribution = attribute(
        found,
        result.verdict in ("generator_bound", "consumer_bound"),
        measured,
        outside.words(host.get(outside.FIGURE), cores),
    )


def _partition_logs(result: StepResult) -> int | None:
    """The step topic's partition replicas per broker, rounded up: the logs a broker's
    appends are spread over (None when no broker was measured)."""
    measured = sum(1 for name in result.resources["sources"] if name.startswith("broker"))
    brokers = int(result.shape.get("brokers") or measured)
    if not brokers or not result.partitions:
        return None
    replication = int(result.shape.get("replication") or topic_replication(brokers))
    return -(-result.partitions * replication // brokers)


def _record_outside(result: StepResult, harness: tuple[float, float] | None) -> None:
    """Other work on a shared host (measure.outside), beside the host's busy share, and a
    note when it was material."""
    sources = result.resources["sources"]
    cores = result.resources.get("host_cores")
    figure = outside.outside_cores(
        sources,
        cores,
        sum(harness) if harness is not None else None,
        result.resources.get("controller_cores"),
    )
    if figure is None or "host" not in sources:
        return
    sources["host"]["figures"][outside.FIGURE] = figure
    result.resources.setdefault("units", {})[outside.FIGURE] = outside.UNIT
    if outside.material(figure["mean"], cores):
        result.notes.append(outside.note(figure))
