"""Bad environment, table-driven: no Java, a broker port taken, a full report disk. Each
gives one clear line naming what is wrong and what to do, no traceback, and leaves nothing
running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SUITE = """
import pytest

@pytest.mark.capacity(producers=[1, 2], rate=5, slo="loss==0")
def test_steps(frida_result):
    pass
"""

PORT_TAKEN_CONFTEST = """
import pytest_frida.sites.local as local

_free_ports = local.free_ports

def pytest_configure(config):
    # the broker's port is taken by the time Kafka binds it (the race a free port can lose)
    local.free_ports = lambda count, host="127.0.0.1": [{port}, *_free_ports(count - 1, host)]
"""


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A report directory on a 64 KiB tmpfs, filled up once the run has started."""
    mount = tmp_path / "small"
    mount.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
            capture_output=True,
            check=False,
        ).returncode
        != 0
    ):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _no_java(tmp_path: Path, env: dict[str, str]) -> list[str]:
    (tmp_path / "bin").mkdir()
    env["PATH"] = str(tmp_path / "bin")  # python is started by its full path
    env.pop("JAVA_HOME", None)
    return []


def _run(
    tmp_path: Path, prepare: Callable[[Path, dict[str, str]], list[str]]
) -> tuple[subprocess.CompletedProcess[str], str]:
    (tmp_path / "test_steps.py").write_text(SUITE)
    env = dict(os.environ)
    extra = prepare(tmp_path, env)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "test_steps.py",
            "--frida-duration=1",
            "--frida-prime=0",
            "--frida-warmup=0",
            *extra,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, done.stdout + done.stderr


def test_no_java(tmp_path: Path, leak_check: None) -> None:
    done, out = _run(tmp_path, _no_java)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, out[-2000:]
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.startswith("frida: ")]
    assert lines and lines[0] == (
        "frida: the local site could not start Kafka: no Java runtime found (no JAVA_HOME, no"
        " `java` on PATH); install Java 17 or later, e.g. `apt-get install"
        " openjdk-17-jre-headless`"
    ), out[-2000:]


def test_broker_port_taken(tmp_path: Path, held_port: int, leak_check: None) -> None:
    def prepare(path: Path, env: dict[str, str]) -> list[str]:
        (path / "conftest.py").write_text(PORT_TAKEN_CONFTEST.format(port=held_port))
        return []

    done, out = _run(tmp_path, prepare)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, out[-2000:]
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if line.startswith("frida: ")]
    assert lines, out[-3000:]
    assert lines[0].startswith(
        "frida: the local site could not start Kafka: a Kafka server"
        " exited while starting: broker-0 (exit code 1):"
    ), lines[0]
    assert f"127.0.0.1:{held_port}" in lines[0] and "Address already in use" in lines[0]


def test_report_disk_full(tmp_path: Path, full_disk: Path, leak_check: None) -> None:
    def prepare(path: Path, env: dict[str, str]) -> list[str]:
        (full_disk / "filler").write_bytes(b"x" * 60_000)  # leaves no room for a report
        return [f"--frida-report-dir={full_disk}"]

    done, out = _run(tmp_path, prepare)
    assert done.returncode != 0, out[-2000:]
    assert "Traceback" not in out
    assert any(
        "No space left on device" in line and str(full_disk) in line
        for line in out.splitlines()
        if line.startswith(("frida: ", "ERROR: "))
    )
