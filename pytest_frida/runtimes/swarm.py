"""Docker swarm membership: this daemon as a manager, or a swarm formed across the run's
nodes, and leaving either again.

Everything goes through `docker` commands a person could type: `swarm init`, `swarm join`,
`node update`, `swarm leave`. A node's swarm state is read in one `docker info`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pytest_frida.runtimes.docker_cli import DockerCli, DockerError
from pytest_frida.runtimes.fan_out import on_each

#: node label marking a swarm that pytest-frida made (and so may leave again)
CREATED_LABEL = "frida.created-swarm"
#: stacks of pytest-frida runs are named frida-<run id>[-<xdist worker>]
STACK_PREFIX = "frida-"


@dataclass(frozen=True)
class SwarmState:
    """What a daemon says of its swarm."""

    #: LocalNodeState: inactive, pending, active, error, locked
    state: str
    #: whether the daemon is a manager (ControlAvailable)
    manager: bool
    node_id: str
    #: addresses of the managers it knows
    managers: list[str]


def swarm_state(docker: DockerCli) -> SwarmState:
    out = docker.run(
        "info",
        "--format",
        "{{.Swarm.LocalNodeState}}|{{.Swarm.ControlAvailable}}"
        "|{{.Swarm.NodeID}}|{{range .Swarm.RemoteManagers}}{{.Addr}} {{end}}",
    ).stdout.strip()
    state, control, node, managers = [*out.split("|"), "", "", "", ""][:4]
    return SwarmState(
        state, control == "true", node, [m.rsplit(":", 1)[0] for m in managers.split()]
    )


def node_labels(docker: DockerCli, node_id: str) -> dict[str, str]:
    """A swarm node's labels, as its manager `docker` knows them."""
    found = docker.inspect("node", [node_id])
    labels = ((found[0].get("Spec") or {}).get("Labels") or {}) if found else {}
    return {str(k): str(v) for k, v in labels.items()}


class SwarmMembership:
    """This daemon as a swarm manager: an existing swarm, or a one-node swarm made for the
    run and left again when the last frida stack on it is gone (xdist workers share it), so
    the machine ends as it was. A swarm frida did not make is never left."""

    def __init__(self, docker: DockerCli, advertise_addr: str = "127.0.0.1") -> None:
        self.docker = docker
        self.advertise_addr = advertise_addr
        self.created = False

    def ensure(self) -> str:
        """The node id of this manager."""
        now = swarm_state(self.docker)
        if now.state == "inactive":
            done = self.docker.run(
                "swarm", "init", "--advertise-addr", self.advertise_addr, check=False
            )
            if done.returncode == 0:
                self.created = True
                node = swarm_state(self.docker).node_id
                self.docker.run("node", "update", "--label-add", f"{CREATED_LABEL}=true", node)
                return node
            now = swarm_state(self.docker)  # another worker made it meanwhile
        if now.state != "active":
            raise DockerError(
                f"the swarm on {self.docker.where} is {now.state!r}; expected active"
                " or inactive (fix it with docker swarm leave --force)"
            )
        if not now.manager:
            raise DockerError(
                f"{self.docker.where} is a swarm worker; pytest-frida needs a"
                " manager (run it on a manager node, or point DOCKER_HOST there)"
            )
        return now.node_id

    def made_by_frida(self) -> bool:
        now = swarm_state(self.docker)
        if now.state != "active":
            return False
        return node_labels(self.docker, now.node_id).get(CREATED_LABEL) == "true"

    def release(self) -> None:
        """Leave a swarm frida made, once no frida stack is left on it."""
        if not self.made_by_frida():
            return
        stacks = self.docker.lines("stack", "ls", "--format", "{{.Name}}")
        if any(name.startswith(STACK_PREFIX) for name in stacks):
            return  # another worker's run still uses it; the last one leaves
        self.docker.run("swarm", "leave", "--force", check=False, timeout=60)
        self.created = False


@dataclass
class SwarmNode:
    """One machine of a swarm formed across nodes: its name in the run, its daemon, and the
    address the swarm reaches it at."""

    host: str
    docker: DockerCli
    address: str
    node_id: str = ""


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
        read = on_each(nodes, lambda node: swarm_state(node.docker))
        states = {node.host: state for node, state in zip(nodes, read, strict=True)}
        #: addresses of the nodes here that manage no swarm (now)
        not_managing = {
            n.address
            for n in nodes
            if states[n.host].state != "active" or not states[n.host].manager
        }
        for node in nodes:  # managers first: they tell whose swarm it is
            now = states[node.host]
            if now.state == "active" and now.manager:
                if not self.is_orphaned(node_labels(node.docker, now.node_id)):
                    raise DockerError(
                        f"{node.host} manages a swarm that is not one a dead"
                        " pytest-frida run of this machine left behind; leave"
                        " it there first (docker swarm leave --force)"
                    )
                node.docker.run("swarm", "leave", "--force", timeout=60)
                not_managing.add(node.address)
        for node in nodes:
            now = states[node.host]
            if now.state in ("active", "pending", "error") and not now.manager:
                if not now.managers or not set(now.managers) <= not_managing:
                    raise DockerError(
                        f"{node.host} is a worker of another swarm (managers"
                        f" {', '.join(now.managers) or 'unknown'}); leave it there"
                        " first (docker swarm leave --force)"
                    )
                node.docker.run("swarm", "leave", "--force", timeout=60)
            elif now.state not in ("active", "inactive"):
                raise DockerError(
                    f"the swarm state of {node.host} is {now.state!r}; expected"
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
        mgr.node_id = swarm_state(mgr.docker).node_id
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
            node.node_id = swarm_state(node.docker).node_id

        try:
            on_each(nodes, join)
        finally:
            self.members += [node for node in nodes if node.node_id]  # joined: they must leave

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
        outcomes = on_each(workers, leave_one)
        if self.manager in self.members:
            outcomes.append(leave_one(self.manager))
        self.members.clear()
        return [problem for problem in outcomes if problem]
