"""How long a cold cluster is primed: until it meets the SLO, stops getting faster, lost
messages, or ran the most rounds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.measure.priming import MAX_ROUNDS, describe, primed_enough


def test_nothing_run_is_not_primed() -> None:
    assert not primed_enough([])


def test_a_first_run_that_meets_the_slo_is_enough() -> None:
    assert primed_enough([("pass", 12.0, False)])


def test_a_cold_cluster_is_primed_again_while_it_gets_faster() -> None:
    # three brokers on two cores, measured: p99 12.9 s, then 1.2 s, then within the SLO
    assert not primed_enough([("fail", 12935.0, False)])
    assert not primed_enough([("fail", 12935.0, False), ("fail", 1239.0, False)])
    assert primed_enough(
        [("fail", 12935.0, False), ("fail", 1239.0, False), ("pass", 180.0, False)]
    )


def test_a_load_the_cluster_cannot_hold_stops_once_settled() -> None:
    assert primed_enough([("fail", 8000.0, False), ("fail", 7000.0, False)])


def test_lost_messages_or_no_latency_stop_at_once() -> None:
    assert primed_enough([("fail", 20.0, True)])
    assert primed_enough([("error", None, False)])


@given(st.lists(st.tuples(st.just("fail"), st.floats(1.0, 1e5), st.just(False)), max_size=10))
def test_priming_never_runs_more_than_its_rounds(rounds: list[tuple[str, float, bool]]) -> None:
    done = [i for i in range(1, len(rounds) + 1) if primed_enough(rounds[:i])]
    if len(rounds) >= MAX_ROUNDS:
        assert done and done[0] <= MAX_ROUNDS


def test_the_note_gives_every_round() -> None:
    text = describe([("fail", 12935.0, False), ("pass", 180.5, False)], 5.0)
    assert "primed by 2 unmeasured runs of 5s" in text
    assert "p99 12935 -> 180.5 ms, last verdict pass" in text


def _primer(verdict: str, slo_metrics: dict[str, float], drain_stop: str = "complete"):
    from pytest_frida.measure.result import StepResult
    from pytest_frida.measure.slo import parse_slo

    step = StepResult(
        test="t.py::test_x",
        producers=4,
        rate_per_producer=100.0,
        duration_s=2.0,
        warmup_s=0.0,
        message_size=100,
        partitions=6,
        slo="p99<=100ms, loss==0",
    )
    step.verdict = verdict
    step.verdicts = parse_slo("p99<=100ms, loss==0").evaluate(slo_metrics)
    step.drain_stop = drain_stop
    if verdict == "error":
        step.reasons = ["7 acknowledged messages may still be on their way, so loss is unknown"]
    return step


def test_what_priming_lost_or_left_unknown_reaches_the_first_step() -> None:
    from pytest_frida.measure.priming import carried_over

    warm = _primer("pass", {"p99": 20.0, "loss": 0})
    slow = _primer("fail", {"p99": 900.0, "loss": 0})
    lost = _primer("fail", {"p99": 20.0, "loss": 3})
    cut = _primer("error", {"p99": 20.0, "loss": 0}, drain_stop="cap")
    assert carried_over([slow, warm]) == (None, None)  # slow is no loss
    loss, unknown = carried_over([slow, lost, warm])
    assert loss is not None and "loss==0" in loss and unknown is None
    loss, unknown = carried_over([cut, warm])
    assert loss is None and unknown is not None and "7 acknowledged" in unknown
    assert carried_over([cut, lost])[0] is not None  # a count of loss outranks unknown
