"""Interrupting a run at twenty different moments, on the local and docker sites, and
inspecting the machine after each: no broker, agent, data directory, container or network
of the run survives, and the steps measured before the interrupt are in a valid report."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.leaks import agent_pids, frida_temp_dirs, kafka_pids
from helpers.reports import run_report

from pytest_frida.runtimes.docker_cli import DockerCli

SUITE = """
import pytest

@pytest.mark.capacity(producers=[1, 2, 3], rate=5, slo="max<=5s")
def test_steps(frida_result):
    pass
"""
INT, TERM = signal.SIGINT, signal.SIGTERM


@dataclass(frozen=True)
class Moment:
    site: str
    #: start | broker | cluster | agents | step1 | step2 (see _anchors)
    anchor: str
    delay_s: float
    signals: tuple[signal.Signals, ...] = (INT,)

    def __str__(self) -> str:
        sigs = "+".join(s.name for s in self.signals)
        return f"{self.site}-{self.anchor}+{self.delay_s:g}s-{sigs}"


MOMENTS = [
    Moment("local", "start", 0.5),  # pytest still starting
    Moment("local", "start", 2.0),  # settings done, Kafka being prepared
    Moment("local", "broker", 0.0),  # a broker JVM exists, not yet ready
    Moment("local", "broker", 1.0, (TERM,)),
    Moment("local", "cluster", 0.0),  # ready, first step starting
    Moment("local", "agents", 0.0),  # agents just launched
    Moment("local", "agents", 1.5, (TERM,)),  # mid-step
    Moment("local", "step1", 0.0),  # first step just written
    Moment("local", "step1", 1.0, (INT, INT)),  # Ctrl-C twice: the second hits cleanup
    Moment("local", "step2", 0.5, (TERM,)),  # third step starting
    Moment("docker", "start", 1.0),
    Moment("docker", "broker", 0.0),  # container created, Kafka starting
    Moment("docker", "broker", 0.5, (TERM,)),
    Moment("docker", "broker", 2.0),
    Moment("docker", "cluster", 0.0),
    Moment("docker", "agents", 0.0, (TERM,)),
    Moment("docker", "agents", 1.5),
    Moment("docker", "step1", 0.0),
    Moment("docker", "step1", 1.0, (INT, INT)),
    Moment("docker", "step2", 0.5, (TERM,)),
]


def _steps(report_dir: Path) -> int:
    report = run_report(report_dir) or {}
    return len(report.get("steps", []))


def _run_containers(docker: DockerCli | None) -> set[str]:
    if docker is None:
        return set()
    return set(docker.lines("ps", "-aq", "--filter", "label=frida.run")) | set(
        docker.lines("network", "ls", "-q", "--filter", "label=frida.run")
    )


def _anchors(
    report_dir: Path, before_kafka: set[int], docker: DockerCli | None, before_docker: set[str]
) -> dict[str, Callable[[], bool]]:
    return {
        "start": lambda: True,
        "broker": (lambda: bool(_run_containers(docker) - before_docker))
        if docker
        else (lambda: bool(kafka_pids() - before_kafka)),
        "cluster": lambda: "cluster" in (run_report(report_dir) or {}),
        "agents": lambda: bool(agent_pids()),
        "step1": lambda: _steps(report_dir) >= 1,
        "step2": lambda: _steps(report_dir) >= 2,
    }


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_interrupt_leaves_nothing_and_keeps_results(
    moment: Moment, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    docker: DockerCli | None = None
    extra: list[str] = []
    if moment.site == "docker":
        docker = request.getfixturevalue("docker")
        images = request.getfixturevalue("frida_images")
        extra = [f"--frida-kafka-image={images['kafka']}"]
    before_kafka, before_dirs = kafka_pids() | agent_pids(), frida_temp_dirs()
    before_docker = _run_containers(docker)
    (tmp_path / "test_steps.py").write_text(SUITE)
    report_dir = tmp_path / "reports"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "test_steps.py",
            f"--frida-site={moment.site}",
            f"--frida-report-dir={report_dir}",
            "--frida-duration=2",
            "--frida-prime=0",
            "--frida-warmup=0",
            *extra,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        anchor = _anchors(report_dir, before_kafka, docker, before_docker)[moment.anchor]
        deadline = time.monotonic() + 120
        while not anchor():
            assert proc.poll() is None, f"run ended before {moment.anchor}"
            assert time.monotonic() < deadline, f"{moment.anchor} never came"
            time.sleep(0.05)
        steps_before = _steps(report_dir)
        time.sleep(moment.delay_s)
        assert proc.poll() is None, "the run ended before the interrupt"
        for i, sig in enumerate(moment.signals):
            if i:
                time.sleep(0.3)
            proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode != 0, text[-2000:]
    if moment.anchor not in ("start",):
        assert proc.returncode == pytest.ExitCode.INTERRUPTED, text[-3000:]
    # nothing of the run is left on the machine
    assert not (kafka_pids() | agent_pids()) - before_kafka, text[-2000:]
    assert not frida_temp_dirs() - before_dirs
    assert not _run_containers(docker) - before_docker, text[-2000:]
    # what was measured is kept, in a report that says it was interrupted
    report = run_report(report_dir)
    if steps_before:
        assert report is not None and report["status"] == "interrupted"
        assert _steps(report_dir) >= steps_before
