"""A real capacity sweep on the local site: a real Kafka broker, real agents, real report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pytest_frida.measure.attribution import FLUSHES_PER_REQUEST

SUITE = """
import pytest

@pytest.mark.capacity(producers=[1, 5, 20], rate=10, slo="p50<=500ms, loss==0")
def test_sweep(frida_result, frida_bootstrap):
    assert frida_bootstrap.startswith("127.0.0.1:")
    assert frida_result.counts.sent > 0

@pytest.mark.capacity(producers=[1], rate=10, slo="p50<=1us")
def test_impossible_slo(frida_step):
    frida_step.run()
"""


def test_sweep_rates_loss_and_report(
    pytester: pytest.Pytester, tmp_path: Path, leak_check: None
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    report_dir = tmp_path / "reports"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        f"--frida-report-dir={report_dir}",
        "--frida-duration=4",
        "--frida-prime=0",
        "--frida-warmup=1",
        timeout=300,
    )
    result.assert_outcomes(passed=3, failed=1)
    # the impossible SLO fails with measured vs required
    result.stdout.fnmatch_lines(
        ["*SLO violated at 1 producers x 10 msg/s*", "*p50<=1us: measured *ms [[]VIOLATED[]]*"]
    )
    result.stdout.fnmatch_lines(["*frida capacity report (local, Kafka *)*"])

    (run_dir,) = [p for p in report_dir.iterdir() if p.is_dir()]
    steps = pd.read_csv(run_dir / "steps.csv")
    sweep = steps[steps["test"].str.contains("test_sweep")].sort_values("producers")
    assert list(sweep["producers"]) == [1, 5, 20]
    # achieved within 5% of target and nothing lost, at every step of the sweep
    ratio = sweep["achieved_rate"] / sweep["target_rate"]
    assert ratio.between(0.95, 1.05).all(), sweep[["producers", "achieved_rate", "target_rate"]]
    assert (sweep["lost"] == 0).all()
    assert (sweep["duplicated"] == 0).all()
    assert (sweep["acked"] == sweep["sent"]).all()
    assert (sweep["verdict"] == "pass").all()
    assert (sweep["p99_ms"] > 0).all()

    report = json.loads((run_dir / "report.json").read_text())
    assert report["site"] == "local"
    assert report["status"] == "finished"
    assert report["kafka_version"].count(".") == 2
    assert report["client"] == "confluent-kafka"
    assert report["machine"]["cpus"] >= 1
    assert report["started_at"] <= report["finished_at"]
    # the impossible SLO's failure is measured again, and confirmed
    assert len(report["steps"]) == 5
    # --frida-prime=0: the cluster's first step was not primed, and only it says so
    assert ["not primed" in " ".join(s["notes"]) for s in report["steps"]] == [
        True,
        False,
        False,
        False,
        False,
    ]
    assert report["settings"]["prime"] == 0.0
    # the host's speed, probed before the broker started and after it stopped
    host = report["host"]
    assert host["before"]["mib_per_s"] > 0 and host["after"]["mib_per_s"] > 0
    assert 0 < host["run"]["busy_pct"] <= 100 and host["run"]["steal_pct"] >= 0
    result.stdout.fnmatch_lines(["*this host's speed: one core hashed * MiB/s before and *"])
    history = [json.loads(line) for line in (report_dir / "history.jsonl").read_text().splitlines()]
    (entry,) = [e for e in history if e["test"] == "test_suite.py::test_sweep"]
    (other,) = [e for e in history if e["test"] == "test_suite.py::test_impossible_slo"]
    # the unprimed first step makes its test's plan unlike primed runs; not the other's
    assert entry["plan"]["first_step_primed_s"] == 0.0
    assert "first_step_primed_s" not in other["plan"]
    assert entry["host"]["mib_per_s"] > 0
    assert (run_dir / "logs" / "broker-0" / "server.log").stat().st_size > 0
    failed = [s for s in report["steps"] if s["verdict"] == "fail"]
    assert len(failed) == 2 and all(f["verdicts"][0]["passed"] is False for f in failed)
    # what each step used, read from the broker's process and its JMX exporter, and the
    # host's; what saturated, said under the limit
    for step in report["steps"]:
        resources = step["resources"]
        assert resources["missing"] == [], resources["missing"]
        broker = resources["sources"]["broker-0"]["figures"]
        assert 0 < broker["cores"]["mean"] <= report["machine"]["cpus"]
        assert 0 <= broker["handler_idle"]["mean"] <= 1.05
        assert broker["messages_in_per_s"]["mean"] > 0
        assert broker["produce_mean_ms"]["mean"] >= 0
        # Kafka's defaults never flush in the append: the handlers are not the disk's
        assert "flushing to disk" not in step["attribution"]["sentence"]
        assert 0 < resources["sources"]["host"]["figures"]["host_busy"]["mean"] <= 1
        assert step["attribution"]["sentence"]
    # 20 producers x 10 msg/s: the broker took in what the step sent, give or take a
    # second's worth at the window's edges
    top = next(s for s in report["steps"] if s["producers"] == 20)
    rate_in = top["resources"]["sources"]["broker-0"]["figures"]["messages_in_per_s"]["mean"]
    assert 150 <= rate_in <= 250, rate_in
    # its appends did not flush: what Kafka flushed (the metadata log) is far fewer
    top_broker = top["resources"]["sources"]["broker-0"]["figures"]
    flushes = top_broker.get("log_flushes_per_s", {"mean": 0.0})["mean"]
    assert flushes < FLUSHES_PER_REQUEST * top_broker["produce_requests_per_s"]["mean"]
    assert sweep["broker_cores"].notna().all() and sweep["host_busy"].notna().all()
    result.stdout.fnmatch_lines(
        ["*capacity limit of test_suite.py::test_sweep:*", "  what saturated: *"]
    )
