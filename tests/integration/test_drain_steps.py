"""Drain steps and the lag clause on a real broker: a consumer sweep reads a backlog the
producers left, every message accounted, and a live step judges its lag from samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SUITE = """
import pytest


@pytest.mark.parametrize("frida_consumers", [1, 2], ids=lambda n: f"consumers={n}")
@pytest.mark.capacity(producers=[2], rate=2000, drain=True)
def test_drain(frida_result, frida_consumers):
    assert frida_result.drain["consumers"] == frida_consumers


@pytest.mark.capacity(producers=[2], rate=500, slo="p99<=2s, lag<=5s, lag<=100000msgs")
def test_live_lag(frida_result):
    pass
"""


def test_a_consumer_sweep_drains_the_backlog_and_a_live_step_judges_its_lag(
    pytester: pytest.Pytester, tmp_path: Path, leak_check: None
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    report_dir = tmp_path / "reports"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--frida-report-dir={report_dir}",
        "--frida-duration=3",
        "--frida-prime=0",
        "--frida-warmup=1",
        timeout=300,
    )
    result.stdout.fnmatch_lines(["*test_drain at 2 producers: drain: 1 consumer(s) read *msg/s*"])
    (run_dir,) = [p for p in report_dir.iterdir() if p.is_dir()]
    steps = {
        s["test"].split("::")[1]: s
        for s in json.loads((run_dir / "report.json").read_text())["steps"]
    }
    for count in (1, 2):
        step = steps[f"test_drain[producers=2-consumers={count}]"]
        drain, counts = step["drain"], step["counts"]
        # every acknowledged message waited for the drain, and was read in it
        assert drain["backlog"] == counts["acked"] == counts["sent"] > 0
        assert drain["messages"] == drain["backlog"] and drain["complete"]
        assert counts["lost"] == counts["duplicated"] == 0
        assert drain["rate"] > 0 and len(drain["per_consumer"]) == count
        # the consumers read nothing while the producers sent: the backlog built up
        assert max(row[1] for row in drain["lag_series"]) > 0.5 * drain["backlog"]
        assert step["verdict"] == "pass" and "p99<=250ms" in step["withheld"]
    live = steps["test_live_lag[producers=2]"]
    judged = {v["clause"]: v["measured"] for v in live["verdicts"]}
    assert judged["lag<=5s"] == live["lag"]["time_ms"] is not None
    assert judged["lag<=100000msgs"] == live["lag"]["msgs"] is not None
    assert live["verdict"] in ("pass", "fail")
    result.assert_outcomes(passed=3)
