"""A broker that flushes every message shows its handlers waiting on the disk.

With `log.flush.interval.messages=1` every append is followed by an fsync under the
partition's lock; Kafka's log flush timer (served by the JMX exporter) must show the
flushes, one per append, and the append time they took (measure.resources `flush_share`)
above the share at which the attribution names the disk rather than the handlers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pytest_frida.measure.attribution import FLUSHING

SUITE = """
import pytest

@pytest.mark.capacity(producers=[2], rate=50, duration=3, warmup=1, slo="loss==0")
def test_flushing(frida_result):
    assert frida_result.counts.sent > 0
"""


def test_a_broker_flushing_every_message_spends_its_appends_in_fsync(
    pytester: pytest.Pytester, tmp_path: Path, leak_check: None
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    report_dir = tmp_path / "reports"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--frida-report-dir={report_dir}",
        "--frida-prime=0",
        "--frida-broker-config=log.flush.interval.messages=1",
        timeout=240,
    )
    result.assert_outcomes(passed=1)
    (run_dir,) = [p for p in report_dir.iterdir() if p.is_dir()]
    (step,) = json.loads((run_dir / "report.json").read_text())["steps"]
    figures = step["resources"]["sources"]["broker-0"]["figures"]
    # every append flushes: about as many flushes as produce requests (consumer offset
    # commits flush too)
    flushes = figures["log_flushes_per_s"]["mean"]
    assert flushes >= 0.9 * figures["produce_requests_per_s"]["mean"] > 0, figures
    assert figures["log_flush_mean_ms"]["mean"] > 0
    assert figures["flush_share"]["mean"] >= FLUSHING, figures
    (row,) = pd.read_csv(run_dir / "steps.csv").to_dict("records")
    assert row["log_flush_share"] == figures["flush_share"]["mean"]
