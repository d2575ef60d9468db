"""The `swarm` site: the kafka and load stacks on a Docker swarm, producers as replicas.

On an existing swarm (this daemon must be a manager) or on a one-node swarm made for the run
and left afterwards. The stacks are the files in `stacks/`, deployed unchanged with
`docker stack deploy`; what the run adds (owner labels, extra broker properties, ports)
comes in a generated override file and environment variables. The stack is removed at the
end of the session, and the swarm left if the run created it.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from pytest_frida.config import ClusterSettings
from pytest_frida.images import AGENT_IMAGE
from pytest_frida.images.checks import check_agent_image, choose_kafka_image, no_exporter
from pytest_frida.kafka import exporter
from pytest_frida.kafka.errors import KafkaSetupError
from pytest_frida.kafka.readiness import cluster_problem, wait_until_ready
from pytest_frida.runtimes.container_agents import SwarmAgentLauncher
from pytest_frida.runtimes.docker_cli import DockerCli
from pytest_frida.runtimes.docker_owner import sweep_orphans
from pytest_frida.runtimes.kafka_stack import (
    BrokerPlacement,
    broker_services,
    internal_bootstrap,
    stack_variables,
)
from pytest_frida.runtimes.kafka_swarm import KafkaSwarmStack, run_stack_files, stack_name
from pytest_frida.runtimes.monitor import ContainerPids, LocalBrokerMonitor, read_container
from pytest_frida.runtimes.ports import free_ports
from pytest_frida.runtimes.swarm import SwarmMembership
from pytest_frida.runtimes.swarm_stack import StackDeployment
from pytest_frida.sites.base import BrokerInfo, Cluster, Site
from pytest_frida.stacks import STACK_BROKER_COUNTS

START_TIMEOUT_S = 180.0


class SwarmSite(Site):
    name = "swarm"

    def __init__(self, settings: ClusterSettings, run_dir: Path, run_id: str) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.run_id = run_id
        self.docker: DockerCli | None = None
        self.membership: SwarmMembership | None = None
        self.kafka: KafkaSwarmStack | None = None
        self._nodes: dict[str, str] = {}
        self._metrics_urls: dict[int, str] = {}
        self._metrics_off: str | None = "--frida-monitor=off"
        self._container_pids = ContainerPids(self._broker_container, self._container_pid)

    def start(self) -> Cluster:
        started = time.monotonic()
        brokers = self.settings.brokers
        if brokers not in STACK_BROKER_COUNTS:
            raise KafkaSetupError(
                f"--frida-brokers={brokers}: the swarm stacks hold 1 or 3"
                " brokers (kafka.yml, kafka.yml + kafka-3.yml)"
            )
        docker = self.docker = DockerCli()
        server = docker.ping()
        kafka_image = choose_kafka_image(
            docker, self.settings.kafka_image, self.settings.kafka_version
        )
        check_agent_image(docker)
        self.membership = SwarmMembership(docker)
        self.membership.ensure()
        sweep_orphans(docker)
        picked = free_ports(2 * brokers)
        ports, metrics_ports = picked[:brokers], picked[brokers:]
        names = broker_services(brokers)
        monitor = self._monitor(docker, kafka_image, metrics_ports)
        published = metrics_ports if self._metrics_urls else None
        env = stack_variables(
            kafka_image,
            AGENT_IMAGE,
            [BrokerPlacement("127.0.0.1", p) for p in ports],
            metrics_ports=published,
        )
        files = run_stack_files(
            self.run_dir,
            self.run_id,
            brokers,
            self.settings.broker_config,
            metrics_ports=published,
        )
        stack = StackDeployment(docker, stack_name(self.run_id), files, env)
        kafka = self.kafka = KafkaSwarmStack(stack, brokers, self.run_dir)
        kafka.start(START_TIMEOUT_S)
        bootstrap = ",".join(f"127.0.0.1:{p}" for p in ports)
        wait_until_ready(bootstrap, brokers, START_TIMEOUT_S, kafka.first_dead)
        launcher = SwarmAgentLauncher(
            stack,
            lambda node: docker,
            self._node_name,
            self.settings.producers_per_replica,
            internal_bootstrap(brokers),
            self.run_dir / "logs" / "agents",
        )
        return Cluster(
            site=self.name,
            bootstrap=bootstrap,
            brokers=[BrokerInfo(i, "127.0.0.1", p) for i, p in enumerate(ports)],
            kafka_version=self.settings.kafka_version,
            launcher=launcher,
            hosts=sorted({self._node_name(t.node_id) for n in names for t in stack.tasks(n)}),
            ready_seconds=time.monotonic() - started,
            details={
                "kafka_image": kafka_image,
                "agent_image": AGENT_IMAGE,
                "docker_server": server,
                "stack": stack.name,
                "swarm_created_for_run": self.membership.created,
                "producers_per_replica": self.settings.producers_per_replica,
            },
            health=lambda: cluster_problem(bootstrap, brokers, kafka.first_dead),
            monitor=monitor,
            monitor_note=self._metrics_off or "--frida-monitor=off",
        )

    def _monitor(
        self, docker: DockerCli, kafka_image: str, metrics_ports: list[int]
    ) -> LocalBrokerMonitor | None:
        """On a swarm whose manager is this machine's daemon, the brokers' tasks run here:
        their cgroups and their exporters (published on `metrics_ports`) are read like the
        docker site's. Why a figure cannot be read is kept for the report."""
        self._metrics_urls = {}
        if not self.settings.monitor:
            self._metrics_off = "--frida-monitor=off"
            return None
        if not docker.is_local():
            self._metrics_off = (
                f"the swarm manager ({docker.where}) is not this machine,"
                " which reads the brokers' figures"
            )
            return None
        self._metrics_off = no_exporter(docker, kafka_image)
        if self._metrics_off is None:
            self._metrics_urls = {
                i: exporter.metrics_url("127.0.0.1", port) for i, port in enumerate(metrics_ports)
            }
        root = docker.info_value("DockerRootDir")
        return LocalBrokerMonitor(
            lambda: self._container_pids(range(self.settings.brokers)),
            self._metrics_urls,
            Path(root) if root and Path(root).exists() else None,
            self._metrics_off,
            read_broker=read_container,
        )

    def _broker_container(self, broker: int) -> str | None:
        """The container of broker `broker`'s running task, if it has one."""
        assert self.kafka is not None
        tasks = self.kafka.broker_tasks(broker)
        return tasks[0].container_id if tasks else None

    def _container_pid(self, container_id: str) -> int:
        assert self.docker is not None
        return self.docker.container_pid(container_id)

    def _node_name(self, node_id: str) -> str:
        if node_id not in self._nodes:
            assert self.docker is not None
            found = self.docker.inspect("node", [node_id]) if node_id else []
            desc = (found[0].get("Description") or {}) if found else {}
            self._nodes[node_id] = str(desc.get("Hostname") or socket.gethostname())
        return self._nodes[node_id]

    def stop(self) -> None:
        try:
            if self.kafka is not None:
                self.kafka.remove()
        finally:
            self.kafka = None
            if self.membership is not None:
                self.membership.release()
                self.membership = None
