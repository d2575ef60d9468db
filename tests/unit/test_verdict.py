"""The verdict rules, without a broker: every combination of what can spoil a step."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.measure.slo import parse_slo, with_delivery_guards
from pytest_frida.measure.verdict import (
    DECIDING,
    PUBLISH_DELAY_LIMIT_MS,
    SATURATED,
    ConsumerFacts,
    GeneratorFacts,
    StepFacts,
    judge,
)

SLO = with_delivery_guards(parse_slo("p99<=250ms, duplicates==0, out_of_order==0"))
GOOD = {
    "p99": 20.0,
    "loss": 0,
    "unacked": 0,
    "failed": 0,
    "duplicates": 0,
    "out_of_order": 0,
    "delivered": 1.0,
}


def gen(
    name: str = "p0",
    busy: float = 0.3,
    intended: int = 1000,
    sent: int = 1000,
    delay: float = 1.0,
    final: float = 1.0,
) -> GeneratorFacts:
    return GeneratorFacts(name, busy, intended, sent, delay, final)


ON_TIME = gen()
BOUND = gen("p1", busy=0.97, sent=600, delay=900.0, final=2000.0)
BEHIND_WITH_SLACK = gen("p2", busy=0.4, sent=700, delay=400.0, final=900.0)
BUSY_ON_TIME = gen("p3", busy=0.95)
IDLE_CONSUMER = ConsumerFacts("c0", busy=0.2, cpu_share=0.2)
SATURATED_CONSUMER = ConsumerFacts(
    "c1", busy=0.98, cpu_share=0.99, lag_max=50_000, lag_end=40_000, lag_limit=400
)


def facts(metrics: dict[str, float | None] | None = None, **kw: object) -> StepFacts:
    return StepFacts(slo=SLO, metrics={**GOOD, **(metrics or {})}, **kw)  # type: ignore[arg-type]


def test_clean_step_passes() -> None:
    v = judge(facts(generators=[ON_TIME], consumers=[IDLE_CONSUMER]))
    assert v.verdict == "pass" and v.decides == "pass"
    assert all(c.passed for c in v.clauses) and not v.withheld


def test_latency_over_bound_fails() -> None:
    v = judge(facts({"p99": 400.0}, generators=[ON_TIME], consumers=[IDLE_CONSUMER]))
    assert v.verdict == "fail"
    assert [c.clause.text for c in v.clauses if not c.passed] == ["p99<=250ms"]


# loss under each withholding verdict: the count clauses still judge, and fail the step
LOSSY = [{"loss": 3}, {"unacked": 5}, {"failed": 100}, {"duplicates": 1}, {"out_of_order": 2}]
WITHHOLDING = {
    "generator": {"generators": [BOUND]},
    "clocks": {"clocks_trusted": False, "clock_detail": "off by 400ms"},
    "consumer": {"consumers": [SATURATED_CONSUMER]},
    "samples": {"samples": 100, "required_samples": 1000},
    "all three": {
        "generators": [BOUND],
        "clocks_trusted": False,
        "consumers": [SATURATED_CONSUMER],
    },
}


def test_loss_fails_under_every_withholding_verdict() -> None:
    for bad in LOSSY:
        for why, extra in WITHHOLDING.items():
            v = judge(facts({**bad, "p99": 900.0}, **extra))  # type: ignore[arg-type]
            assert v.verdict == "fail", (bad, why, v)
            assert v.decides == "fail"
            assert "did not get through" in v.reasons[0]


def test_withholding_verdicts_without_loss() -> None:
    assert judge(facts({"p99": 900.0}, generators=[BOUND])).verdict == "generator_bound"
    assert judge(facts({"p99": 900.0}, clocks_trusted=False)).verdict == "clock_untrusted"
    assert judge(facts({"p99": 900.0}, consumers=[SATURATED_CONSUMER])).verdict == "consumer_bound"
    assert (
        judge(facts({"p99": 900.0}, samples=999, required_samples=1000)).verdict == "insufficient"
    )
    for extra in WITHHOLDING.values():
        v = judge(facts({"p99": 900.0}, **extra))  # type: ignore[arg-type]
        assert v.decides is None
        assert v.withheld == ("p99<=250ms",)


def test_a_bound_generator_withholds_even_a_passing_latency() -> None:
    # the broker never saw the target load: a pass would be unearned
    v = judge(facts(generators=[ON_TIME, BOUND]))
    assert v.verdict == "generator_bound"


def test_a_saturated_consumer_does_not_spoil_a_latency_that_held() -> None:
    v = judge(facts(consumers=[IDLE_CONSUMER, SATURATED_CONSUMER]))
    assert v.verdict == "pass"


def test_generator_judged_per_agent() -> None:
    # one agent busy but on time, another behind with slack: nobody was generator-bound,
    # the lateness is back-pressure, and the broker is judged
    v = judge(facts({"p99": 600.0}, generators=[BUSY_ON_TIME, BEHIND_WITH_SLACK]))
    assert v.verdict == "fail"
    assert any("back-pressure" in r for r in v.reasons)
    assert not BUSY_ON_TIME.bound and not BEHIND_WITH_SLACK.bound


def test_behind_rules() -> None:
    assert gen(sent=940).behind and not gen(sent=960).behind
    assert gen(delay=PUBLISH_DELAY_LIMIT_MS + 1).behind
    assert gen(final=PUBLISH_DELAY_LIMIT_MS + 1).behind
    assert not gen(intended=0, sent=0).behind
    assert gen(busy=SATURATED).saturated and not gen(busy=SATURATED - 0.01).saturated


def test_cluster_down_fails_and_decides() -> None:
    v = judge(facts(cluster_down="no broker answers", harness_error="agent gone"))
    assert v.verdict == "fail" and v.decides == "fail"
    assert "stopped answering" in v.reasons[0]


def test_cluster_down_after_a_planned_fault_decides_nothing() -> None:
    v = judge(facts(cluster_down="no broker answers", planned_broker_fault=True))
    assert v.verdict == "error" and v.decides is None


def test_harness_error_decides_nothing() -> None:
    unmeasured: dict[str, float | None] = {m: None for m in GOOD}
    v = judge(facts(unmeasured, harness_error="agent step1-consumer-0 exited"))
    assert v.verdict == "error" and v.decides is None
    assert "agent step1-consumer-0" in v.reasons[0]


def test_counted_loss_fails_even_when_the_step_did_not_finish() -> None:
    v = judge(facts({"loss": 10}, harness_error="agent step1-consumer-0 exited"))
    assert v.verdict == "fail" and "did not get through" in v.reasons[0]
    v = judge(facts({"loss": 1200}, cluster_down="gone", planned_broker_fault=True))
    assert v.verdict == "fail"


def test_drain_completeness() -> None:
    # a drain that stalled with acknowledged messages missing: lost, the step fails
    assert judge(facts({"loss": 7}, drain_stop="stalled")).verdict == "fail"
    # one cut off while still receiving: its missing messages may be on their way
    v = judge(facts({"loss": 7}, drain_stop="cap", undrained=7))
    assert v.verdict == "error" and "still receiving" in v.reasons[0]
    # ... but a consumer that stalled beside it still shows a real loss
    assert judge(facts({"loss": 507}, drain_stop="cap", undrained=7)).verdict == "fail"
    # ... and refused messages are known, whatever the drain did
    assert judge(facts({"failed": 1000}, drain_stop="cap", undrained=3)).verdict == "fail"
    # ... and a latency miss nothing withholds fails
    v = judge(
        facts(
            {"loss": 7, "p99": 90_000.0}, drain_stop="cap", undrained=7, consumers=[IDLE_CONSUMER]
        )
    )
    assert v.verdict == "fail"
    # a capped drain with nothing missing is fine
    assert judge(facts(drain_stop="cap")).verdict == "pass"


def test_back_pressure_fails_even_without_a_latency_clause() -> None:
    slo = with_delivery_guards(parse_slo("loss==0"))
    v = judge(
        StepFacts(
            slo=slo,
            metrics=GOOD,
            generators=[gen(busy=0.3, intended=100_000, sent=50_000, delay=4000.0)],
        )
    )
    assert v.verdict == "fail" and "held the producers back" in v.reasons[0]


def test_a_consumer_is_bound_only_with_evidence_it_held_messages_back() -> None:
    keeping_up = ConsumerFacts("c", busy=0.9, lag_max=10, lag_limit=400)
    assert not keeping_up.bound
    assert judge(facts({"p99": 800.0}, consumers=[keeping_up])).verdict == "fail"
    lagging = ConsumerFacts("c", busy=0.9, lag_max=5000, lag_limit=400)
    assert judge(facts({"p99": 800.0}, consumers=[lagging])).verdict == "consumer_bound"
    frozen = ConsumerFacts("c", busy=0.95, throttled=0.95, lag_max=10, lag_limit=400)
    assert judge(facts({"p99": 800.0}, consumers=[frozen])).verdict == "consumer_bound"


def test_unmeasured_latency_fails_a_latency_clause() -> None:
    assert judge(facts({"p99": None})).verdict == "fail"


def test_delivery_guards() -> None:
    assert [c.text for c in with_delivery_guards(parse_slo("p99<=1s")).clauses] == [
        "p99<=1s",
        "loss==0",
        "unacked==0",
        "failed==0",
    ]
    assert [c.text for c in with_delivery_guards(parse_slo("p99<=1s, loss<=5")).clauses] == [
        "p99<=1s",
        "loss<=5",
        "unacked==0",
        "failed==0",
    ]
    # a delivered ratio is the user's tolerance for unacked and failed messages, never for
    # acknowledged ones lost
    assert [c.text for c in with_delivery_guards(parse_slo("p99<=1s, delivered>=99%")).clauses] == [
        "p99<=1s",
        "delivered>=0.99",
        "loss==0",
    ]
    guarded = with_delivery_guards(parse_slo("p99<=1s"))
    assert with_delivery_guards(guarded) == guarded
    assert parse_slo(guarded.text) == guarded


generators = st.builds(
    gen,
    name=st.sampled_from(["a", "b", "c"]),
    busy=st.floats(0, 1),
    intended=st.integers(0, 10_000),
    sent=st.integers(0, 10_000),
    delay=st.floats(0, 5_000),
    final=st.floats(0, 5_000),
)
consumers = st.builds(
    ConsumerFacts,
    name=st.just("c"),
    busy=st.floats(0, 1),
    cpu_share=st.floats(0, 2),
    lag_max=st.integers(0, 10**6),
    lag_end=st.integers(0, 10**6),
    throttled=st.floats(0, 1),
    lag_limit=st.one_of(st.none(), st.integers(1, 10**5)),
)
metric_values = st.fixed_dictionaries(
    {
        "p99": st.one_of(st.none(), st.floats(0, 10_000)),
        "loss": st.integers(0, 3),
        "unacked": st.integers(0, 3),
        "failed": st.integers(0, 3),
        "duplicates": st.integers(0, 3),
        "out_of_order": st.integers(0, 3),
        "delivered": st.floats(0, 1),
    }
)
any_facts = st.builds(
    StepFacts,
    slo=st.just(SLO),
    metrics=metric_values,
    generators=st.lists(generators, max_size=4),
    consumers=st.lists(consumers, max_size=3),
    clocks_trusted=st.sampled_from([None, True, False]),
    clock_detail=st.just(""),
    cluster_down=st.sampled_from([None, "gone"]),
    planned_broker_fault=st.booleans(),
    harness_error=st.sampled_from([None, "agent died"]),
    drain_stop=st.sampled_from(["complete", "stalled", "cap"]),
    undrained=st.integers(0, 3),
)


@given(any_facts)
def test_no_verdict_hides_an_undelivered_message(f: StepFacts) -> None:
    v = judge(f)
    undelivered = any(f.metrics[m] for m in ("loss", "unacked", "failed"))
    if undelivered:
        assert v.verdict != "pass"
        # only messages maybe still on their way leave a count undecided
        surely_lost = (f.metrics["loss"] or 0) > f.undrained
        if surely_lost or f.metrics["unacked"] or f.metrics["failed"]:
            assert v.verdict == "fail"


@given(any_facts)
def test_a_pass_is_earned(f: StepFacts) -> None:
    v = judge(f)
    if v.verdict == "pass":
        assert all(c.passed for c in v.clauses)
        assert not any(g.bound for g in f.generators)
        assert f.clocks_trusted is not False
        assert f.cluster_down is None and f.harness_error is None


@given(any_facts)
def test_the_harness_is_never_blamed_on_the_broker(f: StepFacts) -> None:
    # a failure that rests on latency alone never comes from a bound generator, untrusted
    # clocks or a saturated consumer
    v = judge(f)
    counts_failed = any(not c.passed for c in v.clauses if c.clause.metric not in ("p99",))
    if v.verdict == "fail" and not counts_failed and f.cluster_down is None:
        assert not any(g.bound for g in f.generators)
        assert f.clocks_trusted is not False
        assert not any(c.bound for c in f.consumers)
    assert (v.decides is not None) == (v.verdict in DECIDING)


def test_a_step_survives_its_report_round_trip() -> None:
    import json

    from pytest_frida.measure.accounting import DeliveryCounts
    from pytest_frida.measure.result import StepResult, step_from_dict

    step = StepResult(
        test="t",
        producers=2,
        rate_per_producer=10,
        duration_s=1,
        warmup_s=0,
        message_size=64,
        partitions=3,
        slo="p99<=1s, delivered>=0.99, loss==0",
    )
    step.counts = DeliveryCounts(
        sent=1000,
        acked=990,
        received=995,
        lost=0,
        duplicated=0,
        out_of_order=0,
        unacked=10,
        delivered=995,
    )
    step.latency = {"p99": 20.0}
    back = step_from_dict(json.loads(json.dumps(step.to_dict())))
    assert back.counts == step.counts
    assert back.counts is not None and back.counts.delivered_ratio == 0.995
    assert all(v.passed for v in back.verdicts)


def test_too_few_samples_withhold_a_passing_latency_too() -> None:
    # a p99 read from 100 messages flatters as often as it condemns
    v = judge(facts(samples=100, required_samples=1000))
    assert v.verdict == "insufficient" and v.withheld == ("p99<=250ms",)
    assert "100 latency samples" in v.reasons[0]
    assert judge(facts(samples=1000, required_samples=1000)).verdict == "pass"
    # an SLO without a latency clause needs no samples
    counts_only = StepFacts(
        slo=with_delivery_guards(parse_slo("loss==0")), metrics=GOOD, samples=3, required_samples=0
    )
    assert judge(counts_only).verdict == "pass"


def test_too_few_samples_never_hide_back_pressure() -> None:
    # the broker held a producer with slack back: a failure whatever the samples say
    held = gen("p4", busy=0.1, sent=500)
    v = judge(facts(generators=[held], samples=100, required_samples=1000))
    assert v.verdict == "fail" and "back-pressure" in v.reasons[0]


def test_messages_lost_by_the_priming_run_fail_the_step_after_it() -> None:
    v = judge(
        facts(
            earlier_loss="the unmeasured priming run just before this step counted"
            " messages that did not get through: loss==0: measured 3"
        )
    )
    assert v.verdict == "fail" and "priming" in v.reasons[0]


def test_a_priming_run_of_unknown_loss_keeps_the_step_after_it_from_passing() -> None:
    unknown = (
        "an unmeasured priming run just before this step ended its drain with acknowledged"
        " messages still on their way: 12 may still be on their way"
    )
    v = judge(facts(earlier_unknown=unknown))
    assert v.verdict == "error" and v.decides is None
    assert v.reasons[0] == unknown and "could hide a lost message" in v.reasons[1]
    # a failure of its own still fails: unknown loss never turns a failure into a pass
    slow = judge(facts({**GOOD, "p99": 900.0}, earlier_unknown=unknown))
    assert slow.verdict == "fail"
    lost = judge(facts({**GOOD, "loss": 3}, earlier_unknown=unknown))
    assert lost.verdict == "fail"
    assert judge(facts()).verdict == "pass"
