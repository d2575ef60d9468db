"""Ctrl-C, SIGTERM and a killed pytest leave no broker, agent or data directory behind,
and keep the steps measured before the interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.leaks import frida_temp_dirs, kafka_pids
from helpers.reports import run_report

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
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_long.py"),
            f"--frida-report-dir={report_dir}",
            "--frida-duration=20",
            "--frida-prime=0",
            "--frida-warmup=0",
            *extra,
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
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


def _assert_interrupted_after_first_step(report_dir: Path) -> None:
    """The report says interrupted and keeps the first step, measured before the signal."""
    report = run_report(report_dir)
    assert report is not None
    assert report["status"] == "interrupted"
    steps = report["steps"]
    assert isinstance(steps, list) and steps[0]["producers"] == 1
    assert steps[0]["verdict"] == "pass"


def _steps_done(report_dir: Path, n: int) -> bool:
    report = run_report(report_dir)
    return report is not None and len(report["steps"]) >= n


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
    _assert_interrupted_after_first_step(report_dir)


def test_terminal_hang_up_stops_everything_and_keeps_results(
    tmp_path: Path, leak_check: None
) -> None:
    """The ssh session to a frontend drops: pytest runs on a terminal that hangs up, gets
    SIGHUP as its controlling process, and every later write to that terminal fails. The
    run must end as interrupted, with the steps it measured and nothing left behind."""
    import fcntl
    import pty
    import termios

    (tmp_path / "test_long.py").write_text(SUITE)
    report_dir = tmp_path / "reports"
    master, slave = pty.openpty()

    def own_terminal() -> None:  # a new session whose controlling terminal is the pty
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        # as a login shell on a terminal leaves them, even where this test itself runs
        # under nohup (SIGHUP ignored) or from a script (SIGINT ignored)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_long.py"),
            f"--frida-report-dir={report_dir}",
            "--frida-duration=3",
            "--frida-prime=0",
            "--frida-warmup=0",
        ],
        cwd=tmp_path,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=own_terminal,
    )
    os.close(slave)
    os.set_blocking(master, False)
    seen = bytearray()

    def read_terminal() -> None:
        try:
            while chunk := os.read(master, 65536):
                seen.extend(chunk)
        except (BlockingIOError, OSError):
            pass

    def first_step_done() -> bool:  # drains the terminal on each poll
        read_terminal()
        return _steps_done(report_dir, 1)

    try:
        assert _wait_for(first_step_done, 120), (
            "first step never finished",
            bytes(seen[-2000:]),
        )
        time.sleep(2.5)  # now inside the second step
        assert len(kafka_pids()) > 0
        os.close(master)  # the terminal hangs up: SIGHUP to its session's foreground
        proc.wait(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED
    _assert_interrupted_after_first_step(report_dir)


def test_killed_pytest_takes_its_broker_along(tmp_path: Path) -> None:
    before, dirs_before = kafka_pids(), frida_temp_dirs()
    proc, report_dir = _start(tmp_path)
    try:
        assert _wait_for(lambda: (run_report(report_dir) or {}).get("cluster"), 120)
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
