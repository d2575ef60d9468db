"""The sizing answer: a target beside each shape's limit, and a projection said to be one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.config import build_settings
from pytest_frida.config.values import SettingsError
from pytest_frida.measure.result import StepResult
from pytest_frida.report.capacity import CapacityLimit
from pytest_frida.report.html import render
from pytest_frida.report.model import RunInfo
from pytest_frida.report.sizing import (
    ShapeCapacity,
    SizingTarget,
    TargetError,
    answer_for,
    parse_target,
    project,
    run_sizing,
    size,
)


def limit(
    status: str, last_pass: int | None, first_fail: int | None, trials: int = 2
) -> CapacityLimit:
    """A limit whose ends were each measured `trials` times, all agreeing."""
    tally = [(n, trials, 0) for n in [last_pass] if n is not None]
    tally += [(n, 0, trials) for n in [first_fail] if n is not None]
    return CapacityLimit(
        "t.py::test_x", status, last_pass, last_pass, first_fail, 4, 0, trials=tuple(tally)
    )


def shape(
    label: str,
    status: str,
    last_pass: int | None,
    first_fail: int | None,
    brokers: int = 1,
    rate: float = 100.0,
    trials: int = 2,
    **rest: object,
) -> ShapeCapacity:
    return ShapeCapacity(
        label, {"brokers": brokers, **rest}, limit(status, last_pass, first_fail, trials), rate
    )


TARGET = SizingTarget(3200.0)  # 32 producers at 100 msg/s


@pytest.mark.parametrize(
    ("text", "msg_per_s", "instruments"),
    [
        ("instruments=16000,ticks=2/s", 32000.0, 16000),
        ("instruments=16000, ticks=120/min", 32000.0, 16000),
        ("ticks=2,instruments=10", 20.0, 10),
        ("rate=32000/s", 32000.0, None),
        ("rate=32000msg/s", 32000.0, None),
        ("rate=1.5e3", 1500.0, None),
    ],
)
def test_targets_read_as_messages_a_second(
    text: str, msg_per_s: float, instruments: int | None
) -> None:
    target = parse_target(text)
    assert target.msg_per_s == pytest.approx(msg_per_s)
    assert target.instruments == instruments
    assert target.text == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "instruments=16000",
        "ticks=2/s",
        "instruments=16000,ticks=2/fortnight",
        "instruments=-3,ticks=2/s",
        "instruments=1.5,ticks=2/s",
        "rate=0/s",
        "rate=lots",
        "rate=10/s,instruments=3",
        "brokers=3",
        "rate=1/s,rate=2/s",
    ],
)
def test_a_bad_target_is_refused(text: str) -> None:
    with pytest.raises(TargetError):
        parse_target(text)


def test_the_option_says_which_value_is_bad() -> None:
    with pytest.raises(SettingsError, match=r"--frida-target: ticks='2/fortnight' is not a rate"):
        build_settings({"target": "instruments=1,ticks=2/fortnight"}, {})
    settings = build_settings({"target": "instruments=16000,ticks=2/s"}, {})
    assert settings.target == parse_target("instruments=16000,ticks=2/s")


def test_a_confirmed_limit_above_the_target_meets_it_with_its_headroom() -> None:
    answer = answer_for(TARGET, shape("one", "confirmed", 40, 44))
    assert answer.answer == "meets"
    assert answer.headroom == pytest.approx(4000 / 3200 - 1)
    assert "25% headroom at least (38% at most)" in answer.sentence


def test_a_confirmed_failure_below_the_target_is_short() -> None:
    answer = answer_for(TARGET, shape("one", "confirmed", 20, 22))
    assert answer.answer == "short"
    assert answer.headroom is None


def test_a_target_inside_the_bracket_is_undecided() -> None:
    assert answer_for(TARGET, shape("one", "confirmed", 30, 34)).answer == "undecided"


@pytest.mark.parametrize("status", ["bracketed", "noisy", "no_data"])
def test_an_unconfirmed_limit_decides_nothing_however_high(status: str) -> None:
    answer = answer_for(TARGET, shape("one", status, 400, 440))
    assert answer.answer == "unknown"
    assert "no confirmed limit" in answer.sentence


def test_a_limit_not_reached_meets_only_what_it_held() -> None:
    assert answer_for(TARGET, shape("one", "not_reached", 64, None)).answer == "meets"
    assert answer_for(TARGET, shape("one", "not_reached", 16, None)).answer == "unknown"


def test_a_failure_at_the_smallest_step_below_the_target_is_short() -> None:
    assert answer_for(TARGET, shape("one", "below_range", None, 4)).answer == "short"
    assert answer_for(TARGET, shape("one", "below_range", None, 64)).answer == "unknown"


@given(
    status=st.sampled_from(
        ["confirmed", "bracketed", "not_reached", "below_range", "noisy", "no_data"]
    ),
    last_pass=st.integers(1, 200),
    gap=st.integers(1, 50),
    target=st.floats(1.0, 50_000.0),
)
def test_meets_only_on_a_measured_pass_at_or_above_the_target(
    status: str, last_pass: int, gap: int, target: float
) -> None:
    first_fail = None if status == "not_reached" else last_pass + gap
    answer = answer_for(SizingTarget(target), shape("s", status, last_pass, first_fail))
    held = last_pass * 100.0
    if answer.answer == "meets":
        assert status in ("confirmed", "not_reached") and held >= target
    if answer.answer == "short":
        assert first_fail is not None and first_fail * 100.0 <= target
        assert status in ("confirmed", "below_range")
    if status == "confirmed" and held >= target:
        assert answer.answer == "meets"


def test_projection_is_linear_in_brokers_at_the_lowest_measured_per_broker() -> None:
    one = shape("1 broker", "confirmed", 10, 12, brokers=1)  # 1,000 msg/s per broker
    three = shape("3 brokers", "confirmed", 24, 26, brokers=3)  # 800 per broker
    text = project(SizingTarget(8000.0), [one, three])
    assert text is not None
    assert text.startswith("projection, not a measurement: about 10 brokers, at 800 msg/s")
    assert "1 -> 3 brokers gave 2.40x the capacity for 3.00x the brokers (80% of linear" in text
    assert "linear is optimistic" in text


def test_projection_takes_the_family_that_carries_most_per_broker() -> None:
    plain = shape("plain", "confirmed", 10, 12, brokers=1)
    tuned = shape("tuned", "confirmed", 20, 22, brokers=1, broker_config={"x": "1"})
    text = project(SizingTarget(8000.0), [plain, tuned])
    assert text is not None and "about 4 brokers" in text and "among tuned" in text
    assert "only one broker count has a confirmed limit" in text


def test_no_projection_from_unconfirmed_limits() -> None:
    assert project(TARGET, [shape("a", "bracketed", 10, 12)]) is None
    sizing = size(TARGET, [shape("a", "bracketed", 10, 12)], single_host=False)
    assert sizing.projection is None
    assert any("no projection" in n for n in sizing.notes)


def test_a_shape_that_meets_the_target_needs_no_projection() -> None:
    sizing = size(
        TARGET,
        [shape("a", "confirmed", 10, 12), shape("b", "confirmed", 40, 44, brokers=3)],
        single_host=True,
    )
    assert [a.answer for a in sizing.answers] == ["short", "meets"]
    assert sizing.projection is None
    assert any("shared this one machine" in n for n in sizing.notes)


def step(test: str, producers: int, verdict: str, brokers: int | None) -> StepResult:
    param = f"producers={producers}"
    nodeid = f"{test[:-1]}-{param}]" if test.endswith("]") else f"{test}[{param}]"
    s = StepResult(
        test=nodeid,
        producers=producers,
        rate_per_producer=100,
        duration_s=1,
        warmup_s=0,
        message_size=64,
        partitions=1,
        slo="p99<=1s",
        shape={"brokers": brokers} if brokers else {},
    )
    s.verdict = verdict
    return s


def _run(target: str | None) -> RunInfo:
    return RunInfo(
        "r1", "2026-12-04T00:00:00Z", "local", "kafka-python", "4.4.0",
        {"target": target, "brokers": 1, "broker_config": {}},
    )  # fmt: skip


def test_the_report_sizes_every_shape_it_measured() -> None:
    steps = [
        step(test, n, verdict, brokers)
        for test, brokers, passes in [("t.py::test_a[shape=1b]", 1, 20), ("t.py::test_b", None, 40)]
        for n, verdict in [(passes, "pass")] * 2 + [(passes + 2, "fail")] * 2
    ]
    sizing = run_sizing(_run("rate=3000/s"), steps)
    assert sizing is not None
    assert [(a.label, a.answer) for a in sizing.answers] == [
        ("test_a[shape=1b]", "short"),
        ("test_b", "meets"),
    ]
    page = render(_run("rate=3000/s"), steps, [], [])
    assert "Sizing: 3,000 msg/s" in page and "test_b</b>: meets it" in page
    assert run_sizing(_run(None), steps) is None
    assert "Sizing" not in render(_run(None), steps, [], [])


def test_a_failure_below_linear_scaling_is_said_beside_the_projection() -> None:
    one = shape("1b", "confirmed", 40, 44, rate=500.0, replication=1)  # 20,000 msg/s
    three = shape("3b", "below_range", None, 2, brokers=3, rate=500.0, replication=3)
    text = project(SizingTarget(32000.0), [one, three])
    assert text is not None
    assert "about 2 brokers" in text and "every message is kept in 1 copy as measured" in text
    assert (
        "contradicted by 3b: 3 brokers failed at 1,000 msg/s, below the 60,000 msg/s"
        " linear scaling predicts"
    ) in text
    other = shape("3b-tuned", "below_range", None, 2, brokers=3, broker_config={"x": "1"})
    assert "contradicted" not in (project(SizingTarget(32000.0), [one, other]) or "")


def test_a_single_pass_or_failure_sizes_nothing() -> None:
    # a sweep that never failed does not measure its top count again
    once = answer_for(TARGET, shape("one", "not_reached", 48, None, trials=1))
    assert once.answer == "unknown" and "single pass, not confirmed" in once.sentence
    assert answer_for(TARGET, shape("one", "below_range", None, 4, trials=1)).answer == "unknown"


def test_shapes_of_different_tests_are_never_one_family() -> None:
    # 64 B messages under a loose SLO beside 64 KiB under a tight one: no scaling figure
    small = ShapeCapacity("a[1b]", {"brokers": 1}, limit("confirmed", 40, 44), 100.0, "a")
    large = ShapeCapacity("b[3b]", {"brokers": 3}, limit("confirmed", 4, 6), 100.0, "b")
    text = project(SizingTarget(80000.0), [small, large])
    assert text is not None
    assert "measured: 1 -> 3" not in text and "only one broker count" in text
    assert "about 20 brokers" in text and "among a[1b]" in text
    assert "other shapes carried less per broker: b[3b] (133 msg/s)" in text
