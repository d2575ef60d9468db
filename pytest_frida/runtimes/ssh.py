"""Processes on other hosts over SSH, with lifetimes tied to the controller.

Long-lived remote processes (brokers, agents) are `ssh host CMD` children of pytest with a
pipe on stdin: an agent reads its JSON lines from it, and a broker is wrapped so that it is
killed when that pipe closes. If pytest dies, its ssh clients die with it (PR_SET_PDEATHSIG),
the pipes close, and nothing stays behind on the nodes. One-shot preparation commands on
all nodes at once go through execo (`Remote`), which reports per host what failed.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_frida.errors import FridaSetupError
from pytest_frida.runtimes.process import ManagedProcess

CONNECT_TIMEOUT_S = 10


class RemoteError(FridaSetupError):
    """A node cannot be reached or cannot run what we need; the message names the node."""


@dataclass(frozen=True)
class SshSettings:
    """How to reach the nodes: an ssh_config file (keys, users, jump hosts) or defaults."""

    config: Path | None = None
    user: str | None = None

    def options(self) -> list[str]:
        opts = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        if self.config is not None:
            opts += ["-F", str(self.config)]
        if self.user:
            opts += ["-l", self.user]
        return opts

    def argv(self, host: str, command: str) -> list[str]:
        return ["ssh", *self.options(), host, command]

    def run(self, host: str, command: str, input_text: str | None = None,
            timeout: float = 60.0) -> str:
        """One command on one host; RemoteError with its stderr when it fails."""
        try:
            done = subprocess.run(self.argv(host, command), input=input_text,
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RemoteError(f"{host}: `{command[:60]}` did not finish within"
                              f" {timeout:.0f}s") from exc
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            raise RemoteError(f"{host}: `{command[:60]}` failed: {why}")
        return done.stdout

    def execo_params(self) -> dict[str, object]:
        """The same connection for execo's Remote."""
        options = tuple(self.options())
        params: dict[str, object] = {"ssh_options": options}
        if self.user:
            params["user"] = self.user
        return params


def shell(argv: Sequence[str], env: Mapping[str, str] | None = None,
          cwd: str | None = None) -> str:
    """A remote shell command line running `argv` (quoted) with `env` and `cwd`."""
    parts = []
    if cwd:
        parts.append(f"cd {shlex.quote(cwd)} &&")
    parts.append("exec")
    if env:
        parts.append("env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()))
    parts.append(shlex.join(argv))
    return " ".join(parts)


def tied_to_stdin(command: str) -> str:
    """Run `command` in the background and kill it when stdin closes (the controller, or its
    ssh, went away), so a broker never outlives its run."""
    return ("sh -c " + shlex.quote(f"{command} & pid=$!; trap 'kill $pid 2>/dev/null' EXIT;"
                                    " cat >/dev/null; kill $pid 2>/dev/null; wait $pid"))


def remote_process(name: str, ssh: SshSettings, host: str, command: str,
                   log_path: Path | None = None, agent: bool = False) -> ManagedProcess:
    """`command` on `host` as a child of pytest (stdin and, for agents, stdout piped)."""
    return ManagedProcess(name, ssh.argv(host, command), log_path=log_path,
                          stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE if agent else None)


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
