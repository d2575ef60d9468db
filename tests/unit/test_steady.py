"""Steady state of a step's measured window, from synthetic per-second timelines."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.controller.merge import merge_timelines
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.steady import (
    ALPHA,
    MIN_RISE,
    MIN_SECONDS,
    label,
    mann_kendall_p,
    measured_means,
    steady_state,
    theil_sen,
    trend_note,
)
from pytest_frida.report.summary import format_table
from pytest_frida.report.writer import step_row

WARMUP, DURATION = 2.0, 20.0


def timeline(means_ms: list[float], per_second: int = 100) -> list[list[int]]:
    """[second, messages, worst us, sum us] rows whose mean latency is `means_ms[second]`."""
    return [
        [sec, per_second, round(2 * mean * 1000), round(mean * 1000 * per_second)]
        for sec, mean in enumerate(means_ms)
    ]


def noise(rng: random.Random, seconds: int, base_ms: float, cv: float) -> list[float]:
    return [max(0.01, rng.gauss(base_ms, base_ms * cv)) for _ in range(seconds)]


def test_flat_noise_is_steady() -> None:
    means = noise(random.Random(1), int(WARMUP + DURATION), 5.0, 0.1)
    result = steady_state(timeline(means), WARMUP, DURATION)
    assert result.verdict == "steady"
    assert result.seconds == DURATION
    assert result.median_ms == pytest.approx(5.0, rel=0.1)
    assert abs(result.rise_pct or 0) < 100 * MIN_RISE


@pytest.mark.parametrize("direction", [1, -1])
def test_a_ramp_is_a_trend_with_its_sign(direction: int) -> None:
    rng = random.Random(2)
    # 5 ms in the middle of the window, moving 0.1 ms a second either way, with noise
    means = [5.0 + direction * 0.1 * (sec - 12) + rng.gauss(0, 0.1) for sec in range(22)]
    result = steady_state(timeline(means), WARMUP, DURATION)
    assert result.verdict == "trend"
    assert result.slope_ms_per_s == pytest.approx(direction * 0.1, abs=0.02)
    assert result.p_value is not None and result.p_value < ALPHA
    assert (result.rise_pct or 0) * direction == pytest.approx(100 * 0.1 * 19 / 5.0, rel=0.2)
    note = trend_note(result.to_dict(), WARMUP)
    assert len(note) == 1
    assert note[0].startswith("latency rose" if direction > 0 else "latency fell")
    assert "2 s warm-up did not reach steady state" in note[0]
    assert label(result.to_dict()).startswith("trend +" if direction > 0 else "trend -")


def test_a_real_but_small_drift_is_steady() -> None:
    # significant (no noise at all) but 10% over the window: under MIN_RISE
    means = [10.0 + 0.05 * sec for sec in range(22)]
    result = steady_state(timeline(means), WARMUP, DURATION)
    assert result.p_value is not None and result.p_value < ALPHA
    assert result.rise_pct == pytest.approx(100 * 0.05 * 19 / 10.5, rel=0.01)
    assert result.verdict == "steady"
    assert trend_note(result.to_dict(), WARMUP) == []


def test_too_few_seconds_is_unknown_without_figures() -> None:
    means = [5.0 + sec for sec in range(int(WARMUP) + MIN_SECONDS - 1)]  # a steep ramp
    result = steady_state(timeline(means), WARMUP, DURATION)
    assert result.verdict == "unknown"
    assert result.seconds == MIN_SECONDS - 1
    assert result.slope_ms_per_s is None and result.p_value is None
    assert result.rise_pct is None
    assert "fewer than the 8" in result.reason
    assert label(result.to_dict()) == "unknown"


def test_silent_seconds_do_not_count() -> None:
    rows = timeline([5.0] * 22)
    for sec in range(2, 17):  # only 5 measured seconds still had messages
        rows[sec][1] = rows[sec][3] = 0
    assert steady_state(rows, WARMUP, DURATION).verdict == "unknown"


def test_timeline_without_sums_is_unknown() -> None:
    rows = [row[:3] for row in timeline([5.0] * 22)]
    result = steady_state(rows, WARMUP, DURATION)
    assert result.verdict == "unknown"
    assert "no latency sums" in result.reason


def test_only_whole_measured_seconds_are_tested() -> None:
    # warm-up 2.5 s of 10 s: seconds 3..11 lie wholly inside [2.5, 12.5)
    rows = timeline([100.0, 50.0, 20.0, *[5.0] * 12])
    assert [sec for sec, _ in measured_means(rows, 2.5, 10.0) or []] == list(range(3, 12))
    # the warm-up's steep fall is not the measured window's
    assert steady_state(rows, 2.0, 10.0).verdict == "steady"


def test_mann_kendall_matches_the_formula() -> None:
    # strictly rising, n=10: S=45, var=125, z=44/sqrt(125)
    p = mann_kendall_p([float(x) for x in range(10)])
    assert p == pytest.approx(math.erfc(44 / math.sqrt(125) / math.sqrt(2)))
    assert mann_kendall_p([3.0] * 10) == 1.0
    # five tied pairs: S=40, and each pair takes 2*1*9 off 18 * var = 10*9*25
    tied = mann_kendall_p([1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0])
    assert tied == pytest.approx(math.erfc(39 / math.sqrt((2250 - 5 * 18) / 18) / math.sqrt(2)))


def test_theil_sen_ignores_an_outlying_second() -> None:
    points = [(float(x), 2.0 * x + 1) for x in range(12)]
    points[5] = (5.0, 500.0)
    assert theil_sen(points) == pytest.approx(2.0)


@settings(max_examples=10, derandomize=True, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), spiky=st.booleans())
def test_flat_noise_is_rarely_called_a_trend(seed: int, spiky: bool) -> None:
    rng = random.Random(seed)
    trends = 0
    for _ in range(300):
        seconds = rng.randint(MIN_SECONDS, 40)
        means = noise(rng, int(WARMUP) + seconds, rng.uniform(1, 500), rng.uniform(0.01, 0.6))
        if spiky:  # now and then a second ten times slower
            means = [m * 10 if rng.random() < 0.05 else m for m in means]
        trends += steady_state(timeline(means), WARMUP, seconds).verdict == "trend"
    assert trends < 0.03 * 300


def test_merged_consumers_add_their_sums() -> None:
    merged = merge_timelines([[[0, 2, 900, 1000], [1, 1, 50, 50]], [[0, 1, 400, 400]]])
    assert merged == [[0, 3, 900, 1400], [1, 1, 50, 50]]


def test_a_consumer_without_sums_leaves_none() -> None:
    merged = merge_timelines([[[0, 2, 900, 1000]], [[0, 1, 400]]])
    assert merged == [[0, 3, 900]]
    assert steady_state(merged, 0, 1).verdict == "unknown"


def test_a_trend_shows_in_the_summary_and_csv_but_not_the_verdict() -> None:
    means = [5.0 + 0.3 * sec for sec in range(22)]
    step = StepResult(
        test="t.py::test_x[producers=4]",
        producers=4,
        rate_per_producer=10.0,
        duration_s=DURATION,
        warmup_s=WARMUP,
        message_size=256,
        partitions=3,
        slo="p99<=250ms",
        verdict="pass",
        timeline=timeline(means),
    )
    step.steady = steady_state(step.timeline, WARMUP, DURATION).to_dict()
    lines = format_table([step])
    assert len(lines) == 4
    assert lines[-1].startswith("test_x at 4 producers: latency rose")
    assert step_row("run", step)["steady"] == "trend"
    assert step.verdict == "pass"
    assert step_row("run", StepResult(**{**step.__dict__, "steady": {}}))["steady"] == ""
