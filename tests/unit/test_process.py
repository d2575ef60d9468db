"""Managed child processes: whole-group stop, SIGKILL escalation, idempotence, log tail."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_frida.runtimes import process
from pytest_frida.runtimes.process import ManagedProcess, wait_until


def gone(pid: int) -> bool:
    """True once `pid` no longer runs (reaped, or a zombie waiting for its new parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def read_pid(path: Path, timeout: float = 5.0) -> int:
    assert wait_until(lambda: path.exists() and path.read_text().strip(), timeout, 0.01)
    return int(path.read_text().strip())


@pytest.fixture
def started() -> Iterator[list[ManagedProcess]]:
    """Processes a test starts; whatever a failing test leaves behind is killed."""
    procs: list[ManagedProcess] = []
    yield procs
    for proc in procs:
        proc.stop(timeout=1)


def start(started: list[ManagedProcess], argv: list[str], **kwargs) -> ManagedProcess:
    proc = ManagedProcess("test", argv, **kwargs)
    started.append(proc)
    return proc


def test_stop_kills_a_sleeping_process(started):
    proc = start(started, ["sleep", "30"])
    assert proc.is_running()
    assert proc.returncode is None
    assert proc in process._live
    begin = time.monotonic()
    code = proc.stop()
    assert time.monotonic() - begin < 5
    assert code == -signal.SIGTERM
    assert not proc.is_running()
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    assert proc not in process._live


def test_stop_kills_the_whole_process_group(started, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    proc = start(started, ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; sleep 30"])
    grandchild = read_pid(pidfile)
    assert not gone(grandchild)
    assert os.getpgid(grandchild) == proc.pid  # its own process group, led by the child
    begin = time.monotonic()
    proc.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    assert wait_until(lambda: gone(grandchild), 5, 0.02), "grandchild survived stop()"
    assert time.monotonic() - begin < 5


def test_stop_after_the_leader_exited_kills_leftovers(started, tmp_path):
    pidfile = tmp_path / "orphan.pid"
    proc = start(started, ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; exit 3"])
    orphan = read_pid(pidfile)
    assert wait_until(lambda: not proc.is_running(), 5, 0.01)
    assert not gone(orphan)
    assert proc.stop() == 3
    assert wait_until(lambda: gone(orphan), 5, 0.02), "a leftover of the group survived"


def test_stop_is_idempotent(started):
    proc = start(started, ["sleep", "30"])
    first = proc.stop()
    assert proc.stop() == first
    assert proc.stop(timeout=0) == first
    assert proc not in process._live


def test_process_ignoring_sigterm_is_killed_after_timeout(started, tmp_path):
    pidfile = tmp_path / "child.pid"
    script = f'trap "" TERM; sleep 30 & echo $! > {pidfile}; wait'
    proc = start(started, ["sh", "-c", script])
    child = read_pid(pidfile)  # the trap is in place before we signal
    begin = time.monotonic()
    code = proc.stop(timeout=1)
    elapsed = time.monotonic() - begin
    assert code == -signal.SIGKILL
    assert 0.9 <= elapsed < 5
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    assert wait_until(lambda: gone(child), 5, 0.02), "the child ignoring SIGTERM survived"


def test_log_tail_returns_the_last_lines(started, tmp_path):
    log = tmp_path / "logs" / "proc.log"
    script = "for i in 1 2 3 4 5 6; do echo line$i; done; echo oops >&2"
    proc = start(started, ["sh", "-c", script], log_path=log)
    assert wait_until(lambda: not proc.is_running(), 5, 0.01)
    assert proc.log_tail(3) == "line5\nline6\noops"
    assert proc.log_tail().splitlines() == [f"line{i}" for i in range(1, 7)] + ["oops"]
    assert proc.stop() == 0
    assert proc.log_tail(1) == "oops"  # still readable after the log file is closed


def test_log_tail_without_a_log(started):
    proc = start(started, ["true"])
    assert proc.log_tail() == ""
    assert wait_until(lambda: not proc.is_running(), 5, 0.01)
    assert proc.stop() == 0


def test_env_and_cwd_are_passed(started, tmp_path):
    log = tmp_path / "env.log"
    proc = start(
        started,
        ["sh", "-c", 'echo "$FRIDA_TEST_VALUE $(pwd)"'],
        log_path=log,
        env={"FRIDA_TEST_VALUE": "hello", "PATH": os.environ["PATH"]},
        cwd=tmp_path,
    )
    assert wait_until(lambda: not proc.is_running(), 5, 0.01)
    assert proc.log_tail() == f"hello {tmp_path}"


def test_stop_all_stops_registered_processes(started, monkeypatch):
    # a private registry, so that nothing else this pytest session started gets stopped
    monkeypatch.setattr(process, "_live", set())
    procs = [start(started, ["sleep", "30"]) for _ in range(2)]
    process.stop_all(timeout=5)
    assert all(not p.is_running() for p in procs)
    assert not any(p in process._live for p in procs)


def test_stale_data_dirs_are_swept_only_when_their_owner_is_dead(tmp_path):
    import subprocess as sp

    from pytest_frida.sites.local import sweep_stale_data_dirs

    dead = sp.Popen(["true"])
    dead.wait()
    (tmp_path / "frida-kafka-dead").mkdir()
    (tmp_path / "frida-kafka-dead" / "owner.pid").write_text(f"{dead.pid}\n")
    (tmp_path / "frida-kafka-live").mkdir()
    (tmp_path / "frida-kafka-live" / "owner.pid").write_text(f"{os.getpid()}\n")
    (tmp_path / "frida-kafka-unknown").mkdir()  # no owner file: never ours to judge
    removed = sweep_stale_data_dirs(tmp_path)
    assert [p.name for p in removed] == ["frida-kafka-dead"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frida-kafka-live", "frida-kafka-unknown"]


def test_a_forked_child_never_unwinds_into_the_parents_teardown(tmp_path) -> None:
    """execo forks a watchdog that later SIGTERMs its process group; our handler, inherited
    by the fork, must end that child at once instead of raising into a copy of pytest."""
    import subprocess
    import sys

    script = tmp_path / "fork.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "from pytest_frida.runtimes.process import install_exit_handlers\n"
        "install_exit_handlers()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    try:\n"
        "        while True:\n"
        "            time.sleep(0.05)\n"
        "    finally:\n"
        "        open(sys.argv[1], 'w').write('unwound')\n"
        "else:\n"
        "    time.sleep(0.3)\n"
        "    os.kill(pid, signal.SIGTERM)\n"
        "    _, status = os.waitpid(pid, 0)\n"
        "    print(os.waitstatus_to_exitcode(status))\n"
    )
    marker = tmp_path / "marker"
    done = subprocess.run(
        [sys.executable, str(script), str(marker)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.strip() == str(128 + 15)
    assert not marker.exists()


@pytest.mark.parametrize("work_fails", [False, True])
def test_an_interrupt_during_deferred_work_is_raised_once_it_is_done(
    work_fails: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interrupt waits for the work (a job being created), then ends the run, whether
    the work succeeded or failed (a refusal must not swallow the user's Ctrl-C)."""
    monkeypatch.setattr(process, "_ignoring_interrupts", False)  # no interrupt under way
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own
    done = []

    def work() -> None:
        with process.interrupts_deferred("creating it"):
            os.kill(os.getpid(), signal.SIGINT)
            done.append(True)
            if work_fails:
                raise RuntimeError("refused")

    try:
        with pytest.raises(KeyboardInterrupt) as raised:
            work()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # back
    finally:
        signal.signal(signal.SIGINT, before)
    assert done == [True]
    assert "while creating it" in str(raised.value)
    assert isinstance(raised.value.__cause__, RuntimeError) == work_fails


def test_a_deferred_interrupt_takes_effect_as_the_runs_handler_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once the work is done, the interrupt goes through the run's own handler: later
    ones are only noted (the teardown that follows runs to its end), and pytest is told
    an interrupt is pending. Each signal during the work gets a line; the work's own
    error is said before the interrupt, which pytest shows alone."""
    monkeypatch.setattr(process, "_ignoring_interrupts", False)
    monkeypatch.setattr(process, "_pending_interrupt", None)
    monkeypatch.setattr(process, "_owner_pid", os.getpid())
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    said: list[str] = []

    def work() -> None:
        with process.interrupts_deferred("creating it", said.append):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # pressed again while waiting
            raise RuntimeError("refused")

    signal.signal(signal.SIGINT, process._on_interrupt)
    try:
        with pytest.raises(KeyboardInterrupt) as raised:
            work()
        assert process.pending_interrupt() == signal.SIGINT
        assert process._ignoring_interrupts  # a third Ctrl-C would only be noted
    finally:
        process.interrupt_handled()  # or this session's own hooks would act on it
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert said == [
        "pytest-frida: creating it, the interrupt takes effect when done",
        "pytest-frida: still creating it; SIGKILL stops at once",
        "pytest-frida: refused",
    ]
