"""The lag clause, without a broker: its grammar, the step's lag from its consumers'
figures, and how the verdict judges it (never a pass on a lag no one measured)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.measure.lag import ConsumerLag, step_lag
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.slo import SloError, parse_slo, with_delivery_guards
from pytest_frida.measure.verdict import SATURATED, ConsumerFacts, GeneratorFacts, StepFacts, judge

GOOD = {"p99": 20.0, "loss": 0, "unacked": 0, "failed": 0, "lag": 300.0, "lag_msgs": 500}
IDLE = ConsumerFacts("c0", busy=0.2)
#: saturated, and its lag past what arrives within the latency bound: it held messages back
HELD = ConsumerFacts("c1", busy=0.97, lag_max=50_000, lag_end=40_000, lag_limit=400)
GENERATOR_BOUND = GeneratorFacts("p1", 0.97, 1000, 600, 900.0, 2000.0)


def facts(slo: str, metrics: Mapping[str, float | None] | None = None, **kw: object) -> StepFacts:
    return StepFacts(
        slo=with_delivery_guards(parse_slo(slo)),
        metrics={**GOOD, **(metrics or {})},
        **kw,  # type: ignore[arg-type]
    )


# -- grammar -------------------------------------------------------------------------


def test_lag_in_time_is_normalised_to_ms() -> None:
    (clause,) = parse_slo("lag<=1s").clauses
    assert (clause.metric, clause.op, clause.threshold, clause.text) == (
        "lag",
        "<=",
        1000.0,
        "lag<=1s",
    )
    assert parse_slo("lag < 250ms").clauses[0].threshold == 250.0


def test_lag_in_messages_is_its_own_metric() -> None:
    (clause,) = parse_slo("lag<=10000msgs").clauses
    assert (clause.metric, clause.threshold, clause.text) == ("lag_msgs", 10000.0, "lag<=10000msgs")
    assert parse_slo("lag<=5msg").clauses[0].text == "lag<=5msgs"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("lag<=1", "lag needs a unit: us, ms or s (time) or msgs (messages), got 'none'"),
        ("lag<=1min", "got 'min'"),
        ("lag<=1.5msgs", "a lag in messages is a whole number"),
    ],
)
def test_a_bad_lag_clause_says_what_is_accepted(text: str, says: str) -> None:
    with pytest.raises(SloError, match=f"clause '{text}'") as info:
        parse_slo(text)
    assert says in str(info.value)


@given(
    st.integers(min_value=0, max_value=10**9),
    st.sampled_from(["us", "ms", "s", "msgs"]),
    st.sampled_from(["<=", "<", ">=", ">", "=="]),
)
def test_a_lag_clause_reads_back_as_itself(value: int, unit: str, op: str) -> None:
    once = parse_slo(f"lag{op}{value}{unit}")
    assert parse_slo(once.text) == once


def test_an_unmeasured_lag_clause_is_unknown_not_violated() -> None:
    (verdict,) = parse_slo("lag<=1s").evaluate({})
    assert verdict.unknown and not verdict.passed
    assert verdict.describe() == "lag<=1s: measured not measured [unknown]"
    (count,) = parse_slo("lag<=10msgs").evaluate({"lag_msgs": 12})
    assert count.describe() == "lag<=10msgs: measured 12msgs [VIOLATED]" and not count.unknown


def test_a_step_offers_its_lag_to_the_clauses_only_when_it_has_one() -> None:
    step = StepResult("t", 1, 10.0, 1.0, 0.0, 64, 1, "lag<=1s")
    assert "lag" not in step.slo_metrics()
    step.lag = {"time_ms": 12.5, "msgs": 40, "detail": ""}
    assert step.slo_metrics()["lag"] == 12.5 and step.slo_metrics()["lag_msgs"] == 40


# -- the step's lag ------------------------------------------------------------------


def lag(
    name: str, msgs: int, time_ms: float | None, samples: int = 5, end: bool = True
) -> ConsumerLag:
    return ConsumerLag(name, samples, end, 0, msgs, time_ms)


def test_the_step_lag_sums_messages_and_takes_the_longest_time() -> None:
    got = step_lag([lag("c0", 100, 40.0), lag("c1", 30, 900.0)])
    assert (got.time_ms, got.msgs, got.detail) == (900.0, 130, "")


def test_a_consumer_without_its_end_sample_leaves_the_lag_unknown() -> None:
    got = step_lag([lag("c0", 100, 40.0), lag("c1", 0, None, samples=3, end=False)])
    assert got.time_ms is None and got.msgs is None
    assert "c1 has no lag sample at the window's end (3 in the window" in got.detail
    assert step_lag([]).msgs is None and step_lag([]).detail


def test_a_consumer_without_a_lag_in_time_leaves_only_that_unknown() -> None:
    got = step_lag([lag("c0", 100, 40.0), lag("old", 7, None)])
    assert got.time_ms is None and got.msgs == 107 and "old measured no lag in time" in got.detail


@given(st.lists(st.tuples(st.integers(0, 10**6), st.floats(0, 1e6), st.booleans()), min_size=1))
def test_the_step_lag_is_known_only_when_every_consumer_measured_it(
    rows: list[tuple[int, float, bool]],
) -> None:
    consumers = [lag(f"c{i}", m, t, end=end) for i, (m, t, end) in enumerate(rows)]
    got = step_lag(consumers)
    if all(end for _, _, end in rows):
        assert got.msgs == sum(m for m, _, _ in rows)
        assert got.time_ms == max(t for _, t, _ in rows)
    else:
        assert got.msgs is None and got.time_ms is None and got.detail


# -- the verdict ---------------------------------------------------------------------


def test_a_lag_within_its_bound_passes() -> None:
    v = judge(facts("p99<=250ms, lag<=1s, lag<=1000msgs", consumers=[IDLE]))
    assert v.verdict == "pass" and not v.withheld


def test_a_lag_past_its_bound_with_idle_consumers_fails() -> None:
    v = judge(facts("lag<=1s", {"lag": 2500.0}, consumers=[IDLE]))
    assert v.verdict == "fail" and v.decides == "fail"
    assert any(
        "the consumers fell behind" in r and "lag<=1s: measured 2500ms" in r for r in v.reasons
    )


def test_a_lag_the_harness_consumers_made_is_withheld_not_the_brokers() -> None:
    v = judge(
        facts(
            "p99<=250ms, lag<=1s, lag<=1000msgs", {"lag": 2500.0, "lag_msgs": 9e4}, consumers=[HELD]
        )
    )
    assert v.verdict == "consumer_bound" and v.decides is None
    assert set(v.withheld) == {"p99<=250ms", "lag<=1s", "lag<=1000msgs"}
    assert any("while lag missed the SLO, so the lag is the consumers'" in r for r in v.reasons)


def test_an_unmeasured_lag_decides_nothing_and_says_why() -> None:
    v = judge(facts("lag<=1s", {"lag": None}, consumers=[IDLE], lag_detail="c0 has no lag sample"))
    assert v.verdict == "error" and v.decides is None
    assert v.withheld == ("lag<=1s",)
    assert "could not be judged: c0 has no lag sample" in v.reasons[0]


def test_an_unmeasured_lag_never_hides_a_lost_message_or_a_latency_miss() -> None:
    assert judge(facts("lag<=1s", {"lag": None, "loss": 3})).verdict == "fail"
    assert judge(facts("p99<=250ms, lag<=1s", {"lag": None, "p99": 900.0})).verdict == "fail"


def test_a_generator_that_fell_behind_withholds_the_lag_in_time_not_in_messages() -> None:
    v = judge(facts("lag<=1s, lag<=1000msgs", {"lag": 5000.0}, generators=[GENERATOR_BOUND]))
    assert v.verdict == "generator_bound" and v.withheld == ("lag<=1s",)
    v = judge(facts("lag<=1s, lag<=1000msgs", {"lag_msgs": 5000}, generators=[GENERATOR_BOUND]))
    assert v.verdict == "fail"


def test_a_drain_step_is_judged_by_its_counts_alone() -> None:
    slo = "p99<=250ms, lag<=1s, lag<=10msgs"
    backlog = {"p99": 9000.0, "lag": 9000.0, "lag_msgs": 10**5}
    v = judge(facts(slo, backlog, consumers=[HELD], drain=True))
    assert v.verdict == "pass" and set(v.withheld) == {"p99<=250ms", "lag<=1s", "lag<=10msgs"}
    assert any("a drain step holds its consumers back" in r for r in v.reasons)
    assert judge(facts(slo, {**backlog, "loss": 1}, drain=True)).verdict == "fail"
    assert judge(facts(slo, {"lag": None}, drain=True)).verdict == "pass"


@given(
    lag_ms=st.none() | st.floats(0, 1e5),
    lag_msgs=st.none() | st.integers(0, 10**6),
    busy=st.floats(0, 1),
    loss=st.integers(0, 3),
    drain=st.booleans(),
)
def test_no_step_passes_on_a_lag_clause_it_could_not_judge(
    lag_ms: float | None, lag_msgs: int | None, busy: float, loss: int, drain: bool
) -> None:
    consumer = ConsumerFacts("c", busy=busy, lag_max=10**6, lag_limit=10)
    v = judge(
        facts(
            "lag<=1s, lag<=1000msgs",
            {"lag": lag_ms, "lag_msgs": lag_msgs, "loss": loss},
            consumers=[consumer],
            drain=drain,
        )
    )
    if loss:
        assert v.verdict == "fail"
    if v.verdict == "pass" and not drain:
        assert lag_ms is not None and lag_ms <= 1000 and lag_msgs is not None and lag_msgs <= 1000
    if not drain and (lag_ms is None or lag_msgs is None):
        assert v.verdict != "pass"
    if v.verdict == "consumer_bound":
        assert busy >= SATURATED
