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
