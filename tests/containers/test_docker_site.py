"""The docker site for real: Kafka in containers made by testcontainers, agents local."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from pytest_frida.runtimes.docker_cli import DockerCli

SWEEP = """
import pytest

@pytest.mark.capacity(producers=[1, 5, 20], rate=10, slo="p99<=500ms, loss==0")
def test_sweep(frida_result, frida_cluster):
    assert frida_cluster.site == "docker"
    assert frida_result.counts.sent > 0
"""

FAULTS = """
import pytest

@pytest.mark.capacity(producers=[2], rate=50, slo="loss==0", producer_config={"acks": "all"})
def test_container_killed_and_restarted(frida_step, frida_faults, frida_cluster):
    assert len(frida_cluster.brokers) == 3
    frida_faults.at(2.0, "kill", broker=1).at(5.0, "restart", broker=1)
    result = frida_step.run()
    assert [(f["action"], f["outcome"]) for f in result.faults] == [
        ("kill", "done"), ("restart", "done")]
    assert result.counts.acked > 0
    assert result.counts.lost == 0
"""


def _run_dir(report_dir: Path) -> Path:
    (run_dir,) = [p for p in report_dir.iterdir() if p.is_dir()]
    return run_dir


def test_docker_sweep_rates_loss_and_report(pytester: pytest.Pytester, tmp_path: Path,
                                            frida_images: dict[str, str],
                                            docker_leak_check: None) -> None:
    pytester.makepyfile(test_suite=SWEEP)
    report_dir = tmp_path / "reports"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--frida-site=docker", f"--frida-report-dir={report_dir}",
        f"--frida-kafka-image={frida_images['kafka']}", "--frida-duration=4",
        "--frida-warmup=1", timeout=300)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*frida capacity report (docker, Kafka *)*"])
    run_dir = _run_dir(report_dir)
    steps = pd.read_csv(run_dir / "steps.csv").sort_values("producers")
    assert list(steps["producers"]) == [1, 5, 20]
    ratio = steps["achieved_rate"] / steps["target_rate"]
    assert ratio.between(0.95, 1.05).all(), steps[["producers", "achieved_rate"]]
    assert (steps["lost"] == 0).all() and (steps["duplicated"] == 0).all()
    cluster = json.loads((run_dir / "report.json").read_text())["cluster"]
    assert cluster["kafka_image"] == frida_images["kafka"]
    assert cluster["bootstrap"].startswith("127.0.0.1:")
    # the broker's log was kept with the report before its container went
    assert "Kafka Server started" in (run_dir / "logs/broker-0/server.log").read_text()


def test_docker_broker_kill_loses_no_acknowledged_message(
        pytester: pytest.Pytester, tmp_path: Path, frida_images: dict[str, str],
        docker_leak_check: None) -> None:
    pytester.makepyfile(test_suite=FAULTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--frida-site=docker", "--frida-brokers=3",
        f"--frida-kafka-image={frida_images['kafka']}", "--frida-duration=8",
        "--frida-warmup=1", f"--frida-report-dir={tmp_path / 'reports'}", timeout=400)
    result.assert_outcomes(passed=1)


def test_missing_image_is_one_line_and_leaves_nothing(
        pytester: pytest.Pytester, tmp_path: Path, docker: DockerCli,
        docker_leak_check: None) -> None:
    pytester.makepyfile(test_suite=SWEEP)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--frida-site=docker", "--frida-producers=1",
        "--frida-kafka-image=frida/no-such-image:1", f"--frida-report-dir={tmp_path}",
        timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*frida: the docker site could not start Kafka: image frida/no-such-image:1 is not on"
        " the default Docker daemon (pytest-frida never pulls)*frida images build*"])
    assert "Traceback" not in result.stdout.str()


def test_no_docker_daemon_fails_fast_with_what_to_do(
        pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_suite=SWEEP)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--frida-site=docker", "--frida-producers=1,5",
        f"--frida-report-dir={tmp_path}", timeout=120)
    assert time.monotonic() - started < 60
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*frida: the docker site could not start Kafka: no Docker"
                                 " daemon answers at the default Docker daemon*start one"
                                 " (dockerd) or set DOCKER_HOST*"])
    assert "Traceback" not in result.stdout.str()
