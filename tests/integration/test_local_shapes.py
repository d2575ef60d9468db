"""Cluster shapes on real local brokers: each shape on its own cluster, the previous one
stopped before the next starts (their brokers' own logs say so), the topic as the shape
sets it, and each step's shape in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SUITE = """
import pytest

@pytest.mark.capacity(
    producers=[2], rate=50, duration=2, warmup=1, slo="p99<=30s, loss==0",
    shapes=[{"brokers": 1}, {"brokers": 2, "partitions": 4, "min_insync": 2}],
)
def test_shapes(frida_result, frida_step):
    assert len(frida_step.cluster.brokers) == frida_step.shape.brokers
"""


def _log_span(log: Path) -> tuple[str, str]:
    """The first and last timestamps of a broker's server.log."""
    stamps = [line[1:24] for line in log.read_text().splitlines() if line.startswith("[20")]
    return stamps[0], stamps[-1]


def test_each_shape_runs_on_its_own_cluster_in_turn(
    pytester: pytest.Pytester, tmp_path: Path, leak_check: None
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    report_dir = tmp_path / "reports"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--frida-report-dir={report_dir}",
        "--frida-prime=0",
        timeout=300,
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*capacity limits by cluster shape (producers):*", "*test*1b*2b-4p-isr2*"]
    )
    (run_dir,) = [p for p in report_dir.iterdir() if p.is_dir()]
    report = json.loads((run_dir / "report.json").read_text())
    shapes = [(s["shape_label"], s["shape"]["brokers"], s["partitions"]) for s in report["steps"]]
    assert shapes == [("1b", 1, 3), ("2b-4p-isr2", 2, 4)]
    assert report["steps"][1]["shape"]["min_insync"] == 2
    assert len(report["cluster"]["brokers"]) == 1  # the session's: brokers=1 is the first shape
    (other,) = report["shape_clusters"]
    assert other["shape"] == "2b-4p-isr2" and len(other["brokers"]) == 2
    # the first cluster's broker logged its last line before the second's logged its first
    first = _log_span(run_dir / "logs" / "broker-0" / "server.log")
    (shape_dir,) = (run_dir / "shapes").iterdir()
    second = [_log_span(log) for log in shape_dir.glob("logs/broker-*/server.log")]
    assert len(second) == 2 and all(first[1] < start for start, _ in second)
    # the shape's topic: min.insync.replicas as it set it
    assert (
        "with properties {min.insync.replicas=2}"
        in (shape_dir / "logs" / "broker-0" / "server.log").read_text()
    )
    history = [json.loads(line) for line in (report_dir / "history.jsonl").read_text().splitlines()]
    assert [(e["test"], e["plan"]["brokers"], e["plan"]["shape"]["brokers"]) for e in history] == [
        ("test_suite.py::test_shapes[shape=1b]", 1, 1),
        ("test_suite.py::test_shapes[shape=2b-4p-isr2]", 2, 2),
    ]
