"""Starting workload agents and talking to them (JSON lines over stdin/stdout).

A launcher knows where agents run; the step runner only sees `AgentHandle`s. The local
launcher starts `python -m pytest_frida.workload.agent` as a child process; remote
launchers run the same command elsewhere and keep the same pipes.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_frida.runtimes.process import ManagedProcess, stop_together
from pytest_frida.workload.event_pipe import AgentFailed, EventPipe, EventTimeout, PipeClosed
from pytest_frida.workload.protocol import AgentConfig, Message, ProgressEvent, encode


class AgentError(RuntimeError):
    """An agent died, reported an error, or went silent past its deadline."""


class AgentTimeout(AgentError):
    """An agent sent nothing of the expected kind in time (it may still be working)."""


class AgentHandle:
    """A running agent: send it commands, wait for its events."""

    def __init__(self, name: str, process: ManagedProcess, host: str = "localhost") -> None:
        self.name = name
        self.host = host
        self.process = process
        stdout = process.popen.stdout
        assert stdout is not None
        self._events = EventPipe(stdout, name)

    @property
    def last_progress(self) -> ProgressEvent:
        return self._events.last_progress

    def send(self, message: Message) -> None:
        stdin = self.process.popen.stdin
        assert stdin is not None
        try:
            stdin.write(encode(message).encode())
            stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise AgentError(
                f"agent {self.name} is gone: {exc}\n{self.process.log_tail()}"
            ) from exc

    def wait_for(self, event: str, timeout_s: float) -> dict[str, Any]:
        """The next event named `event`; AgentError on error, exit or timeout."""
        try:
            return self._events.wait_for(event, timeout_s)
        except EventTimeout as exc:
            raise AgentTimeout(f"agent {self.name} {exc}") from None
        except AgentFailed as exc:
            raise AgentError(f"agent {self.name} failed: {exc}") from None
        except PipeClosed:
            self.process.popen.wait(5)
            where = "" if self.host == "localhost" else f" on {self.host}"
            raise AgentError(
                f"agent {self.name}{where} exited (code {self.process.returncode}) before"
                f" {event!r}:\n{self.process.log_tail()}"
            ) from None

    def stop(self) -> None:
        stop_agents([self])

    def _hang_up(self) -> None:
        stdin = self.process.popen.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()


#: how long stopped agents get to exit before SIGKILL
STOP_GRACE_S = 10.0


def stop_agents(agents: Sequence[AgentHandle], grace_s: float = STOP_GRACE_S) -> None:
    """Hang up on every agent and stop them all at once: one grace period for the lot,
    not one each (an agent still waiting for a broker that is gone can use all of it)."""
    for agent in agents:
        agent._hang_up()
    stop_together([agent.process for agent in agents], grace_s)


def shards(producers: int, workers: int) -> list[tuple[int, int]]:
    """Split producer ids 0..producers-1 into (first, count) ranges for `workers` agents."""
    workers = max(1, min(workers, producers))
    base, extra = divmod(producers, workers)
    out, first = [], 0
    for i in range(workers):
        count = base + (1 if i < extra else 0)
        out.append((first, count))
        first += count
    return out


class AgentLauncher(ABC):
    """Starts agents somewhere; `hosts()` lists where, for the report."""

    #: what `plan_producers` did to make room, for the step's notes (None: nothing)
    placement_note: str | None = None
    #: agents run on hosts with clocks of their own: the step measures their offsets
    remote_clocks: bool = False

    def host_of(self, role: str, slot: int = 0) -> str:
        """The host the agent of `role` in `slot` runs on (after `plan_producers`)."""
        return self.hosts()[0]

    def plan_producers(self, producers: int, workers: int) -> list[tuple[int, int]]:
        """How a step's producers split over agents; a launcher that must make room first
        (scale a service) does it here. Agent i of the split is launched with slot=i."""
        return shards(producers, workers)

    @abstractmethod
    def launch(self, name: str, config: AgentConfig, slot: int = 0) -> AgentHandle: ...

    @abstractmethod
    def hosts(self) -> list[str]: ...


class LocalAgentLauncher(AgentLauncher):
    """Agents as child processes of pytest on this machine."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir

    def launch(self, name: str, config: AgentConfig, slot: int = 0) -> AgentHandle:
        proc = ManagedProcess(
            name,
            [sys.executable, "-m", "pytest_frida.workload.agent"],
            log_path=self.log_dir / f"{name}.log",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        handle = AgentHandle(name, proc)
        handle.send(config)
        return handle

    def hosts(self) -> list[str]:
        import socket

        return [socket.gethostname()]
