"""The swarm runtime on a multi-node site: a Docker swarm formed across the site's nodes.

Every node is prepared first (sites/swarm_node_setup.py: clock, Docker, images). Then the
first broker node inits the swarm and the others join; node labels pin broker i to its
node, the consumer to its node (see Roles) and producer replicas to the producer nodes.
The kafka and load stacks are deployed from the manager by the recipe the
single-daemon swarm site follows too (runtimes/kafka_swarm.py), agents are `docker exec`
in the replicas through ssh to the node that runs them, and every node's clock is measured
inside a replica there. A step that needs more producer nodes than the run has (with
--frida-producers-per-node) makes the site add nodes, which join the swarm and take the new
replicas, as the original experiment did by hand. At the end the stack is removed, every
node leaves the swarm, and nothing of the run stays on the nodes.
"""

from __future__ import annotations

import contextlib
import functools
import math
import shlex
import time
from collections.abc import Callable
from pathlib import Path

from pytest_frida.config import ClusterSettings
from pytest_frida.images import AGENT_IMAGE
from pytest_frida.images.checks import no_exporter
from pytest_frida.kafka import exporter
from pytest_frida.kafka.readiness import cluster_problem, wait_until_ready
from pytest_frida.runtimes.container_agents import SwarmAgentLauncher
from pytest_frida.runtimes.docker_cli import DockerCli, DockerError
from pytest_frida.runtimes.docker_owner import owned_by_dead_run, owner_labels, remove_run_objects
from pytest_frida.runtimes.fan_out import on_each
from pytest_frida.runtimes.kafka_stack import (
    BrokerPlacement,
    broker_services,
    internal_bootstrap,
    stack_variables,
)
from pytest_frida.runtimes.kafka_swarm import KafkaSwarmStack, run_stack_files, stack_name
from pytest_frida.runtimes.node_monitor import NodeBroker, NodeBrokerMonitor
from pytest_frida.runtimes.ssh import RemoteError
from pytest_frida.runtimes.swarm import NodeSwarm, SwarmNode
from pytest_frida.runtimes.swarm_stack import StackDeployment
from pytest_frida.sites.base import BrokerInfo, Cluster
from pytest_frida.sites.nodes import (
    GrowNodes,
    NodeAccess,
    NodeDeployment,
    Roles,
    host_name,
    node_order,
)
from pytest_frida.sites.swarm_node_setup import SwarmNodeSetup, image_source
from pytest_frida.stacks import STACK_BROKER_COUNTS

START_TIMEOUT_S = 300.0
#: the port each broker node publishes its EXTERNAL listener on (one broker per node)
EXTERNAL_PORT = 9092
#: the first port a broker node publishes its JMX exporter on (the run's override file)
NODE_METRICS_PORT = 19404


def check_swarm_runtime(settings: ClusterSettings) -> None:
    """What the swarm runtime needs from this machine, before any node is reserved."""
    if settings.brokers not in STACK_BROKER_COUNTS:
        raise DockerError(
            f"--frida-brokers={settings.brokers}: the swarm stacks hold 1 or 3"
            " brokers (use --frida-runtime=ssh for other counts)"
        )
    image_source(settings)


class SwarmOnNodes(NodeDeployment):
    """Kafka and the load stack on a swarm formed across `roles`' nodes."""

    def __init__(
        self,
        settings: ClusterSettings,
        run_dir: Path,
        run_id: str,
        access: NodeAccess,
        roles: Roles,
        notify: Callable[[str], None],
        grow: GrowNodes | None = None,
    ) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.run_id = run_id
        self.access = access
        self.roles = roles
        self.notify = notify
        self.grow = grow
        self.setup = SwarmNodeSetup(settings, run_dir, run_id, access, notify)
        self.kafka_image = self.setup.kafka_image
        self.nodes: dict[str, SwarmNode] = {}
        self.producer_hosts: list[str] = list(roles.producers)
        self.swarm: NodeSwarm | None = None
        self.kafka: KafkaSwarmStack | None = None
        self.remote_dir = f"/tmp/frida-stack-{run_id}"
        #: each broker's JMX exporter, or why there is none
        self._metrics_urls: dict[int, str] = {}
        self._metrics_off: str | None = "--frida-monitor=off"
        self.growth: list[dict[str, object]] = []
        #: every node of the run, for the report (grows with the run)
        self.hosts: list[str] = []
        #: nodes that did not answer at teardown (nothing can be removed there)
        self._unreachable: frozenset[str] = frozenset()

    def _prepare_all(self, hosts: list[str]) -> list[SwarmNode]:
        prepared = self.setup.prepare(hosts, self.roles.brokers)
        self.nodes.update(zip(hosts, prepared, strict=True))
        return prepared

    # -- start -------------------------------------------------------------------------

    def start(self, started: float) -> Cluster:
        brokers = self.settings.brokers
        check_swarm_runtime(self.settings)
        everyone = self.roles.everyone()
        self.hosts.extend(sorted((host_name(h) for h in everyone), key=node_order))
        nodes = self._prepare_all(everyone)
        manager = self.nodes[self.roles.brokers[0]]
        self.swarm = NodeSwarm(manager, owner_labels(self.run_id), owned_by_dead_run)
        self.notify(f"frida: forming a swarm: manager {manager.host}, {len(nodes) - 1} worker(s)")
        self.swarm.form([n for n in nodes if n is not manager])
        for i, host in enumerate(self.roles.brokers, 1):
            self.swarm.label(self.nodes[host], {"frida.broker": str(i)})
        self.swarm.label(self.nodes[self.roles.consumer], {"frida.consumer": "true"})
        for host in self.roles.producers:
            self.swarm.label(self.nodes[host], {"frida.producer": "true"})
        kafka = self.kafka = self._deploy(manager)
        kafka.start(START_TIMEOUT_S, progress=self.notify)
        stack = kafka.stack
        placement = {
            name: self._host_of(stack.tasks(name)[0].node_id)
            for name in [*broker_services(brokers), "consumer"]
        }
        bootstrap = ",".join(f"{host_name(h)}:{EXTERNAL_PORT}" for h in self.roles.brokers)
        wait_until_ready(bootstrap, brokers, START_TIMEOUT_S, kafka.first_dead)
        launcher = SwarmAgentLauncher(
            stack,
            self._docker_of,
            self._host_of,
            self.settings.producers_per_replica,
            internal_bootstrap(brokers),
            self.run_dir / "logs" / "agents",
            progress=self.notify,
            remote_clocks=True,
            make_room=self._make_room,
        )
        return Cluster(
            site=self.settings.site,
            bootstrap=bootstrap,
            brokers=[
                BrokerInfo(i, host_name(h), EXTERNAL_PORT) for i, h in enumerate(self.roles.brokers)
            ],
            kafka_version=self.settings.kafka_version,
            launcher=launcher,
            hosts=self.hosts,
            ready_seconds=time.monotonic() - started,
            details={
                "runtime": "swarm",
                "roles": self.roles.as_dict(),
                "swarm_manager": manager.host,
                "stack": stack.name,
                "placement": placement,
                "kafka_image": self.kafka_image,
                "agent_image": AGENT_IMAGE,
                "docker_servers": self.setup.docker_servers,
                "images_loaded": self.setup.images_loaded,
                "producers_per_replica": self.settings.producers_per_replica,
                "producers_per_node": self.settings.producers_per_node,
                "growth": self.growth,
                **(
                    {"clock_sync": self.setup.clock_sync}
                    if self.settings.clock_sync != "off"
                    else {}
                ),
            },
            health=lambda: cluster_problem(bootstrap, brokers, kafka.first_dead),
            monitor=self._monitor(stack),
            monitor_note=self._metrics_off or "--frida-monitor=off",
            shared_nodes=self.roles.shared_nodes(),
        )

    def _deploy(self, manager: SwarmNode) -> KafkaSwarmStack:
        """The stack files copied to the manager, for the recipe to deploy there."""
        brokers = self.settings.brokers
        metrics_ports = self._exporters(manager)
        files = run_stack_files(
            self.run_dir,
            self.run_id,
            brokers,
            self.settings.broker_config,
            producer_replicas_per_node=self._replicas_per_node(),
            metrics_ports=metrics_ports,
        )
        remote_files = []
        self.access.ssh.run(manager.host, f"mkdir -p {shlex.quote(self.remote_dir)}")
        for local in files:
            remote = f"{self.remote_dir}/{local.name}"
            self.access.ssh.run(
                manager.host, f"cat > {shlex.quote(remote)}", input_text=local.read_text()
            )
            remote_files.append(remote)
        env = stack_variables(
            self.kafka_image,
            AGENT_IMAGE,
            [
                BrokerPlacement(host_name(h), EXTERNAL_PORT, f"node.labels.frida.broker=={i}")
                for i, h in enumerate(self.roles.brokers, 1)
            ],
            producer_constraint="node.labels.frida.producer==true",
            consumer_constraint="node.labels.frida.consumer==true",
            metrics_ports=metrics_ports,
        )
        stack = StackDeployment(
            manager.docker,
            stack_name(self.run_id),
            remote_files,
            env,
            docker_for_node=self._docker_of,
            daemons=self._reachable_daemons,
        )
        return KafkaSwarmStack(stack, brokers, self.run_dir)

    def _exporters(self, manager: SwarmNode) -> list[int] | None:
        """The ports each broker's node publishes its exporter on (the JMX exporter
        frida/kafka carries), or None when the monitor is off or the image has none."""
        self._metrics_urls = {}
        if not self.settings.monitor:
            self._metrics_off = "--frida-monitor=off"
            return None
        self._metrics_off = no_exporter(manager.docker, self.kafka_image)
        if self._metrics_off is not None:
            return None
        ports = [NODE_METRICS_PORT + i for i in range(self.settings.brokers)]
        self._metrics_urls = {
            i: exporter.metrics_url(host_name(h), ports[i])
            for i, h in enumerate(self.roles.brokers)
        }
        return ports

    def _monitor(self, stack: StackDeployment) -> NodeBrokerMonitor | None:
        """Each broker's container (its cgroup) and node, read over the run's ssh."""
        if not self.settings.monitor:
            return None
        brokers = {}
        for i, host in enumerate(self.roles.brokers):
            label = f"com.docker.swarm.service.name={stack.service(f'kafka-{i + 1}')}"
            # the daemon's data root, asked once: the container's data is beneath it
            root = self.nodes[host].docker.info_value("DockerRootDir") or "/var/lib/docker"
            brokers[i] = NodeBroker(
                host,
                "docker inspect -f '{{.State.Pid}}' $(docker ps -q --filter"
                f" {shlex.quote('label=' + label)})",
                shlex.quote(root),
                container=True,
            )
        ssh = self.access.ssh
        return NodeBrokerMonitor(
            lambda host, command, timeout: ssh.run(host, command, timeout=timeout),
            brokers,
            self._metrics_urls,
            self._metrics_off,
        )

    def _docker_of(self, node_id: str) -> DockerCli:
        assert self.swarm is not None
        return self.swarm.member(node_id).docker

    def _host_of(self, node_id: str) -> str:
        assert self.swarm is not None
        return host_name(self.swarm.member(node_id).host)

    # -- growing -----------------------------------------------------------------------

    def _replicas_per_node(self) -> int | None:
        per_node = self.settings.producers_per_node
        return None if per_node is None else per_node // self.settings.producers_per_replica

    def _make_room(self, replicas: int) -> str | None:
        """Before a step: enough producer nodes for `replicas` replicas, adding nodes
        through the site when the run has too few; a note for the step when it grew."""
        per_node = self._replicas_per_node()
        if per_node is None:
            return None
        needed = math.ceil(replicas / per_node)
        missing = needed - len(self.producer_hosts)
        if missing <= 0:
            return None
        what = (
            f"{replicas} producer replica(s) at {per_node} per node"
            f" (--frida-producers-per-node={self.settings.producers_per_node}) need"
            f" {needed} producer node(s); the run has {len(self.producer_hosts)}"
        )
        if self.grow is None:
            raise RuntimeError(f"{what}, and this site cannot add nodes: list more hosts")
        started = time.monotonic()
        self.notify(f"frida: {what}: adding {missing} node(s)")
        hosts = self.grow(missing)
        assert self.swarm is not None
        added = self._prepare_all(hosts)
        self.swarm.join(added)
        for node in added:
            self.swarm.label(node, {"frida.producer": "true"})
        self.producer_hosts += hosts
        self.hosts[:] = sorted({*self.hosts, *map(host_name, hosts)}, key=node_order)
        took = time.monotonic() - started
        self.growth.append(
            {
                "nodes": [host_name(h) for h in hosts],
                "seconds": round(took, 1),
                "replicas": replicas,
            }
        )
        return (
            f"grew by {len(hosts)} producer node(s) ({', '.join(map(host_name, hosts))})"
            f" in {took:.0f}s"
        )

    # -- stop --------------------------------------------------------------------------

    def _reachable_daemons(self) -> list[DockerCli]:
        return [n.docker for n in self.nodes.values() if n.host not in self._unreachable]

    def stop(self) -> None:
        """Broker logs, the stack, the run's objects, the swarm, the copied stack files;
        every part runs even when an earlier one failed, and the first failure is raised."""
        if self.nodes:
            hosts = list(self.nodes)
            alive = on_each(hosts, self.access.ssh.reachable)
            self._unreachable = frozenset(h for h, ok in zip(hosts, alive, strict=True) if not ok)
            for host in sorted(self._unreachable):
                self.notify(
                    f"frida: {host} does not answer over ssh: nothing can be removed"
                    " there (its reservation ending will)"
                )
        errors: list[str] = []

        def attempt(what: str, work: Callable[[], object]) -> None:
            try:
                work()
            except Exception as exc:  # teardown goes on; the first failure is raised
                errors.append(f"{what}: {exc}")

        if self.kafka is not None and self.kafka.stack.deployed:
            self.notify(f"frida: removing stack {self.kafka.stack.name} from the nodes")
            attempt("stack removal", self.kafka.remove)
        for node in self.nodes.values():
            if node.host not in self._unreachable:
                attempt(
                    f"{node.host} cleanup",
                    functools.partial(remove_run_objects, node.docker, self.run_id),
                )
        if self.swarm is not None:
            self.notify(f"frida: {len(self.swarm.members)} node(s) leaving the swarm")
            problems = self.swarm.leave(lambda n: n.host not in self._unreachable)
            errors += [p for p in problems if "unreachable" not in p]
        manager = self.roles.brokers[0]
        if self.kafka is not None and manager not in self._unreachable:
            with contextlib.suppress(RemoteError):
                self.access.ssh.run(manager, f"rm -rf {shlex.quote(self.remote_dir)}")
        self.kafka = None
        self.swarm = None
        attempt("ptpd", self.setup.stop)
        self.access.ssh.close([*self.roles.everyone(), *self.producer_hosts])
        self.nodes.clear()
        if errors:
            raise DockerError(f"teardown on the nodes was incomplete: {errors[0]}")
