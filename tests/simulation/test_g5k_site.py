"""`pytest --frida-site=sophia` against the simulated testbed: reserve, deploy across the
nodes, measure, keep clocks honest, release. Real: network namespaces, sshd, ssh, Kafka,
agents, execo and execo_g5k's parsing code. Simulated: the OAR commands and the API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from leaks import frida_temp_dirs, kafka_pids
from testbed import Testbed

SWEEP = """
import pytest

@pytest.mark.capacity(producers=[2, 4], rate=10, slo="p99<=500ms, loss==0")
def test_sweep(frida_result, frida_cluster):
    assert frida_cluster.site == "sophia"
    assert frida_result.counts.sent > 0
"""


def _jobs(grid5000: dict[str, object]) -> dict[str, dict[str, object]]:
    state = json.loads(Path(str(grid5000["state"])).read_text())
    return dict(state.get("jobs", {}))


def _report(report_dir: Path) -> dict[str, object]:
    (path,) = report_dir.glob("*/report.json")
    return dict(json.loads(path.read_text()))


def _pytest(tmp_path: Path, grid5000: dict[str, object], suite: str, *extra: str,
            timeout: float = 400) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_suite.py").write_text(suite)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_suite.py",
         "--frida-site=sophia", f"--frida-report-dir={tmp_path / 'reports'}",
         "--frida-duration=3", "--frida-warmup=1", *grid5000["args"], *extra],  # type: ignore[misc]
        cwd=tmp_path, capture_output=True, text=True, timeout=timeout, check=False)


def test_sophia_sweep_reserves_deploys_measures_and_releases(
        testbed: Testbed, grid5000: dict[str, object], tmp_path: Path) -> None:
    before = kafka_pids(), frida_temp_dirs()
    done = _pytest(tmp_path, grid5000, SWEEP)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "frida capacity report (sophia, Kafka" in out
    names = [n.name for n in testbed.nodes]
    report = _report(tmp_path / "reports")
    cluster = report["cluster"]
    assert isinstance(cluster, dict)
    assert cluster["roles"] == {"brokers": names[:1], "producers": names[1:],
                                "consumer": names[0]}
    assert cluster["hosts"] == sorted(names)
    assert cluster["bootstrap"] == f"{names[0]}:9092"
    (job,) = _jobs(grid5000).values()
    assert cluster["oar_job_id"] == job["id"]
    assert job["state"] == "Error" and job["stop_time"]  # deleted with oardel at the end
    log = Path(str(grid5000["log"])).read_text()
    assert "oarsub -l '{cluster='\"'\"'uvb'\"'\"'}/nodes=3,walltime=1:0:0'" in log
    assert f"oardel {job['id']}" in log
    for step in report["steps"]:  # type: ignore[union-attr]
        assert step["verdict"] == "pass"
        clocks = step["clocks"]
        assert set(clocks["before"]) == set(names)  # every agent host was measured
        assert clocks["trusted"] and clocks["corrected"]
        for offset in clocks["before"].values():
            assert abs(offset["offset_ms"]) < 50 and offset["uncertainty_ms"] < 50
    assert (kafka_pids(), frida_temp_dirs()) == before  # nothing left on any node


@pytest.mark.parametrize(("correction", "verdict"), [("off", "clock_untrusted"),
                                                      ("on", "pass")])
def test_half_a_second_of_skew_on_a_producer_node(
        testbed: Testbed, grid5000: dict[str, object], tmp_path: Path, correction: str,
        verdict: str) -> None:
    skewed = testbed.nodes[2]
    testbed.set_skew(skewed, "+0.5")
    try:
        done = _pytest(tmp_path, grid5000, SWEEP.replace("[2, 4]", "[4]"),
                       f"--frida-clock-correction={correction}")
    finally:
        testbed.set_skew(skewed, None)
    out = done.stdout + done.stderr
    (step,) = _report(tmp_path / "reports")["steps"]  # type: ignore[misc]
    assert step["verdict"] == verdict, out[-3000:]
    offset = step["clocks"]["before"][skewed.name]["offset_ms"]
    assert 450 < offset < 550  # the skew was seen for what it is
    if correction == "off":
        assert done.returncode == 0 and "1 skipped" in out  # neither passed nor failed
        assert step["clocks"]["error_ms"] > 450
    else:
        assert done.returncode == 0 and "1 passed" in out
        assert step["latency"]["p99"] < 500  # corrected: the skew is not in the latency


def test_refused_reservation_is_one_line_and_reserves_nothing(
        testbed: Testbed, grid5000: dict[str, object], tmp_path: Path) -> None:
    state = json.loads(Path(str(grid5000["state"])).read_text())
    Path(str(grid5000["state"])).write_text(json.dumps({**state, "mode": "refuse"}))
    done = _pytest(tmp_path, grid5000, SWEEP)
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert ("frida: the sophia site could not start Kafka: OAR refused the reservation"
            " ({cluster='uvb'}/nodes=3, walltime 3600s): There are not enough resources for"
            " your request Error: please verify your job submission syntax.") in out
    assert _jobs(grid5000) == {}


def test_job_that_never_starts_is_deleted(testbed: Testbed, grid5000: dict[str, object],
                                          tmp_path: Path) -> None:
    state = json.loads(Path(str(grid5000["state"])).read_text())
    Path(str(grid5000["state"])).write_text(json.dumps({**state, "mode": "never_start"}))
    started = time.monotonic()
    done = _pytest(tmp_path, grid5000, SWEEP, "--frida-job-start-timeout=3")
    out = done.stdout + done.stderr
    assert time.monotonic() - started < 120
    assert "did not start within 3s (state Waiting); it was deleted" in out, out[-3000:]
    (job,) = _jobs(grid5000).values()
    assert job["state"] == "Error"  # oardel'd


@pytest.mark.parametrize(("args", "message"), [
    (["--frida-site=mars"], "unknown Grid'5000 site 'mars'; known: sophia"),
    (["--frida-nodes=5"], "5 nodes asked of cluster uvb, which has 3"),
    (["--frida-cluster=nope"], "site sophia has no cluster 'nope'; it has: uvb"),
])
def test_bad_request_is_refused_before_reserving(
        testbed: Testbed, grid5000: dict[str, object], tmp_path: Path, args: list[str],
        message: str) -> None:
    done = _pytest(tmp_path, grid5000, SWEEP, *args)
    out = done.stdout + done.stderr
    assert message in out, out[-3000:]
    assert "Traceback" not in out
    assert _jobs(grid5000) == {}


def test_lost_node_keeps_results_and_releases_the_job(
        testbed: Testbed, grid5000: dict[str, object], tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(SWEEP.replace("[2, 4]", "[2, 4, 6]"))
    report_dir = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_suite.py",
         "--frida-site=sophia", f"--frida-report-dir={report_dir}", "--frida-duration=3",
         "--frida-warmup=1", *grid5000["args"]],  # type: ignore[misc]
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lost = testbed.nodes[2]
    try:
        deadline = time.monotonic() + 300
        while not list(report_dir.glob("*/report.json")) or \
                not _report(report_dir)["steps"]:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        testbed.cut(lost)  # a producer node drops off the network
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["ip", "link", "set", lost.veth, "up"], check=False)
    report = _report(report_dir)
    steps = report["steps"]
    assert isinstance(steps, list)
    assert steps[0]["verdict"] == "pass"  # measured before the loss: kept
    assert any(s["verdict"] == "error" for s in steps[1:]), out[-3000:]
    (job,) = _jobs(grid5000).values()
    assert job["state"] == "Error"  # released despite the failure


def test_hosts_file_site_on_the_same_nodes(testbed: Testbed, tmp_path: Path) -> None:
    """`--frida-site=hosts:FILE`: the same deployment on machines listed by hand."""
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# brokers first\n" + "".join(f"{n.name}\n" for n in testbed.nodes))
    (tmp_path / "test_suite.py").write_text(SWEEP.replace("[2, 4]", "[3]")
                                            .replace('"sophia"', '"hosts"'))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_suite.py",
         f"--frida-site=hosts:{hosts}", f"--frida-ssh-config={testbed.ssh_config}",
         f"--frida-report-dir={tmp_path / 'reports'}", "--frida-duration=3",
         "--frida-warmup=1"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    (step,) = _report(tmp_path / "reports")["steps"]  # type: ignore[misc]
    assert step["verdict"] == "pass"
    assert set(step["clocks"]["before"]) == {n.name for n in testbed.nodes}
