"""What the step runner makes of a consumer agent's result: a lag with a hole in it is no
evidence that the consumer kept up."""

from __future__ import annotations

from typing import Any, cast

from pytest_frida.config import StepPlan
from pytest_frida.controller.verdicts import consumer_facts
from pytest_frida.measure.slo import parse_slo
from pytest_frida.workload.protocol import ConsumerResult

PLAN = StepPlan(
    producers=(10,),
    rate=100.0,
    duration=10.0,
    warmup=1.0,
    message_size=256,
    slo=parse_slo("p99<=50ms"),
    partitions=4,
)


def result(**kw: Any) -> ConsumerResult:
    # a saturated consumer whose sampled lag stayed low: only the fields consumer_facts reads
    fields: dict[str, Any] = {
        "agent": "consumer-0",
        "busy": 0.99,
        "cpu_share": 0.99,
        "lag_max": 3,
        "lag_end": 2,
        "lag_samples": 12,
        "lag_end_sampled": True,
        "lag_failed": 0,
        "partitions": [0, 1, 2, 3],
        "throttled": 0.0,
        **kw,
    }
    return cast(ConsumerResult, fields)


def test_a_complete_low_lag_clears_a_saturated_consumer() -> None:
    facts = consumer_facts(result(), PLAN, producers=10)
    # 10 producers x 100 msg/s over all 4 partitions, 50 ms: 50 messages
    assert facts.lag_limit == 50 and not facts.held_back and not facts.bound


def test_a_missing_end_sample_leaves_the_lag_unknown() -> None:
    for hole in ({"lag_end_sampled": False}, {"lag_samples": 0}):
        facts = consumer_facts(result(**hole), PLAN, producers=10)
        # unknown: the saturated consumer is the bound party, never the broker
        assert facts.lag_limit is None and facts.held_back and facts.bound, hole


def test_a_query_that_failed_before_the_end_sample_leaves_the_lag_known() -> None:
    # a fresh topic's first queries fail until it has a leader: the end sample is what counts
    assert consumer_facts(result(lag_failed=2), PLAN, producers=10).lag_limit == 50


def test_an_agent_from_before_the_end_flag_is_read_as_before() -> None:
    old = result()
    del old["lag_end_sampled"]
    assert consumer_facts(old, PLAN, producers=10).lag_limit == 50
