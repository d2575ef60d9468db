"""The `docker` command line, with timeouts and errors that say what to do.

The CLI rather than the Python SDK: stacks (`docker stack deploy`) exist only in the CLI,
and every call here is one a person can repeat by hand when something goes wrong. A node's
daemon is reached by running `docker` on the node over our own ssh (`DockerCli.on_node`),
so ssh_config files, users and jump hosts work as for every other remote command, and the
controller needs no Docker of its own.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import IO, Any

from pytest_frida.errors import FridaSetupError
from pytest_frida.runtimes.ssh import SshSettings

DEFAULT_TIMEOUT_S = 60.0
PING_TIMEOUT_S = 10.0


class DockerError(FridaSetupError):
    """A docker command failed or timed out; the message names the command and what to do."""


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


class DockerCli:
    """Runs `docker [-H host] ...` against one daemon: this machine's (or `-H host`), or a
    node's through `ssh node docker ...` (see `on_node`)."""

    def __init__(self, host: str | None = None) -> None:
        self.host = host
        self.node: str | None = None
        self.ssh: SshSettings | None = None
        exe = shutil.which("docker")
        if exe is None:
            raise DockerError(
                "the docker command is not installed; install Docker"
                " (Debian: apt-get install docker.io)"
            )
        self.exe = exe

    @classmethod
    def on_node(cls, ssh: SshSettings, node: str) -> DockerCli:
        """The daemon of `node`, driven by the `docker` command there, over ssh."""
        cli = cls.__new__(cls)
        cli.host, cli.node, cli.ssh, cli.exe = None, node, ssh, "docker"
        return cli

    def argv(
        self, *args: str, env: Mapping[str, str] | None = None, long_lived: bool = False
    ) -> list[str]:
        """The command line running `docker args` (with `env` added) against this daemon;
        `long_lived` for one that stays open (an agent's `docker exec -i`)."""
        if self.ssh is not None and self.node is not None:
            prefix = ["env", *(f"{k}={v}" for k, v in env.items())] if env else []
            return self.ssh.argv(
                self.node, shlex.join([*prefix, "docker", *args]), long_lived=long_lived
            )
        return [self.exe, *(("-H", self.host) if self.host else ()), *args]

    @property
    def where(self) -> str:
        if self.node is not None:
            return self.node
        return self.host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"

    def run(
        self,
        *args: str,
        timeout: float = DEFAULT_TIMEOUT_S,
        check: bool = True,
        stdin: IO[bytes] | None = None,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run one command; DockerError (with docker's own last line) when it fails.
        `env` adds variables (a stack file's ${...} are filled from them)."""
        remote = self.node is not None
        cmd = self.argv(*args, env=env if remote else None)
        full_env = {**os.environ, **env} if env and not remote else None
        try:
            if stdin is not None:
                done_bytes = subprocess.run(
                    cmd,
                    stdin=stdin,
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                    env=full_env,
                )
                done = subprocess.CompletedProcess(
                    cmd,
                    done_bytes.returncode,
                    done_bytes.stdout.decode(errors="replace"),
                    done_bytes.stderr.decode(errors="replace"),
                )
            else:
                done = subprocess.run(
                    cmd,
                    input=input_text,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                    env=full_env,
                )
        except subprocess.TimeoutExpired as exc:
            raise DockerError(
                f"`docker {' '.join(args[:3])}` on {self.where} did not finish"
                f" within {timeout:.0f}s"
            ) from exc
        if check and done.returncode != 0:
            raise DockerError(
                f"`docker {' '.join(args[:3])}` failed on {self.where}:"
                f" {_first_line(done.stderr) or _first_line(done.stdout)}"
            )
        return done

    def ping(self) -> str:
        """The daemon's version; DockerError naming what to do when none answers."""
        try:
            done = self.run(
                "version", "--format", "{{.Server.Version}}", timeout=PING_TIMEOUT_S, check=False
            )
        except DockerError as exc:
            raise DockerError(
                f"no Docker daemon answers at {self.where} within"
                f" {PING_TIMEOUT_S:.0f}s; start one (dockerd) or set DOCKER_HOST"
            ) from exc
        if done.returncode != 0 or not done.stdout.strip():
            raise DockerError(
                f"no Docker daemon answers at {self.where}"
                f" ({_first_line(done.stderr)}); start one (dockerd) or set"
                " DOCKER_HOST"
            )
        return done.stdout.strip()

    def is_local(self) -> bool:
        """Whether this daemon runs on this machine (its unix socket), so its containers'
        processes and files are this machine's."""
        return self.node is None and self.where.startswith("unix://")

    def info_value(self, key: str) -> str | None:
        """One field of `docker info` (e.g. DockerRootDir), None when it cannot be read."""
        done = self.run("info", "--format", f"{{{{.{key}}}}}", check=False)
        value = done.stdout.strip()
        return value if done.returncode == 0 and value else None

    def inspect(self, kind: str, names: Sequence[str]) -> list[dict[str, Any]]:
        """`docker inspect --type <kind>` of existing objects (missing ones are left out)."""
        if not names:
            return []
        done = self.run("inspect", "--type", kind, *names, check=False)
        try:
            found = json.loads(done.stdout or "[]")
        except ValueError:
            return []
        return [item for item in found if isinstance(item, dict)]

    def container_pid(self, container_id: str) -> int:
        """The main process of a container, as the daemon's kernel numbers it (0: not
        running)."""
        return int(self.inspect("container", [container_id])[0]["State"]["Pid"])

    def image_label(self, image: str, label: str) -> str | None:
        """A label of a local image, '' when the image has no such label, None if absent."""
        found = self.inspect("image", [image])
        if not found:
            return None
        labels = (found[0].get("Config") or {}).get("Labels") or {}
        return str(labels.get(label, ""))

    def lines(self, *args: str, timeout: float = DEFAULT_TIMEOUT_S) -> list[str]:
        out = self.run(*args, timeout=timeout).stdout
        return [line for line in out.splitlines() if line.strip()]
