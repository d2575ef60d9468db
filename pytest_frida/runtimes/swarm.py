"""Docker swarm: being a manager, deploying stacks, scaling services until they converge.

Everything goes through `docker` commands a person could type: `swarm init`, `stack deploy`,
`service scale`, `service ps`, `stack rm`. Waits are bounded and say what they waited for,
with the tasks' own error messages (a missing image, a port already taken).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_frida.runtimes.docker_cli import DockerCli, DockerError

CONVERGE_TIMEOUT_S = 120.0
REMOVE_TIMEOUT_S = 60.0
STACK_LABEL = "com.docker.stack.namespace"
#: task states after which a task will never run
_FINAL = ("failed", "rejected", "shutdown", "complete", "orphaned", "remove")


#: node label marking a swarm that pytest-frida made (and so may leave again)
CREATED_LABEL = "frida.created-swarm"
#: stacks of pytest-frida runs are named frida-<run id>[-<xdist worker>]
STACK_PREFIX = "frida-"


class SwarmMembership:
    """This daemon as a swarm manager: an existing swarm, or a one-node swarm made for the
    run and left again when the last frida stack on it is gone (xdist workers share it), so
    the machine ends as it was. A swarm frida did not make is never left."""

    def __init__(self, docker: DockerCli, advertise_addr: str = "127.0.0.1") -> None:
        self.docker = docker
        self.advertise_addr = advertise_addr
        self.created = False

    def _state(self) -> tuple[str, str, str]:
        fields = self.docker.run(
            "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"
            " {{.Swarm.NodeID}}").stdout.split()
        state, control, node = [*fields, "", "", ""][:3]
        return state, control, node

    def ensure(self) -> str:
        """The node id of this manager."""
        state, control, node = self._state()
        if state == "inactive":
            done = self.docker.run("swarm", "init", "--advertise-addr", self.advertise_addr,
                                   check=False)
            if done.returncode == 0:
                self.created = True
                _, _, node = self._state()
                self.docker.run("node", "update", "--label-add", f"{CREATED_LABEL}=true", node)
                return node
            state, control, node = self._state()  # another worker made it meanwhile
        if state != "active":
            raise DockerError(f"the swarm on {self.docker.where} is {state!r}; expected active"
                              " or inactive (fix it with docker swarm leave --force)")
        if control != "true":
            raise DockerError(f"{self.docker.where} is a swarm worker; pytest-frida needs a"
                              " manager (run it on a manager node, or point DOCKER_HOST there)")
        return node

    def made_by_frida(self) -> bool:
        state, _, node = self._state()
        if state != "active":
            return False
        found = self.docker.inspect("node", [node])
        labels = ((found[0].get("Spec") or {}).get("Labels") or {}) if found else {}
        return labels.get(CREATED_LABEL) == "true"

    def release(self) -> None:
        """Leave a swarm frida made, once no frida stack is left on it."""
        if not self.made_by_frida():
            return
        stacks = self.docker.lines("stack", "ls", "--format", "{{.Name}}")
        if any(name.startswith(STACK_PREFIX) for name in stacks):
            return  # another worker's run still uses it; the last one leaves
        self.docker.run("swarm", "leave", "--force", check=False, timeout=60)
        self.created = False


@dataclass(frozen=True)
class Task:
    """One running replica of a service."""

    id: str
    slot: int
    container_id: str
    node_id: str


def _status(doc: dict[str, object]) -> dict[str, Any]:
    status = doc.get("Status") or {}
    assert isinstance(status, dict)
    return status


def _running(docs: list[dict[str, object]]) -> list[Task]:
    """The running replicas among `docker inspect` task documents, by slot."""
    out = []
    for doc in docs:
        status = _status(doc)
        if doc.get("DesiredState") != "running" or status.get("State") != "running":
            continue
        cid = (status.get("ContainerStatus") or {}).get("ContainerID", "")
        out.append(Task(str(doc["ID"]), int(str(doc.get("Slot") or 0)), cid,
                        str(doc.get("NodeID", ""))))
    return sorted(out, key=lambda t: t.slot)


def _ended(docs: list[dict[str, object]]) -> list[str]:
    """How tasks ended that were not asked to stop (state, error, exit code)."""
    errors = []
    for doc in docs:
        status = _status(doc)
        state = status.get("State")
        if state not in _FINAL or state == "shutdown":
            continue
        code = (status.get("ContainerStatus") or {}).get("ExitCode")
        why = status.get("Err") or status.get("Message") or state
        errors.append(f"task {state}: {why}" + (f" (exit code {code})" if code is not None
                                                 else ""))
    return errors


class StackDeployment:
    """One stack of the run: deploy, scale its services, find their containers, remove it."""

    def __init__(self, docker: DockerCli, name: str, files: Sequence[Path],
                 env: Mapping[str, str]) -> None:
        self.docker = docker
        self.name = name
        self.files = list(files)
        self.env = dict(env)
        self.deployed = False

    def service(self, short: str) -> str:
        return f"{self.name}_{short}"

    def deploy(self) -> None:
        args = ["stack", "deploy", "--resolve-image", "never", "--detach=true", "--quiet"]
        for f in self.files:
            args += ["-c", str(f)]
        self.deployed = True  # even a half-done deploy must be removed
        self.docker.run(*args, self.name, env=self.env, timeout=120)

    def _task_docs(self, short: str) -> list[dict[str, object]]:
        ids = self.docker.lines("service", "ps", "-q", "--no-trunc", self.service(short))
        return self.docker.inspect("task", ids)

    def tasks(self, short: str) -> list[Task]:
        """Running replicas, by slot."""
        return _running(self._task_docs(short))

    def failures(self, short: str) -> list[str]:
        """Why tasks ended without being asked to (a replica must keep running)."""
        return _ended(self._task_docs(short))

    def scale(self, short: str, replicas: int, timeout_s: float = CONVERGE_TIMEOUT_S,
              progress: Callable[[str], None] | None = None) -> list[Task]:
        """Scale a service and wait until exactly `replicas` tasks run."""
        self.docker.run("service", "scale", "--detach", f"{self.service(short)}={replicas}")
        return self.wait_converged(short, replicas, timeout_s, progress)

    def wait_converged(self, short: str, replicas: int, timeout_s: float = CONVERGE_TIMEOUT_S,
                       progress: Callable[[str], None] | None = None) -> list[Task]:
        deadline = time.monotonic() + timeout_s
        shown = -1
        while True:
            docs = self._task_docs(short)  # one `service ps` + inspect per poll
            running = _running(docs)
            if len(running) == replicas and all(t.container_id for t in running):
                return running
            errors = _ended(docs)
            if len(errors) >= 3 or any(e.startswith("task complete") for e in errors):
                raise DockerError(f"service {self.service(short)} cannot start its replicas:"
                                  f" {errors[0]}")
            if progress is not None and len(running) != shown:
                progress(f"{self.service(short)}: {len(running)}/{replicas} replicas running")
                shown = len(running)
            if time.monotonic() > deadline:
                why = f"; task errors: {errors[0]}" if errors else ""
                raise DockerError(f"service {self.service(short)} did not converge to"
                                  f" {replicas} running replicas within {timeout_s:.0f}s"
                                  f" ({len(running)} running){why}")
            time.sleep(0.5)

    def logs(self, short: str) -> bytes:
        """Output of the service's task containers on this daemon, oldest task first
        (`docker service logs` can hang on some daemons; container logs do not)."""
        out = b""
        for doc in reversed(self._task_docs(short)):
            cid = (_status(doc).get("ContainerStatus") or {}).get("ContainerID")
            if cid:
                done = self.docker.run("logs", cid, check=False, timeout=30)
                out += (done.stdout + done.stderr).encode()
        return out

    def remove(self, timeout_s: float = REMOVE_TIMEOUT_S) -> None:
        """`docker stack rm`, then wait until its containers and networks are gone."""
        if not self.deployed:
            return
        self.docker.run("stack", "rm", self.name, check=False, timeout=60)
        deadline = time.monotonic() + timeout_s
        flt = f"label={STACK_LABEL}={self.name}"
        while True:
            left = self.docker.lines("ps", "-aq", "--filter", flt) + \
                self.docker.lines("network", "ls", "-q", "--filter", flt)
            if not left:
                self.deployed = False
                return
            if time.monotonic() > deadline:
                raise DockerError(f"stack {self.name} still has {len(left)} container(s) or"
                                  f" network(s) {timeout_s:.0f}s after docker stack rm")
            time.sleep(0.5)
