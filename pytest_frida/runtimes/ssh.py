"""Processes on other hosts over SSH, with lifetimes tied to the controller.

Long-lived remote processes (brokers, agents) are `ssh host CMD` children of pytest with a
pipe on stdin: an agent reads its JSON lines from it, and a broker is wrapped so that it is
killed when that pipe closes. If pytest dies, its ssh clients die with it (PR_SET_PDEATHSIG),
the pipes close, and nothing stays behind on the nodes. One-shot preparation commands on
all nodes at once go through execo (`Remote`), which reports per host what failed.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_frida.errors import FridaSetupError
from pytest_frida.runtimes.process import ManagedProcess

CONNECT_TIMEOUT_S = 10
#: seconds a shared connection stays up after its last session (if nobody closes it)
MULTIPLEX_PERSIST_S = 15
#: long-lived sessions one shared connection carries: sshd refuses an eleventh session on
#: a connection (OpenSSH's MaxSessions 10, which Grid'5000's nodes keep), and short
#: commands go over a connection of their own
SESSIONS_PER_CONNECTION = 8


class RemoteError(FridaSetupError):
    """A node cannot be reached or cannot run what we need; the message names the node."""


class _Lanes:
    """Per host, how many long-lived sessions were opened: every SESSIONS_PER_CONNECTION
    of them share a connection of their own (its lane), opened before its first session
    so that they do not race to open it, each with a key exchange of its own (sshd drops
    concurrent ones beyond MaxStartups). Counts only grow: a lane whose sessions ended
    closes MULTIPLEX_PERSIST_S later, and a new one is a new connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._opened: dict[str, int] = {}

    def next(self, host: str, open_lane: Callable[[int], None]) -> int:
        with self._lock:  # held while a lane opens: its sessions wait for it
            opened = self._opened.get(host, 0)
            self._opened[host] = opened + 1
            lane = opened // SESSIONS_PER_CONNECTION
            if opened % SESSIONS_PER_CONNECTION == 0:
                open_lane(lane)
            return lane

    def used(self, host: str) -> range:
        with self._lock:
            return range(-(-self._opened.get(host, 0) // SESSIONS_PER_CONNECTION))


@dataclass(frozen=True)
class SshSettings:
    """How to reach the nodes: an ssh_config file (keys, users, jump hosts) or defaults.

    With `multiplex_dir`, every command to a node shares one connection (ssh's
    ControlMaster): a run makes hundreds of short ssh calls (docker commands, clock agents),
    and each would otherwise pay a key exchange. Long-lived sessions (agents, brokers) go
    over connections of their own, SESSIONS_PER_CONNECTION at a time, so no connection
    meets sshd's limit of sessions. A shared connection outlives its last session by
    MULTIPLEX_PERSIST_S at most; `close` ends them at once.
    """

    config: Path | None = None
    user: str | None = None
    multiplex_dir: Path | None = None
    _lanes: _Lanes = field(default_factory=_Lanes, compare=False, repr=False)

    def options(self, lane: int | None = None) -> list[str]:
        """ssh's options; `lane` names the shared connection of long-lived sessions to use
        (None: the one of short commands)."""
        opts = [
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={CONNECT_TIMEOUT_S}",
            # a node silent for 9 s is gone: its sessions end instead of hanging
            "-o",
            "ServerAliveInterval=3",
            "-o",
            "ServerAliveCountMax=3",
        ]
        if self.multiplex_dir is not None:
            path = f"{self.multiplex_dir}/%C" + ("" if lane is None else f"-{lane}")
            opts += [
                "-o",
                "ControlMaster=auto",
                "-o",
                f"ControlPath={path}",
                "-o",
                f"ControlPersist={MULTIPLEX_PERSIST_S}",
            ]
        if self.config is not None:
            opts += ["-F", str(self.config)]
        if self.user:
            opts += ["-l", self.user]
        return opts

    @classmethod
    def multiplexed(cls, config: Path | None, run_id: str) -> SshSettings:
        """Settings whose connections are shared per node, below a directory of the run."""
        directory = Path(tempfile.gettempdir()) / f"frida-ssh-{run_id}"
        directory.mkdir(mode=0o700, exist_ok=True)
        return cls(config, multiplex_dir=directory)

    def close(self, hosts: Sequence[str]) -> None:
        """End the shared connections to `hosts` and remove their directory."""
        if self.multiplex_dir is None:
            return
        for host in hosts:
            for lane in [None, *self._lanes.used(host)]:
                self._end(host, lane)
        shutil.rmtree(self.multiplex_dir, ignore_errors=True)

    def disconnect(self, host: str) -> None:
        """Retire the shared connection of short commands to `host`, so that the next one
        logs in afresh: a session over a connection opened earlier has the login's groups
        of then (a group granted since, such as Docker's, is not yet its). Commands in
        flight on it finish (`ssh -O stop`); long-lived sessions keep their connections."""
        if self.multiplex_dir is not None:
            self._end(host, None, "stop")

    def _end(self, host: str, lane: int | None, how: str = "exit") -> None:
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(
                ["ssh", *self.options(lane), "-O", how, host],
                capture_output=True,
                timeout=10,
                check=False,
            )

    def argv(self, host: str, command: str, long_lived: bool = False) -> list[str]:
        """ssh running `command` on `host`; a `long_lived` session (it stays open for a
        step or a run) takes a place on a connection for such sessions."""
        lane = None
        if long_lived and self.multiplex_dir:
            lane = self._lanes.next(host, lambda lane: self._open_lane(host, lane))
        return ["ssh", *self.options(lane), host, command]

    def _open_lane(self, host: str, lane: int) -> None:
        """Start the shared connection of `lane` in the background (ssh -f returns once it
        is up). A failure is left to the sessions, whose own ssh then says why."""
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(
                ["ssh", *self.options(lane), "-f", "-N", host],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=CONNECT_TIMEOUT_S + 20,
                check=False,
            )

    def run(
        self, host: str, command: str, input_text: str | None = None, timeout: float = 60.0
    ) -> str:
        """One command on one host; RemoteError with its stderr when it fails."""
        try:
            done = subprocess.run(
                self.argv(host, command),
                input=input_text,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RemoteError(
                f"{host}: `{command[:60]}` did not finish within {timeout:.0f}s"
            ) from exc
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            raise RemoteError(f"{host}: `{command[:60]}` failed: {why}")
        return done.stdout

    def address(self, host: str) -> str:
        """The IPv4 address ssh reaches `host` at: the HostName its config gives
        (`ssh -G`, so aliases in an ssh_config work), resolved on this machine."""
        try:
            done = subprocess.run(
                ["ssh", *self.options(), "-G", host],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            done = None
        name = host.rsplit("@", 1)[-1]
        for line in done.stdout.splitlines() if done and done.returncode == 0 else []:
            key, _, value = line.partition(" ")
            if key == "hostname" and value.strip():
                name = value.strip()
                break
        try:
            return str(socket.getaddrinfo(name, None, socket.AF_INET)[0][4][0])
        except OSError as exc:
            raise RemoteError(f"{host}: cannot resolve {name!r} to an address: {exc}") from exc

    def check(self, host: str) -> None:
        """RemoteError naming `host` and ssh's reason when it cannot be logged into."""
        try:
            done = subprocess.run(
                self.argv(host, "true"),
                capture_output=True,
                text=True,
                timeout=CONNECT_TIMEOUT_S + 20,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RemoteError(
                f"{host} does not answer over ssh (no login within {CONNECT_TIMEOUT_S + 20}s)"
            ) from None
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            raise RemoteError(f"{host} does not answer over ssh: {why}")

    def reachable(self, host: str, timeout: float = 5.0) -> bool:
        """Whether `host` answers over ssh within `timeout` seconds."""
        # ssh keeps the first value of an option: this timeout goes before ours
        argv = [
            "ssh",
            "-o",
            f"ConnectTimeout={max(1, int(timeout) - 1)}",
            *self.options(),
            host,
            "true",
        ]
        try:
            return (
                subprocess.run(argv, capture_output=True, timeout=timeout, check=False).returncode
                == 0
            )
        except subprocess.TimeoutExpired:
            return False

    def execo_params(self) -> dict[str, object]:
        """The same connection for execo's Remote."""
        options = tuple(self.options())
        params: dict[str, object] = {"ssh_options": options}
        if self.user:
            params["user"] = self.user
        return params


def shell(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> str:
    """A remote shell command line running `argv` (quoted) with `env` and `cwd`."""
    parts = []
    if cwd:
        parts.append(f"cd {shlex.quote(cwd)} &&")
    parts.append("exec")
    if env:
        parts.append("env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()))
    parts.append(shlex.join(argv))
    return " ".join(parts)


def tied_to_stdin(command: str, grace_s: int = 5) -> str:
    """Run `command` in the background and stop it when stdin closes (the controller, or its
    ssh, went away), so a broker never outlives its run: SIGTERM, then SIGKILL after
    `grace_s` seconds (a broker whose quorum left can hang in controlled shutdown)."""
    stop = (
        "kill $pid 2>/dev/null; i=0; while kill -0 $pid 2>/dev/null &&"
        f" [ $i -lt {grace_s * 5} ]; do sleep 0.2; i=$((i+1)); done;"
        " kill -9 $pid 2>/dev/null"
    )
    return "sh -c " + shlex.quote(f"{command} & pid=$!; trap '{stop}' EXIT; cat >/dev/null")


def remote_process(
    name: str,
    ssh: SshSettings,
    host: str,
    command: str,
    log_path: Path | None = None,
    agent: bool = False,
) -> ManagedProcess:
    """`command` on `host` as a child of pytest (stdin and, for agents, stdout piped)."""
    return ManagedProcess(
        name,
        ssh.argv(host, command, long_lived=True),
        log_path=log_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE if agent else None,
    )


def check_hosts(hosts: Sequence[str], ssh: SshSettings, command: str, what: str) -> None:
    """Run a check on every host in parallel with execo; RemoteError naming the hosts where
    it failed and why."""
    from execo import Remote  # imported here: execo installs signal handlers on import

    if "{{" in command:  # execo would evaluate it as Python
        raise ValueError(f"command for execo must not contain '{{{{': {command}")
    remote = Remote(command, list(hosts), connection_params=ssh.execo_params())
    remote.run()
    failed = [p for p in remote.processes if not p.ok]
    if failed:

        def why(p: object) -> str:
            lines = str(getattr(p, "stderr", "")).strip().splitlines()
            return lines[-1] if lines else str(getattr(p, "error_reason", None) or "failed")

        details = "; ".join(f"{p.host.address}: {why(p)}" for p in failed)
        raise RemoteError(f"{what} failed on {len(failed)} of {len(hosts)} node(s): {details}")
