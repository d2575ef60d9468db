"""Faults during a step on a real three-broker cluster: no acknowledged message is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

SUITE = """
import pytest

SETTINGS = dict(producers=[2], rate=50, slo="loss==0", producer_config={"acks": "all"})


@pytest.mark.capacity(**SETTINGS)
def test_broker_killed_and_restarted(frida_step, frida_faults, frida_cluster):
    assert len(frida_cluster.brokers) == 3
    frida_faults.at(2.0, "kill", broker=1).at(5.0, "restart", broker=1)
    result = frida_step.run()
    assert [(f["action"], f["outcome"]) for f in result.faults] == [
        ("kill", "done"), ("restart", "done")]
    assert result.counts.acked > 0
    assert result.counts.lost == 0


@pytest.mark.capacity(**SETTINGS)
def test_broker_paused_and_resumed(frida_step, frida_faults):
    frida_faults.at(2.0, "pause", broker=2).at(4.0, "resume", broker=2)
    result = frida_step.run()
    assert [f["action"] for f in result.faults] == ["pause", "resume"]
    assert result.counts.acked > 0
    assert result.counts.lost == 0


def test_unknown_fault_action(frida_faults):
    with pytest.raises(ValueError, match="accepted: kill, stop, restart, pause, resume, delay"):
        frida_faults.at(1.0, "explode", broker=0)
"""


def test_faults_on_three_brokers_lose_no_acknowledged_message(
    pytester: pytest.Pytester, tmp_path: Path, leak_check: None
) -> None:
    pytester.makepyfile(test_faults_suite=SUITE)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--frida-brokers=3",
        "--frida-duration=8",
        "--frida-prime=0",
        "--frida-warmup=1",
        f"--frida-report-dir={tmp_path / 'reports'}",
        timeout=400,
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_broker_killed_and_restarted*2*100*pass*",
            "*test_broker_paused_and_resumed*2*100*pass*",
        ]
    )
