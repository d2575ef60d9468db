"""Docker swarm: being a manager, deploying stacks, scaling services until they converge.

Everything goes through `docker` commands a person could type: `swarm init`, `stack deploy`,
`service scale`, `service ps`, `stack rm`. Waits are bounded and say what they waited for,
with the tasks' own error messages (a missing image, a port already taken).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_frida.runtimes.docker_cli import DockerCli, DockerError

CONVERGE_TIMEOUT_S = 120.0
REMOVE_TIMEOUT_S = 60.0
#: a stack's removal gives up after this long even while it still progresses
REMOVE_CAP_S = 600.0
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
            "info",
            "--format",
            "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}}",
        ).stdout.split()
        state, control, node = [*fields, "", "", ""][:3]
        return state, control, node

    def ensure(self) -> str:
        """The node id of this manager."""
        state, control, node = self._state()
        if state == "inactive":
            done = self.docker.run(
                "swarm", "init", "--advertise-addr", self.advertise_addr, check=False
            )
            if done.returncode == 0:
                self.created = True
                _, _, node = self._state()
                self.docker.run("node", "update", "--label-add", f"{CREATED_LABEL}=true", node)
                return node
            state, control, node = self._state()  # another worker made it meanwhile
        if state != "active":
            raise DockerError(
                f"the swarm on {self.docker.where} is {state!r}; expected active"
                " or inactive (fix it with docker swarm leave --force)"
            )
        if control != "true":
            raise DockerError(
                f"{self.docker.where} is a swarm worker; pytest-frida needs a"
                " manager (run it on a manager node, or point DOCKER_HOST there)"
            )
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

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(daemons)))) as pool:
            list(pool.map(force_remove, daemons))
            fewest, progress_at, rounds = None, started, 0
            while True:
                # every node's containers at once; the stack's overlay networks are the
                # manager's to list (a worker's copy goes with its last task)
                left = [c for found in pool.map(containers, daemons) for c in found]
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
                    list(pool.map(force_remove, daemons))
                time.sleep(0.5)
        self.deployed = False


def _attempt(work: Callable[[SwarmNode], None], node: SwarmNode) -> Exception | None:
    try:
        work(node)
    except Exception as exc:  # raised by the caller once every node was tried
        return exc
    return None


@dataclass
class SwarmNode:
    """One machine of a swarm formed across nodes: its name in the run, its daemon, and the
    address the swarm reaches it at."""

    host: str
    docker: DockerCli
    address: str
    node_id: str = ""


def _swarm_state(docker: DockerCli) -> tuple[str, bool, str, list[str]]:
    """(LocalNodeState, is a manager, node id, addresses of the managers it knows)."""
    out = docker.run(
        "info",
        "--format",
        "{{.Swarm.LocalNodeState}}|{{.Swarm.ControlAvailable}}"
        "|{{.Swarm.NodeID}}|{{range .Swarm.RemoteManagers}}{{.Addr}} {{end}}",
    ).stdout.strip()
    state, control, node, managers = [*out.split("|"), "", "", "", ""][:4]
    return state, control == "true", node, [m.rsplit(":", 1)[0] for m in managers.split()]


class NodeSwarm:
    """A swarm formed on the run's nodes: `swarm init` on the first (the manager), `swarm
    join` on the others, node labels for placement; every node leaves it at the end.

    A node already in a swarm is refused, unless that swarm was formed by a pytest-frida run
    on this controller that is gone (killed outright): then the node leaves it first.
    """

    def __init__(
        self,
        manager: SwarmNode,
        owner_labels: dict[str, str],
        is_orphaned: Callable[[dict[str, str]], bool],
    ) -> None:
        self.manager = manager
        self.owner_labels = owner_labels
        self.is_orphaned = is_orphaned
        self.members: list[SwarmNode] = []

    def _free(self, nodes: Sequence[SwarmNode]) -> None:
        """Every node out of any swarm, or DockerError naming the node and the fix. A node
        may be left in a swarm by a run that died (its manager carries that run's owner
        labels), or by a run that lost it mid-way (a worker whose managers are run nodes
        no longer managing a swarm): those leave it; any other swarm is not ours to touch."""
        states = {n.host: _swarm_state(n.docker) for n in nodes}
        #: addresses of the nodes here that manage no swarm (now)
        not_managing = {
            n.address for n in nodes if states[n.host][0] != "active" or not states[n.host][1]
        }
        for node in nodes:  # managers first: they tell whose swarm it is
            state, manager, node_id, _ = states[node.host]
            if state == "active" and manager:
                found = node.docker.inspect("node", [node_id])
                labels = ((found[0].get("Spec") or {}).get("Labels") or {}) if found else {}
                if not self.is_orphaned(labels):
                    raise DockerError(
                        f"{node.host} manages a swarm that is not one a dead"
                        " pytest-frida run of this machine left behind; leave"
                        " it there first (docker swarm leave --force)"
                    )
                node.docker.run("swarm", "leave", "--force", timeout=60)
                not_managing.add(node.address)
        for node in nodes:
            state, manager, _, managers = states[node.host]
            if state in ("active", "pending", "error") and not manager:
                if not managers or not set(managers) <= not_managing:
                    raise DockerError(
                        f"{node.host} is a worker of another swarm (managers"
                        f" {', '.join(managers) or 'unknown'}); leave it there"
                        " first (docker swarm leave --force)"
                    )
                node.docker.run("swarm", "leave", "--force", timeout=60)
            elif state not in ("active", "inactive"):
                raise DockerError(
                    f"the swarm state of {node.host} is {state!r}; expected"
                    " inactive (fix it with docker swarm leave --force)"
                )

    def form(self, workers: Sequence[SwarmNode]) -> None:
        """Init the swarm on the manager and join `workers` to it."""
        self._free([self.manager, *workers])
        mgr = self.manager
        mgr.docker.run(
            "swarm",
            "init",
            "--advertise-addr",
            mgr.address,
            "--listen-addr",
            f"{mgr.address}:2377",
            timeout=60,
        )
        self.members.append(mgr)
        mgr.node_id = _swarm_state(mgr.docker)[2]
        self.label(mgr, self.owner_labels)
        self.join(workers, already_free=True)

    def join(self, nodes: Sequence[SwarmNode], already_free: bool = False) -> None:
        """Join more nodes as workers (a swarm grows while the run goes on)."""
        if not already_free:
            self._free(nodes)
        token = self.manager.docker.run("swarm", "join-token", "-q", "worker").stdout.strip()

        def join(node: SwarmNode) -> None:
            node.docker.run(
                "swarm",
                "join",
                "--token",
                token,
                "--advertise-addr",
                node.address,
                f"{self.manager.address}:2377",
                timeout=60,
            )
            node.node_id = _swarm_state(node.docker)[2]

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(nodes)))) as pool:
            outcomes = list(pool.map(lambda n: _attempt(join, n), nodes))
        self.members += [node for node in nodes if node.node_id]  # joined: they must leave
        for error in outcomes:
            if error is not None:
                raise error

    def label(self, node: SwarmNode, labels: dict[str, str]) -> None:
        args = [arg for k, v in labels.items() for arg in ("--label-add", f"{k}={v}")]
        self.manager.docker.run("node", "update", *args, node.node_id)

    def member(self, node_id: str) -> SwarmNode:
        for node in self.members:
            if node.node_id == node_id:
                return node
        raise KeyError(f"swarm node {node_id!r} is not one of the run's nodes")

    def leave(self, reachable: Callable[[SwarmNode], bool] = lambda node: True) -> list[str]:
        """The workers leave (all at once), then the manager, which takes the swarm with
        it; what failed, per node."""

        def leave_one(node: SwarmNode) -> str | None:
            if not reachable(node):
                return f"{node.host}: unreachable, still in the swarm"
            done = node.docker.run("swarm", "leave", "--force", check=False, timeout=60)
            if done.returncode != 0 and "not part of a swarm" not in done.stderr:
                return f"{node.host}: {done.stderr.strip()[-200:]}"
            return None

        workers = [n for n in self.members if n is not self.manager]
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(workers)))) as pool:
            outcomes = list(pool.map(leave_one, workers))
        if self.manager in self.members:
            outcomes.append(leave_one(self.manager))
        self.members.clear()
        return [problem for problem in outcomes if problem]
