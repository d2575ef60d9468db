"""Ctrl-C, SIGTERM and a killed pytest leave no broker, agent or data directory behind,
and keep the steps measured before the interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from leaks import frida_temp_dirs, kafka_pids

from pytest_frida.sites.local import sweep_stale_data_dirs

SUITE = """
import pytest

@pytest.mark.capacity(producers=[1, 2, 3], rate=5, slo="max<=5s")
def test_long(frida_result):
    pass
"""


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    (tmp_path / "test_long.py").write_text(SUITE)
    report_dir = tmp_path / "reports"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path / "test_long.py"),
         f"--frida-report-dir={report_dir}", "--frida-duration=20", "--frida-warmup=0", *extra],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        # a shell without job control starts background jobs with SIGINT ignored, and Python
        # keeps it ignored; give the child the default so Ctrl-C means KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return proc, report_dir


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(0.2)
    return False


def _report(report_dir: Path) -> dict[str, object] | None:
    for path in report_dir.glob("*/report.json"):
        try:
            return dict(json.loads(path.read_text()))
        except ValueError:
            return None
    return None


def _steps_done(report_dir: Path, n: int) -> bool:
    report = _report(report_dir)
    return report is not None and len(report["steps"]) >= n  # type: ignore[arg-type]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_step_stops_everything_and_keeps_results(
    tmp_path: Path, sig: signal.Signals, leak_check: None
) -> None:
    proc, report_dir = _start(tmp_path, "--frida-duration=3")
    try:
        assert _wait_for(lambda: _steps_done(report_dir, 1), 120), "first step never finished"
        time.sleep(2.5)  # now inside the second step
        assert len(kafka_pids()) > 0
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=90)
    finally:
        proc.kill()
    text = out.decode(errors="replace")
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, text[-3000:]
    report = _report(report_dir)
    assert report is not None
    assert report["status"] == "interrupted"
    steps = report["steps"]
    assert isinstance(steps, list) and steps[0]["producers"] == 1
    assert steps[0]["verdict"] == "pass"


def test_killed_pytest_takes_its_broker_along(tmp_path: Path) -> None:
    before, dirs_before = kafka_pids(), frida_temp_dirs()
    proc, report_dir = _start(tmp_path)
    try:
        assert _wait_for(lambda: (_report(report_dir) or {}).get("cluster"), 120)
        started = kafka_pids() - before
        assert started, "no broker was running"
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    # the broker and agents get SIGTERM from the kernel when pytest dies (PR_SET_PDEATHSIG)
    assert _wait_for(lambda: not (kafka_pids() & started), 60), kafka_pids() & started
    # a SIGKILLed pytest cannot remove the broker's temporary data directory: the next
    # local site sweeps directories whose owner is dead, and only those
    leftover = frida_temp_dirs() - dirs_before
    assert leftover, "expected the killed run's data directory to be left behind"
    removed = {p.name for p in sweep_stale_data_dirs()}
    assert leftover <= removed
    assert not (frida_temp_dirs() - dirs_before)
