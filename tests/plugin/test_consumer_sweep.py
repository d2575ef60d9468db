"""A consumer-count sweep (`frida_consumers` parametrised) beside the producer counts, and
its bad values, which fail before any broker starts."""

from __future__ import annotations

import pytest

SWEEP = """
import pytest


@pytest.mark.parametrize("frida_consumers", {counts}, ids=lambda n: f"consumers={{n}}")
@pytest.mark.capacity(producers=[2], partitions=3, drain=True)
def test_drain(frida_step, frida_consumers):
    assert frida_step.plan.consumers == frida_consumers and frida_step.plan.drain
"""


def test_a_sweep_over_consumer_counts_is_one_test_per_count(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sweep=SWEEP.format(counts=[1, 2]))
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert [line.split("::", 1)[1] for line in result.outlines if "::" in line] == [
        "test_drain[producers=2-consumers=1]",
        "test_drain[producers=2-consumers=2]",
    ]


def test_more_consumers_than_partitions_fail_before_a_broker_starts(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_sweep=SWEEP.format(counts=[5]))
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*frida: frida_consumers=5: more consumers than the 3 partitions of the test's topic*"]
    )
    assert "Traceback" not in result.stdout.str()
