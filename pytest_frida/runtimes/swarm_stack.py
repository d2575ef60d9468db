"""One stack on a swarm: deploy it, scale its services until they converge, find their
tasks and containers, read their logs, remove it.

Everything goes through `docker` commands a person could type: `stack deploy`, `service
scale`, `service ps`, `stack rm`. Waits are bounded and say what they waited for, with the
tasks' own error messages (a missing image, a port already taken).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_frida.runtimes.docker_cli import DockerCli, DockerError
from pytest_frida.runtimes.fan_out import on_each

CONVERGE_TIMEOUT_S = 120.0
REMOVE_TIMEOUT_S = 60.0
#: a stack's removal gives up after this long even while it still progresses
REMOVE_CAP_S = 600.0
STACK_LABEL = "com.docker.stack.namespace"
#: task states after which a task will never run
_FINAL = ("failed", "rejected", "shutdown", "complete", "orphaned", "remove")


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
        out.append(
            Task(str(doc["ID"]), int(str(doc.get("Slot") or 0)), cid, str(doc.get("NodeID", "")))
        )
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
        errors.append(f"task {state}: {why}" + (f" (exit code {code})" if code is not None else ""))
    return errors


class StackDeployment:
    """One stack of the run: deploy, scale its services, find their containers, remove it."""

    def __init__(
        self,
        docker: DockerCli,
        name: str,
        files: Sequence[Path | str],
        env: Mapping[str, str],
        docker_for_node: Callable[[str], DockerCli] | None = None,
        daemons: Callable[[], Sequence[DockerCli]] | None = None,
    ) -> None:
        """`files` are paths the manager's `docker` reads; `docker_for_node` is the daemon
        of a swarm node (by id), `daemons` every daemon that may hold the stack's
        containers (both default to the manager alone)."""
        self.docker = docker
        self.name = name
        self.files = list(files)
        self.env = dict(env)
        self.deployed = False
        self.docker_for_node = docker_for_node or (lambda node_id: docker)
        self.daemons = daemons or (lambda: [docker])

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

    def scale(
        self,
        short: str,
        replicas: int,
        timeout_s: float = CONVERGE_TIMEOUT_S,
        progress: Callable[[str], None] | None = None,
    ) -> list[Task]:
        """Scale a service and wait until exactly `replicas` tasks run."""
        self.docker.run("service", "scale", "--detach", f"{self.service(short)}={replicas}")
        return self.wait_converged(short, replicas, timeout_s, progress)

    def wait_converged(
        self,
        short: str,
        replicas: int,
        timeout_s: float = CONVERGE_TIMEOUT_S,
        progress: Callable[[str], None] | None = None,
    ) -> list[Task]:
        deadline = time.monotonic() + timeout_s
        shown = -1
        while True:
            docs = self._task_docs(short)  # one `service ps` + inspect per poll
            running = _running(docs)
            if len(running) == replicas and all(t.container_id for t in running):
                return running
            errors = _ended(docs)
            if len(errors) >= 3 or any(e.startswith("task complete") for e in errors):
                raise DockerError(
                    f"service {self.service(short)} cannot start its replicas: {errors[0]}"
                )
            if progress is not None and len(running) != shown:
                progress(f"{self.service(short)}: {len(running)}/{replicas} replicas running")
                shown = len(running)
            if time.monotonic() > deadline:
                why = f"; task errors: {errors[0]}" if errors else ""
                raise DockerError(
                    f"service {self.service(short)} did not converge to"
                    f" {replicas} running replicas within {timeout_s:.0f}s"
                    f" ({len(running)} running){why}"
                )
            time.sleep(0.5)

    def logs(self, short: str) -> bytes:
        """Output of the service's task containers, from the daemons of the nodes that ran
        them, oldest task first (`docker service logs` can hang on some daemons; container
        logs do not)."""
        out = b""
        for doc in reversed(self._task_docs(short)):
            cid = (_status(doc).get("ContainerStatus") or {}).get("ContainerID")
            if cid:
                docker = self.docker_for_node(str(doc.get("NodeID", "")))
                done = docker.run("logs", cid, check=False, timeout=30)
                out += (done.stdout + done.stderr).encode()
        return out

    def remove(self, timeout_s: float = REMOVE_TIMEOUT_S) -> None:
        """`docker stack rm`, then wait until its containers and networks are gone.

        The services go first, so nothing is rescheduled; then each node's containers of
        the stack are removed at once rather than left to the nodes' swarm agents, which
        take seconds to hear of the removal (the measurements are done: Kafka need not
        shut down cleanly). A network `stack rm` could not remove while a container was
        still attached is removed once the containers are gone. The wait follows
        progress: it gives up only after `timeout_s` with nothing more removed (a busy
        node is slow, not stuck), and after REMOVE_CAP_S in all."""
        if not self.deployed:
            return
        self.docker.run("stack", "rm", self.name, check=False, timeout=60)
        started = time.monotonic()
        flt = f"label={STACK_LABEL}={self.name}"
        daemons = list(self.daemons())

        def containers(docker: DockerCli) -> list[str]:
            return docker.lines("ps", "-aq", "--filter", flt)

        def force_remove(docker: DockerCli) -> None:
            ids = containers(docker)
            if ids:
                docker.run("rm", "-f", *ids, check=False, timeout=60)

        on_each(daemons, force_remove)
        fewest, progress_at, rounds = None, started, 0
        while True:
            # every node's containers at once; the stack's overlay networks are the
            # manager's to list (a worker's copy goes with its last task)
            left = [c for found in on_each(daemons, containers) for c in found]
            networks = self.docker.lines("network", "ls", "-q", "--filter", flt)
            if not left and not networks:
                break
            now = time.monotonic()
            if fewest is None or len(left) + len(networks) < fewest:
                fewest, progress_at = len(left) + len(networks), now
            if now - progress_at > timeout_s or now - started > REMOVE_CAP_S:
                raise DockerError(
                    f"stack {self.name} still has {len(left)} container(s) and"
                    f" {len(networks)} network(s) {now - started:.0f}s after docker stack"
                    f" rm, none removed in the last {now - progress_at:.0f}s"
                )
            rounds += 1
            if not left:
                self.docker.run("network", "rm", *networks, check=False, timeout=60)
            elif rounds % 10 == 0:  # a removal that failed or timed out: again
                on_each(daemons, force_remove)
            time.sleep(0.5)
        self.deployed = False
