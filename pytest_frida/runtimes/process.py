"""Local child processes that cannot outlive the test session.

Every process started here gets its own process group (so a terminal Ctrl-C reaches
pytest first, and pytest stops them in order), dies with pytest even on SIGKILL
(PR_SET_PDEATHSIG), and is registered so that an atexit, SIGTERM or SIGHUP handler can
stop whatever is still running.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1
_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class ManagedProcess:
    """A child process with its output in a log file and a bounded, escalating stop."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stdin: int | None = None,
        stdout: int | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log: IO[bytes] | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        out = stdout if stdout is not None else (self._log or subprocess.DEVNULL)
        self.popen = subprocess.Popen(
            self.argv,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=self._log or subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent
            if threading.current_thread() is threading.main_thread()
            else None,
        )
        with _live_lock:
            _live.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def is_running(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after `timeout` seconds; idempotent."""
        try:
            if self.popen.poll() is None:
                self._signal_group(signal.SIGTERM)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    self.popen.wait(5)
            else:
                # the leader is gone; make sure nothing it spawned lingers in its group
                self._signal_group(signal.SIGKILL)
        finally:
            with _live_lock:
                _live.discard(self)
            if self._log is not None:
                self._log.close()
                self._log = None
        return self.popen.returncode

    def send_signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the whole process group (pause/resume/kill on purpose)."""
        self._signal_group(sig)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the process log, for error messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()[-16384:].decode("utf-8", "replace")
        return "\n".join(data.splitlines()[-lines:])

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.popen.pid})"


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists (owned by us or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_together(procs: Sequence[ManagedProcess], grace_s: float) -> None:
    """SIGTERM every process at once, SIGKILL those still running after `grace_s`: the
    whole lot takes one grace period at most, however many hang.

    Brokers of one cluster stopped one after the other lose their controller quorum and
    hang in controlled shutdown until killed (20 s each, measured); a step's agents each
    waiting for a broker that is gone would take their timeouts one after the other."""
    running = [p for p in procs if p.is_running()]
    for proc in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(max(0.0, deadline - time.monotonic()))
    for proc in running:
        if proc.is_running():
            proc.send_signal(signal.SIGKILL)
    for proc in procs:
        proc.stop(timeout=5.0)  # reaps, sweeps the process group, closes the log


def stop_all(timeout: float = 10.0) -> None:
    """Stop every process this module started that is still registered, all at once."""
    with _live_lock:
        procs = list(_live)
    stop_together(procs, timeout)


def wait_until(predicate: object, timeout: float, interval: float = 0.2) -> bool:
    """Poll `predicate()` until it is truthy or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if callable(predicate) and predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


#: the signals that end a run in order: Ctrl-C, SIGTERM, and SIGHUP (the terminal, often
#: an ssh session to a frontend, went away); SIGHUP only where it was not ignored (nohup)
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _handled_interrupts() -> list[signal.Signals]:
    return [sig for sig in _INTERRUPTS if signal.getsignal(sig) is _on_interrupt]


def _open_fds() -> list[int]:
    try:
        return [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(256))


def _terminal_devices() -> set[int]:
    """The device numbers of the terminals this process has open (isatty() stops
    answering for a terminal once it has hung up, so they are noted while it works)."""
    devices = set()
    for fd in _open_fds():
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                devices.add(os.fstat(fd).st_rdev)
    return devices


#: the terminals open when the handlers were installed (see _leave_dead_terminal)
_terminals: set[int] = set()


def _leave_dead_terminal() -> None:
    """After a hang-up, writes to the terminal fail (EIO) and would break pytest's own
    teardown and summary: point every descriptor on that terminal at /dev/null. Not only
    0-2: pytest's capture keeps its own copies of the terminal while fd 1 holds a test's
    output. The report files keep everything measured."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in _open_fds():
            with contextlib.suppress(OSError):
                st = os.fstat(fd)
                if fd != devnull and stat.S_ISCHR(st.st_mode) and st.st_rdev in _terminals:
                    os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _on_interrupt(signum: int, frame: object) -> None:
    """The first Ctrl-C, SIGTERM or SIGHUP interrupts the run as Ctrl-C does; later ones
    are only noted, so that the teardown that follows runs to its end."""
    if os.getpid() != _owner_pid:
        # a child forked by a library (execo forks a watchdog that later SIGTERMs its own
        # process group): never let it unwind into a copy of pytest and tear down the run
        os._exit(128 + signum)
    if signum == signal.SIGHUP:
        _leave_dead_terminal()
    if _ignoring_interrupts:
        _note_interrupt(signum, frame)
        return
    global _pending_interrupt
    _pending_interrupt = signum
    ignore_further_interrupts()
    if signum in (signal.SIGTERM, signal.SIGHUP):
        stop_all()
    # let pytest unwind as on Ctrl-C, so session teardown and the report still happen
    raise KeyboardInterrupt(f"received signal {signum}")


#: the signal of an interrupt pytest has not yet been seen to handle
_pending_interrupt: int | None = None


def raise_pending_interrupt() -> None:
    """Raise again an interrupt whose KeyboardInterrupt was swallowed. A signal handler's
    exception surfaces wherever the main thread happens to be, which may be a place that
    ignores exceptions: logging's at-fork hook after a subprocess fork, a __del__, a
    weakref callback. Without this the run would go on with further interrupts ignored.
    Called at test boundaries, never during teardown."""
    if _pending_interrupt is not None:
        raise KeyboardInterrupt(f"received signal {_pending_interrupt}")


def pending_interrupt() -> int | None:
    """The signal of an interrupt pytest has not yet been seen to handle, if any."""
    return _pending_interrupt


def interrupt_handled() -> None:
    """pytest has the interrupt in hand (its session is ending as interrupted)."""
    global _pending_interrupt
    _pending_interrupt = None


_installed = False


_cleanups: list[Callable[[], None]] = []
#: the process that installed the handlers (forked children must not act on its behalf)
_owner_pid = os.getpid()
_ignoring_interrupts = False


def register_cleanup(cleanup: Callable[[], None]) -> None:
    """Run `cleanup` at interpreter exit unless unregistered first (containers, stacks:
    things a process-group signal cannot reach)."""
    _cleanups.append(cleanup)


def unregister_cleanup(cleanup: Callable[[], None]) -> None:
    with contextlib.suppress(ValueError):
        _cleanups.remove(cleanup)


def _say_on_stderr(signum: int, text: str) -> None:
    """A note from a signal handler; after a hang-up the terminal is dropped first, and a
    note that cannot be written never breaks the cleanup it interrupted."""
    if signum == signal.SIGHUP:
        _leave_dead_terminal()
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


def _note_interrupt(signum: int, frame: object) -> None:
    _say_on_stderr(
        signum,
        f"\npytest-frida: signal {signum} ignored while cleaning up after"
        " the interrupt (SIGKILL stops at once, and the next run removes what is"
        " left)",
    )


def ignore_further_interrupts() -> None:
    """After the first Ctrl-C, SIGTERM or SIGHUP, later ones only print a note: pytest's
    teardown and ours must run to their end, or containers and stacks outlive the run.
    Every cleanup step has its own timeout."""
    global _ignoring_interrupts
    if _ignoring_interrupts or threading.current_thread() is not threading.main_thread():
        return
    _ignoring_interrupts = True
    signal.signal(signal.SIGINT, _on_interrupt)
    signal.signal(signal.SIGTERM, _on_interrupt)
    if signal.getsignal(signal.SIGHUP) in (signal.SIG_DFL, _on_interrupt):  # not nohup's
        signal.signal(signal.SIGHUP, _on_interrupt)


@contextlib.contextmanager
def interrupts_deferred(
    doing: str = "cleaning up", say: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Run a cleanup (or the creation of something a cleanup must know of) to its end even
    if Ctrl-C, SIGTERM or SIGHUP arrives meanwhile. Once it is done the interrupt takes
    effect as if it arrived then (through the run's handler when installed: later ones
    only noted, SIGTERM and SIGHUP stopping the run's processes), also when the work itself
    failed, whose error is then said first. Nothing is raised when an interrupt is being
    handled already. `say` writes the lines that tell the user to wait: the terminal past
    pytest's capture (stderr when None, or when it fails)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def tell(signum: int, text: str) -> None:
        try:
            if say is None:
                raise LookupError
            say(text)
        except Exception:
            _say_on_stderr(signum, f"\n{text}")

    def note(signum: int, frame: object) -> None:
        if signum == signal.SIGHUP:
            _leave_dead_terminal()  # whatever `say` does with the line
        if received:
            tell(signum, f"pytest-frida: still {doing}; SIGKILL stops at once")
        else:
            tell(signum, f"pytest-frida: {doing}, the interrupt takes effect when done")
        received.append(signum)

    previous = {  # a signal the run ignores (nohup, a script's background job) stays so
        sig: signal.signal(sig, note)
        for sig in {signal.SIGINT, signal.SIGTERM, *_handled_interrupts()}
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    except BaseException as exc:  # the work failed: the interrupt still ends the run
        if received and not _ignoring_interrupts and not isinstance(exc, KeyboardInterrupt):
            _restore(previous)
            # said here: pytest shows only the interrupt
            tell(received[0], f"pytest-frida: {exc or type(exc).__name__}")
            _take_effect(received[0], previous.get(signal.Signals(received[0])), doing, exc)
        raise
    finally:
        _restore(previous)
    if received and not _ignoring_interrupts:
        _take_effect(received[0], previous.get(signal.Signals(received[0])), doing, None)


def _restore(handlers: dict[signal.Signals, Any]) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def _take_effect(signum: int, handler: object, doing: str, cause: BaseException | None) -> None:
    """Raise a deferred interrupt as the handler it was deferred from would have."""
    if handler is _on_interrupt:
        try:
            _on_interrupt(signum, None)
        except KeyboardInterrupt as interrupt:
            raise interrupt from cause
    raise KeyboardInterrupt(f"received signal {signum} while {doing}") from cause


def _at_exit() -> None:
    if os.getpid() != _owner_pid:
        return  # a forked child's exit: the processes and the cluster are the parent's
    stop_all()
    for cleanup in list(_cleanups):
        with contextlib.suppress(Exception):
            cleanup()


def install_exit_handlers() -> None:
    """Stop children at interpreter exit and turn SIGTERM and SIGHUP into an orderly
    interrupt (once)."""
    global _installed, _owner_pid
    if _installed:
        return
    _installed = True
    _owner_pid = os.getpid()
    atexit.register(_at_exit)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_interrupt)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _on_interrupt)
        if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:  # not under nohup
            _terminals.update(_terminal_devices())
            signal.signal(signal.SIGHUP, _on_interrupt)
