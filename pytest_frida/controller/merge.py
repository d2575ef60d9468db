"""The agents' results of one step merged into its `StepResult`: counts, latencies, rates,
the per-second timeline and the notes that explain them.

Producer results give what was sent and acknowledged; consumer results what arrived, by
sequence number, so a message is counted lost only when it was acknowledged and never
arrived (measure.accounting). Measured messages that never had an ack and never arrived
count in latency at the age they reached: a lower bound, never left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict

from pytest_frida.config import StepPlan
from pytest_frida.controller.consumer_figures import consumers_drain, consumers_lag
from pytest_frida.controller.fault_timers import note_recovery
from pytest_frida.controller.verdicts import Facts, consumer_facts, generator_facts
from pytest_frida.measure.accounting import ProducerReport, SequenceTracker, account
from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.steady import steady_state, trend_note
from pytest_frida.workload.market import schedule_for
from pytest_frida.workload.protocol import ConsumerResult, ProducerResult
from pytest_frida.workload.schedule import LATE_LIMIT_S, Window

#: producers stop waiting for acks this long after their last send (the agents'
#: `flush_timeout`); the client's own delivery timeout is usually longer, and the step's
#: `ack_wait` says when the cap cut the wait short
FLUSH_CAP_S = 30.0
#: a drain that received nothing new for this long, with acknowledged messages missing,
#: stops: those messages are lost
DRAIN_STALL_S = 15.0


def drain_cap_s(plan: StepPlan) -> float:
    """The longest a drain may go on while it still receives: a backlog four times the
    step's length (consumers four times slower than the load) still drains."""
    return max(120.0, 4.0 * (plan.warmup + plan.duration))


def producer_reports(produced: list[ProducerResult]) -> dict[int, ProducerReport]:
    """Per producer id: how many it sent, and which sequence numbers failed or got no ack."""
    return {
        int(pid): ProducerReport(
            int(r["sent"]), list(r.get("failed", [])), list(r.get("unacked", []))
        )
        for res in produced
        for pid, r in res["producers"].items()
    }


def merge_timelines(timelines: Iterable[list[list[int]]]) -> list[list[int]]:
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


def _sum_counts(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            total[str(key)] = total.get(str(key), 0) + int(value)
    return dict(sorted(total.items(), key=lambda kv: int(kv[0])))


def merge(
    result: StepResult,
    plan: StepPlan,
    produced: list[ProducerResult],
    consumed: list[ConsumerResult],
    reports: dict[int, ProducerReport],
    window: Window,
    facts: Facts,
) -> None:
    """Everything the agents measured, onto `result`; their facts into `facts`."""
    publish_delay, publish_latency = LatencyHistogram(), LatencyHistogram()
    for res in produced:
        publish_delay.add_encoded(res["publish_delay"])
        publish_latency.add_encoded(res["publish_latency"])
    e2e, e2e_send = LatencyHistogram(), LatencyHistogram()
    trackers: dict[int, SequenceTracker] = {}
    for done in consumed:
        e2e.add_encoded(done["e2e"])
        e2e_send.add_encoded(done["e2e_from_send"])
        for pid, data in done["trackers"].items():
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
    unanswered = unanswered_ages(plan, result.producers, produced, trackers, window)
    e2e.record_batch_us(unanswered)
    result.counts = account(trackers, reports)
    result.achieved_rate = sum(int(r.get("acks_in_window", 0)) for r in produced) / plan.duration
    result.delivered_rate = (
        sum(int(c.get("received_in_window", 0)) for c in consumed) / plan.duration
    )
    result.latency = e2e.summary_ms()
    result.samples["measured"] = e2e.count
    result.latency_from_send = e2e_send.summary_ms()
    result.publish_latency = publish_latency.summary_ms()
    result.publish_latency_error_ms = max(
        (float(r.get("publish_latency_error_ms", 0.0)) for r in produced), default=None
    )
    result.publish_delay = publish_delay.summary_ms()
    result.latency_curve = e2e.percentile_curve()
    result.timeline = merge_timelines(c.get("timeline", []) for c in consumed)
    if not plan.drain:  # a drain's latencies grow with the backlog by design
        result.steady = steady_state(result.timeline, plan.warmup, plan.duration).to_dict()
        result.notes += trend_note(result.steady, plan.warmup)
    note_recovery(result, plan)
    result.histograms = {"e2e": e2e.encode(), "publish_delay": publish_delay.encode()}
    facts.generators = [generator_facts(r) for r in produced]
    facts.consumers = [consumer_facts(c, plan, result.producers) for c in consumed]
    _agent_figures(result, produced, consumed, facts)
    lag = consumers_lag(consumed)
    result.lag, facts.lag_detail = lag.to_dict(), lag.detail
    if plan.drain:
        backlog = result.counts.acked if result.counts is not None else 0
        result.drain = consumers_drain(consumed, facts.consumers, backlog)
    _ack_wait(result, produced)
    stops = {
        str(c.get("drain_stop", "complete" if c.get("drained", True) else "stalled"))
        for c in consumed
    }
    facts.drain_stop = next((s for s in ("cap", "stalled") if s in stops), "complete")
    facts.undrained = sum(
        int(c.get("drain_missing", 0)) for c in consumed if c.get("drain_stop") == "cap"
    )
    result.drain_stop = facts.drain_stop
    _notes(result, plan, produced, consumed, unsent, len(unanswered), facts.drain_stop)


def _agent_figures(
    result: StepResult, produced: list[ProducerResult], consumed: list[ConsumerResult], facts: Facts
) -> None:
    """Per agent, what it measured of itself (busy, CPU, memory, lag), for the report."""
    result.generators = [
        {
            **asdict(g),
            "behind": g.behind,
            "saturated": g.saturated,
            "cpu_share": float(r.get("cpu_share", 0.0)),
            "rss_mib": float(r.get("rss_mib", 0.0)),
        }
        for g, r in zip(facts.generators, produced, strict=True)
    ]
    result.consumers = [
        {
            **asdict(f),
            "saturated": f.saturated,
            "held_back": f.held_back,
            "host": c.get("host"),
            "partitions": c.get("partitions", []),
            "received_in_window": c.get("received_in_window", 0),
            "drain_stop": c.get("drain_stop"),
            **{
                k: c[k]
                for k in (
                    "loop_busy",
                    "cpu_wait",
                    "throttled",
                    "lag_samples",
                    "lag_failed",
                    "drain_missing",
                )
                if k in c
            },
        }
        for f, c in zip(facts.consumers, consumed, strict=True)
    ]
    result.generator_cpu = max((float(r["cpu_share"]) for r in produced), default=0.0)
    result.generator_busy = max((g.busy for g in facts.generators), default=0.0)
    result.final_publish_delay_ms = max(
        (float(r.get("final_publish_delay_ms", 0.0)) for r in produced), default=0.0
    )
    result.generator_rss_mib = sum(float(r.get("rss_mib", 0.0)) for r in produced)
    result.partition_counts = {
        "sent": _sum_counts(r.get("partition_sent", {}) for r in produced),
        "received": _sum_counts(c.get("partition_received", {}) for c in consumed),
    }


def _notes(
    result: StepResult,
    plan: StepPlan,
    produced: list[ProducerResult],
    consumed: list[ConsumerResult],
    unsent: int,
    unanswered: int,
    drain_stop: str,
) -> None:
    hosts = sorted({str(c.get("host")) for c in consumed if c.get("host")})
    result.notes.append(
        f"{len(consumed)} consumer(s) on {', '.join(hosts) or 'one host'},"
        f" partitions {[c.get('partitions') for c in consumed]}"
    )
    queue_full = sum(int(r.get("queue_full", 0)) for r in produced)
    if queue_full:
        result.notes.append(f"client send queues were full {queue_full} times")
    if unsent:
        result.notes.append(
            f"producers were still over {LATE_LIMIT_S:g}s behind schedule when the step"
            f" ended: {unsent} scheduled messages were never sent; those due in the"
            " measured window count in latency and publish delay at the delay reached"
        )
    if unanswered:
        result.notes.append(
            f"{unanswered} measured messages had no successful ack and never arrived:"
            " they count in latency at the age they had reached when the step stopped"
            " waiting (a lower bound)"
        )
    if drain_stop == "stalled":
        result.notes.append(
            f"the consumers received nothing new for {DRAIN_STALL_S:g}s while acknowledged"
            " messages were missing: those are counted as lost"
        )
    elif drain_stop == "cap":
        result.notes.append(
            f"the consumers were still receiving when the drain ended after {drain_cap_s(plan):g}s"
        )


def unanswered_ages(
    plan: StepPlan,
    producers: int,
    produced: list[ProducerResult],
    trackers: dict[int, SequenceTracker],
    window: Window,
) -> list[int]:
    """Latency (us) of measured messages without a successful ack (unanswered, or
    refused) that never arrived: their age when their agent stopped waiting, a lower
    bound on the latency they would have had."""
    if plan.rate <= 0:  # a throughput probe has no intended send times
        return []
    schedule = schedule_for(plan.market, plan.rate, producers, window)
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


def _ack_wait(result: StepResult, produced: list[ProducerResult]) -> None:
    """How the wait for acks ended, against the client's own delivery timeout."""
    timeouts = [
        float(r["delivery_timeout_s"]) for r in produced if r.get("delivery_timeout_s") is not None
    ]
    early = any(bool(r.get("gave_up_early")) for r in produced)
    result.ack_wait = {
        "delivery_timeout_s": max(timeouts, default=None),
        "flush_cap_s": FLUSH_CAP_S,
        "gave_up_early": early,
    }
    if early:
        result.notes.append(
            f"the step stopped waiting for acks after {FLUSH_CAP_S:g}s, before the"
            f" client's delivery timeout of {max(timeouts, default=0):g}s: messages still"
            " pending then are counted unacked"
        )
